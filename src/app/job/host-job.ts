/**
 * The host's render job: what the dashboard's Start runs. The members are the workers connected at
 * Start plus, with "compute in this tab", this tab as rank 0; Start waits for those still loading
 * the model or measuring their speed and leaves out any whose model failed to load. Then attempts
 * (render-attempt.ts): one on the mesh, or this tab alone; a member lost mid-job starts another
 * on the others from the latest step every rank finished, and the video is the same. The whole
 * video's latest state is also kept in this browser (render-persistence.ts), so a reloaded host
 * tab can resume the render (`start` with `resume`).
 * Every decision is the pure render machine's (render-machine.ts); this class feeds it events from
 * HostService, the attempt and the timers, and carries out the commands it returns.
 * Framework-free; components render `state` (replaced, never mutated).
 */
import { CONTROL_SILENCE_MS } from '../../net/control-link.js';
import { toErrorData } from '../../engine/worker/protocol.js';
import { chooseExportCodec } from '../media/index.js';
import type { HostService, RenderReport } from '../services/host-service.js';
import { EngineHandle, providersFromUrl } from './engine-handle.js';
import { EngineReadiness, toMemberEngine } from './engine-readiness.js';
import { describePreparing, hasFailed, readyAndLeftOut, stillPreparing, type JobMember, type PartitionChoice } from './job-members.js';
import { fetchPackageMemory, memberMemory, type PackageMemory } from './job-members-memory.js';
import { HOST_GRAPHS, RankRunner } from './rank-runner.js';
import { summarizePackage } from '../../model/package-summary.js';
import { checkPrompt } from '../../model/prompt-tokenizer.js';
import { RenderAttempt, THIS_TAB, type RenderPlan } from './render-attempt.js';
import { IDLE, isBusy, transition, type RenderCommand, type RenderEvent, type RenderMachine } from './render-machine.js';
import { KeeperChannel } from './checkpoint-keeper.js';
import { RenderPersistence, type ResumePoint } from './render-persistence.js';
import { fetchModelFacts, type ModelFacts, type RenderSettings } from './render-spec.js';
import type { RenderJobState, RenderVideo } from './render-view.js';
import type { SavedRender } from './saved-render.js';

/**
 * A job fails when its state has not changed for this long (no model-load progress, step, preview
 * or clip from any member): a wedged engine, not a long video. There is no limit on the total time.
 */
export const JOB_STALL_MS = 20 * 60_000;
/**
 * A mesh failure that may mean a lost member waits this long for a control link to close (a hung
 * tab's closes after CONTROL_SILENCE_MS) before it fails the job.
 */
const LOSS_GRACE_MS = CONTROL_SILENCE_MS + 5_000;

/** A fresh id for each render and each restart of it: messages of an earlier one are then ignored. */
function newRenderJobId(): number {
  return (crypto.getRandomValues(new Uint32Array(1))[0]! >>> 1) + 1;
}

export class HostRenderJob extends EventTarget {
  private machine: RenderMachine = IDLE;
  private facts: { url: string; facts: Promise<ModelFacts> } | null = null;
  private plan: RenderPlan | null = null;
  /** The package's memory plan inputs (fetched at Start; undefined: no caps). */
  private memory: PackageMemory | undefined;
  private attempt: RenderAttempt | null = null;
  /** The checkpoints the next attempt resumes from: the saved render's, or the previous attempt's. */
  private resumeSource: ResumePoint | null = null;
  private settle: ((error?: string) => void) | null = null;
  private lossTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the state last changed (JOB_STALL_MS). */
  private changedAt = performance.now();
  private readonly engine = new EngineHandle(providersFromUrl());
  /** This tab's engine, loaded and timed once "compute in this tab" is ticked (prepareHere). */
  readonly readiness = new EngineReadiness(this.engine, HOST_GRAPHS);
  /** This tab's rank when it computes: the same runner a worker tab uses. */
  private readonly runner = new RankRunner(this.engine, HOST_GRAPHS);
  private readonly persistence: RenderPersistence;
  /** The checkpoint worker, started with the first render. */
  private keeperChannel: KeeperChannel | null = null;
  private readonly keepers = () => (this.keeperChannel ??= new KeeperChannel(new Worker(new URL('./checkpoint.worker.ts', import.meta.url), { type: 'module', name: 'vi-checkpoints' })));
  private readonly tap = (peerId: string, m: RenderReport) => this.attempt?.onReport(peerId, m);
  private readonly onHostChange = () => this.onHostState();

  constructor(
    private readonly host: HostService,
    readonly packageUrl: string,
  ) {
    super();
    this.persistence = new RenderPersistence(packageUrl, {
      saved: (step) => this.dispatch({ type: 'saved', step }),
      problem: (problem) => this.dispatch({ type: 'problem', problem }),
    });
    host.renderReports = this.tap;
    host.addEventListener('change', this.onHostChange);
  }

  get state(): RenderJobState {
    return this.machine.view;
  }

  get busy(): boolean {
    return isBusy(this.machine.view);
  }

  /** Manifest defaults and tokenizer of the package (fetched once). */
  modelFacts(): Promise<ModelFacts> {
    if (!this.facts || this.facts.url !== this.packageUrl) this.facts = { url: this.packageUrl, facts: fetchModelFacts(this.packageUrl) };
    const f = this.facts.facts;
    f.catch(() => (this.facts = null));
    return f;
  }

  /** Loads the model in this tab and measures its speed, so Start finds it ready ("compute in this tab"). */
  prepareHere(): void {
    void this.readiness.prepare(this.packageUrl);
  }

  /**
   * Starts a render; resolves when the video is ready, rejects with the reason it is not.
   * `computeHere`: this tab renders a clip too (rank 0), or the whole video when no worker is
   * connected. `partition`: how to share the frames (default: by speed when all reported one).
   * `resume`: continue the unfinished render saved in this browser (its settings must be `settings`).
   */
  async start(settings: RenderSettings, options: { computeHere: boolean; partition?: PartitionChoice; resume?: SavedRender }): Promise<RenderVideo> {
    if (this.busy) throw new Error('a render is already running: cancel it first');
    if (this.state.video) URL.revokeObjectURL(this.state.video.url);
    this.attempt?.dispose();
    this.attempt = null;
    this.resumeSource = null;
    const done = new Promise<string | undefined>((resolve) => (this.settle = resolve));
    this.dispatch({ type: 'start', renderJobId: newRenderJobId(), totalFrames: settings.totalFrames, steps: settings.steps, computeHere: options.computeHere, cfgSplit: settings.cfgSplit === true, now: performance.now() });
    const watchdog = setInterval(() => {
      const idleMs = performance.now() - this.changedAt;
      if (idleMs > JOB_STALL_MS) this.fail(`nothing happened for ${Math.round(idleMs / 60_000)} minutes (no progress from any member)`);
    }, 10_000);
    try {
      const facts = await this.modelFacts();
      // Each worker's largest clip under its adapter's limits; a plan this build cannot size caps nobody.
      this.memory = await fetchPackageMemory(this.packageUrl).catch((e: unknown) => (console.warn('memory plan:', e), undefined));
      const unknown = [...new Set(settings.schedule.flatMap((e) => checkPrompt(facts.tokenizer, e.prompt).unknownWords))];
      if (unknown.length) throw new Error(`words the model does not know: ${unknown.join(', ')}`);
      const frame = summarizePackage(facts.manifest);
      const size = { width: frame.width * settings.exportScale, height: frame.height * settings.exportScale, fps: facts.manifest.frame_rate };
      const codec = await chooseExportCodec(size);
      this.resumeSource = options.resume ? await this.persistence.resumePoint(options.resume, facts, settings, codec, this.keepers()) : null;
      this.persistence.begin(settings, facts, options.resume?.step ?? 0);
      // The prompts are encoded here once, for every rank of every attempt: no other tab loads the text encoder.
      const promptEmbeddings = await this.engine.encodePrompts(this.packageUrl, { entries: settings.schedule });
      this.plan = { facts, settings, codec, choice: options.partition ?? 'auto', promptEmbeddings };
      if (options.computeHere) this.prepareHere();
      const members = await this.readyMembers(options.computeHere);
      if (members === null) throw new Error(this.state.error ?? 'cancelled'); // cancelled while waiting
      this.dispatch({ type: 'members-ready', ...members, resumeStep: this.resumeSource?.step ?? null, resumedSaved: options.resume !== undefined });
      const error = await done;
      if (error !== undefined) throw new Error(error);
      return this.state.video!;
    } catch (e) {
      const message = toErrorData(e).message;
      this.fail(message);
      throw e instanceof Error ? e : new Error(message);
    } finally {
      clearInterval(watchdog);
      this.disarmLossTimer();
      this.settle = null;
    }
  }

  cancel(reason = 'cancelled on the host'): void {
    this.dispatch({ type: 'cancel', reason });
  }

  dispose(): void {
    if (this.host.renderReports === this.tap) this.host.renderReports = null;
    this.host.removeEventListener('change', this.onHostChange);
  }

  // ---------------------------------------------------------------- the machine

  private dispatch(e: RenderEvent): void {
    const { state, commands } = transition(this.machine, e);
    if (state !== this.machine) {
      this.machine = state;
      this.changedAt = performance.now(); // progress, for the stall watchdog
      this.dispatchEvent(new Event('change'));
    }
    for (const c of commands) this.execute(c);
  }

  private fail(error: string): void {
    this.dispatch({ type: 'fail', error, now: performance.now() });
  }

  private execute(c: RenderCommand): void {
    switch (c.kind) {
      case 'begin-attempt':
        return void this.beginAttempt(c.renderJobId, c.mode, c.members, c.resumeStep);
      case 'stop-attempt':
        return this.attempt?.stop(c.how, c.reason, c.hostComputes);
      case 'mux': {
        const attempt = this.attempt!;
        return void attempt.mux(this.state.totalFrames ?? 0).then(
          (video) => this.dispatch({ type: 'video', video, now: performance.now() }),
          (e: unknown) => this.fail(toErrorData(e).message),
        );
      }
      case 'arm-loss-timer':
        this.disarmLossTimer();
        this.lossTimer = setTimeout(() => this.dispatch({ type: 'loss-timeout' }), LOSS_GRACE_MS);
        return;
      case 'disarm-loss-timer':
        return this.disarmLossTimer();
      case 'end-mesh-job':
        return this.attempt?.endMeshJob();
      case 'note-speeds':
        return this.attempt?.noteSpeeds();
      case 'discard-saved':
        return this.persistence.discard();
      case 'settle':
        return this.settle?.(c.error);
    }
  }

  /** The next attempt, once this tab's previous run has ended (its engine renders one job at a time). */
  private async beginAttempt(renderJobId: number, mode: 'mesh' | 'alone', members: readonly JobMember[], resumeStep: number | null): Promise<void> {
    const previous = this.attempt;
    const source = previous ? previous.resumePoint() : this.resumeSource;
    const resumeFrom = resumeStep !== null && source ? { keeper: source.keeper, step: resumeStep } : null;
    const deps = { host: this.host, runner: this.runner, readiness: this.readiness, persistence: this.persistence, keepers: this.keepers, packageUrl: this.packageUrl, dispatch: (e: RenderEvent) => this.dispatch(e), view: () => this.state };
    const attempt = new RenderAttempt(deps, renderJobId, mode, members, this.plan!);
    this.attempt = attempt;
    try {
      await previous?.ownRun;
      if (this.attempt !== attempt || !this.busy) return;
      await attempt.start(resumeFrom);
    } catch (e) {
      if (this.attempt === attempt) this.fail(toErrorData(e).message);
    } finally {
      // Re-cut into this attempt's own store by now, or no longer needed.
      source?.keeper.close();
      previous?.dispose();
    }
  }

  private disarmLossTimer(): void {
    if (this.lossTimer !== null) clearTimeout(this.lossTimer);
    this.lossTimer = null;
  }

  /** HostService changed: members of the running mesh may be gone, or its job failed. */
  private onHostState(): void {
    const job = this.host.state.job;
    const attempt = this.attempt;
    if (!attempt || !job || job.meshJobId !== attempt.jobId || this.state.mode !== 'mesh') return;
    const gone = this.host.state.workers.filter((w) => job.roster.includes(w.peerId) && !w.controlOpen);
    const connected = this.host.state.workers.filter((w) => w.controlOpen).map((w) => w.peerId);
    const renderJobId = attempt.renderJobId;
    if (gone.length) {
      const goneMembers = gone.map((w) => ({ peerId: w.peerId, name: w.name, reason: w.lostReason ?? 'its control link closed' }));
      this.dispatch({ type: 'members-gone', renderJobId, gone: goneMembers, connected, resumableStep: attempt.resumePoint()?.step ?? null, freshId: newRenderJobId() });
    }
    if (job.status === 'failed') this.dispatch({ type: 'attempt-failed', renderJobId, error: job.error ?? 'the job failed on a worker', code: job.errorCode, anyoneGone: gone.length > 0 });
  }

  // ---------------------------------------------------------------- members

  /** The members at Start in rank order (this tab first when it computes), with their engines now. */
  private members(computeHere: boolean, workerIds: readonly string[]): JobMember[] {
    const here = toMemberEngine(this.readiness.state);
    const self: JobMember[] = computeHere ? [{ peerId: null, name: THIS_TAB, ...(here && { engine: here }) }] : [];
    const workers = this.host.readyWorkers().filter((w) => workerIds.includes(w.peerId));
    return [...self, ...workers.map((w): JobMember => ({ peerId: w.peerId, name: w.name, ...(w.engine && { engine: w.engine }), ...memberMemory(this.memory, w.adapter) }))];
  }

  /**
   * Waits until every member connected at Start is ready or failed (Start never waits for a load
   * that already finished); resolves with the ready ones and why the others were left out, or null
   * when the job was cancelled. Workers that left meanwhile are dropped; this tab failing to load
   * fails the job.
   */
  private readyMembers(computeHere: boolean): Promise<{ ready: JobMember[]; leftOut: string[] } | null> {
    const workerIds = this.host.readyWorkers().map((w) => w.peerId);
    return new Promise((resolve, reject) => {
      const stop = () => {
        this.host.removeEventListener('change', check);
        this.readiness.removeEventListener('change', check);
        this.removeEventListener('change', check);
      };
      const check = () => {
        if (this.state.phase !== 'preparing') return (stop(), resolve(null));
        const members = this.members(computeHere, workerIds);
        const waiting = stillPreparing(members);
        if (waiting.length) return this.dispatch({ type: 'waiting', waitingFor: waiting.map(describePreparing) });
        stop();
        const self = members.find((m) => m.peerId === null);
        if (self && hasFailed(self)) return reject(new Error(`this tab could not load the model: ${self.engine?.error ?? 'unknown error'}`));
        resolve(readyAndLeftOut(members));
      };
      this.host.addEventListener('change', check);
      this.readiness.addEventListener('change', check);
      this.addEventListener('change', check);
      check();
    });
  }
}
