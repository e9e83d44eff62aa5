/**
 * Host side of a render job. First the members: the workers connected at Start plus, with "compute
 * in this tab", the host itself as rank 0; Start waits for those still loading the model or
 * measuring their speed (the state says who), and leaves out any whose model failed to load.
 *
 * Mesh mode (at least one worker): check the settings, choose the export codec, split the frames
 * over the members (the engine's partitionFrames, weighted by measured speed or even), start the
 * job through HostService (workers form the mesh and claim their ranks; the host joins it when it
 * computes), follow the step reports (progress, x0 previews, compute vs network time, bytes),
 * collect every rank's encoded clip (workers' in chunks, the host's own directly) and mux them into
 * one MP4/WebM with mediabunny. One-tab mode (the host computing, no workers): this tab's engine
 * renders the whole video (whole-graph UNet), encodes and muxes it.
 * A member lost mid-job (its tab closed, crashed or hung) does not end the job: every rank's
 * checkpoint comes to the host after each step (CheckpointStore), and the job resumes on the others
 * from the latest step all ranks finished, re-cut for a new partition (any partition gives the same
 * video; with no worker left and "compute in this tab", this tab renders the rest alone), or from
 * step 0 when no step had finished. The state says who was lost and when (`restarts`). The whole
 * video's latest checkpoint is also saved in this browser after every step (saved-render.ts), so a
 * reloaded or crashed host tab can resume the render (`start` with `resume`).
 * Framework-free; components render `state` (replaced, never mutated).
 */
import type { StepProgress } from '../../engine/denoise.js';
import { CONTROL_SILENCE_MS, toErrorReport, type ControlMessage, type RenderTask } from '../../net/control.js';
import type { CheckpointEvent } from '../../engine/worker/protocol.js';
import { chooseExportCodec, encodeClip, muxClips, parseEncodedClip, type EncodedClip, type ExportCodec } from '../media/index.js';
import type { HostService } from '../services/host-service.js';
import { CheckpointStore } from './checkpoint-store.js';
import { ChunkedBytes, toBase64Pieces } from './chunked-bytes.js';
import { EngineHandle, providersFromUrl, type UnetGraph } from './engine-handle.js';
import { EngineReadiness, toMemberEngine } from './engine-readiness.js';
import { LOSS_CODES, describePreparing, hasFailed, isReady, jobSpeed, lostBeforeDelivery, partitionWeights, stillPreparing, survivors, type JobMember, type PartitionChoice } from './job-members.js';
import { checkpointStepProblem, clipRangeProblem, previewFrame, stepReportProblem } from './rank-reports.js';
import { discardUnfinishedRender, modelIdentity, SAVED_RENDER_SCHEMA, saveUnfinishedRender, type SavedRender } from './saved-render.js';
import { buildRenderTask, fetchModelFacts, jobParamsOf, latentValuesPerFrame, rgbToRgbaFrames, type ModelFacts, type RenderSettings } from './render-spec.js';

/** The host may compute a clip of a mesh (segmented) or the whole video alone (whole graph). */
export const HOST_GRAPHS: readonly UnetGraph[] = ['segmented', 'whole'];
export const THIS_TAB = 'this tab (host)';

export type RenderPhase = 'idle' | 'preparing' | 'running' | 'muxing' | 'done' | 'failed' | 'cancelled';

export interface RankView {
  readonly rank: number;
  readonly name: string;
  readonly range: { readonly start: number; readonly end: number };
  readonly provider?: string;
  readonly fallbackReason?: string;
  /** Measured UNet speed (frames/s) the partition was weighted by, when it was. */
  readonly framesPerSecond?: number;
  readonly stepsDone: number;
  readonly lastStepMs?: number;
  readonly preview?: { readonly globalFrame: number; readonly width: number; readonly height: number; readonly rgba: Uint8ClampedArray };
  readonly clipReceived: boolean;
}

/** One denoising step over all ranks: mean per rank. */
export interface StepStat {
  readonly step: number;
  readonly wallMs: number;
  readonly computeMs: number;
  readonly networkWaitMs: number;
  readonly bytesSentPerTab: number;
  /** Checkpoint bytes a tab sent the host for this step (control channel, base64; the host's own rank sends none). */
  readonly checkpointBytesPerTab: number;
}

export interface RenderVideo {
  readonly url: string;
  readonly fileName: string;
  readonly mimeType: string;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
  readonly codecString: string;
}

export interface RenderJobState {
  readonly phase: RenderPhase;
  readonly mode?: 'mesh' | 'alone';
  readonly renderJobId?: number;
  readonly totalFrames?: number;
  readonly steps?: number;
  readonly ranks: readonly RankView[];
  /** While Start waits: the members still loading the model or measuring, in words. */
  readonly waitingFor?: readonly string[];
  /** Members left out because their model failed to load, with the reason. */
  readonly leftOut?: readonly string[];
  /** How the frames were shared. */
  readonly partitionBy?: 'speed' | 'even';
  readonly stepStats: readonly StepStat[];
  readonly startedAtMs?: number;
  readonly etaMs?: number;
  readonly elapsedMs?: number;
  readonly video?: RenderVideo;
  readonly error?: string;
  /** Members lost mid-job, each a restart on the others: "w1 (connection closed) lost at step 3/10; resumed after step 3 on 2 members". */
  readonly restarts?: readonly string[];
  /** The last step whose whole-video state is saved in this browser (a reloaded host tab can resume from it). */
  readonly savedStep?: number;
  /** Checkpoints refused (malformed, or not the sender's): the job goes on, but cannot resume from them. */
  readonly checkpointProblems?: readonly string[];
  /** After a failure that may mean a lost member: waiting for the control links to say who (CONTROL_SILENCE_MS). */
  readonly awaitingLoss?: string;
}

/**
 * A job fails when its state has not changed for this long (no model-load progress, step, preview
 * or clip from any member): a wedged engine, not a long video. There is no limit on the total time.
 */
export const JOB_STALL_MS = 20 * 60_000;
/**
 * A mesh failure that may mean a lost member (LOSS_CODES) waits this long for a control link to
 * close (a hung tab's after CONTROL_SILENCE_MS) before it fails the job.
 */
const LOSS_GRACE_MS = CONTROL_SILENCE_MS + 5_000;

/** A fresh id for each render and each restart of it: messages of an earlier one are then ignored. */
function newRenderJobId(): number {
  return (crypto.getRandomValues(new Uint32Array(1))[0]! >>> 1) + 1;
}

/** Where a restarted job resumes: after `step`, from the checkpoints in `store`. */
interface ResumePoint {
  readonly store: CheckpointStore;
  readonly step: number;
}

/** What a render was started with; a restart after a lost member reuses it. */
interface RenderPlan {
  readonly facts: ModelFacts;
  readonly settings: RenderSettings;
  readonly codec: ExportCodec;
  readonly choice: PartitionChoice;
  members: readonly JobMember[];
}

export class HostRenderJob extends EventTarget {
  private _state: RenderJobState = { phase: 'idle', ranks: [], stepStats: [] };
  private facts: { url: string; facts: Promise<ModelFacts> } | null = null;
  private readonly chunks = new Map<number, ChunkedBytes>();
  /** Every rank's latest checkpoints (mesh mode), to resume after a lost member. */
  private checkpoints: CheckpointStore | null = null;
  /** Checkpoint characters received per step and rank (the cost of resuming, in the step stats). */
  private readonly checkpointChars = new Map<number, Map<number, number>>();
  /** What the saved copy of this render names (saved-render.ts), and the last step saved. */
  private saveAs: { settings: RenderSettings; model: string } | null = null;
  private savedStep = 0;
  /** Saves and discards of the saved copy, in order. */
  private saving: Promise<void> = Promise.resolve();
  /** Every rank's encoded clip once it is complete and checked: the host's own, and the workers' as parsed from their chunks. */
  private readonly clips = new Map<number, EncodedClip>();
  private hostComputes = false;
  private readonly perStep = new Map<number, Map<number, StepProgress | StepReport>>();
  private controlJobId: number | null = null;
  private settle: ((error?: string) => void) | null = null;
  private plan: RenderPlan | null = null;
  /** This tab's clip render as rank 0, so a restart can wait for the cancelled one to end. */
  private ownRender: Promise<void> = Promise.resolve();
  private lossGrace: ReturnType<typeof setTimeout> | null = null;
  /** When the state last changed (JOB_STALL_MS). */
  private changedAt = performance.now();
  private readonly engine = new EngineHandle(providersFromUrl());
  /** This tab's engine, loaded and timed once "compute in this tab" is ticked (prepareHere). */
  readonly readiness = new EngineReadiness(this.engine, HOST_GRAPHS);
  private readonly tap = (peerId: string, m: ControlMessage) => this.onControl(peerId, m);
  private readonly onHostChange = () => this.onHostState();

  constructor(
    private readonly host: HostService,
    readonly packageUrl: string,
  ) {
    super();
    host.controlTaps.add(this.tap);
    host.addEventListener('change', this.onHostChange);
  }

  get state(): RenderJobState {
    return this._state;
  }

  get busy(): boolean {
    return ['preparing', 'running', 'muxing'].includes(this._state.phase);
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
    if (this._state.video) URL.revokeObjectURL(this._state.video.url);
    this.chunks.clear();
    this.clips.clear();
    this.perStep.clear();
    this.checkpoints = null;
    this.checkpointChars.clear();
    this.saveAs = null;
    this.savedStep = options.resume?.step ?? 0;
    this.controlJobId = null;
    this.plan = null;
    this.hostComputes = options.computeHere;
    const renderJobId = newRenderJobId();
    this.replace({ phase: 'preparing', renderJobId, totalFrames: settings.totalFrames, steps: settings.steps, ranks: [], stepStats: [], startedAtMs: performance.now() });
    const done = new Promise<string | undefined>((resolve) => (this.settle = resolve));
    const watchdog = setInterval(() => {
      const idleMs = performance.now() - this.changedAt;
      if (idleMs > JOB_STALL_MS) this.fail(`nothing happened for ${Math.round(idleMs / 60_000)} minutes (no progress from any member)`);
    }, 10_000);
    try {
      const facts = await this.modelFacts();
      const unknown = [...new Set(settings.schedule.flatMap((e) => facts.tokenizer.unknownWords(e.prompt)))];
      if (unknown.length) throw new Error(`words the model does not know: ${unknown.join(', ')}`);
      const dec = facts.manifest.latent.decode;
      if (dec.kind !== 'pixel_shuffle') throw new Error(`${facts.manifest.name} decodes with '${dec.kind}'; only pixel_shuffle packages are supported`);
      const size = { width: facts.manifest.latent.width * dec.factor * settings.exportScale, height: facts.manifest.latent.height * dec.factor * settings.exportScale, fps: facts.manifest.frame_rate };
      const codec = await chooseExportCodec(size);
      const resumeFrom = options.resume ? await this.savedResumePoint(options.resume, facts, settings, codec) : null;
      this.saveAs = { settings, model: modelIdentity(facts.manifest) };
      if (options.computeHere) this.prepareHere();
      const members = await this.readyMembers(options.computeHere);
      if (members === null) throw new Error(this._state.error ?? 'cancelled'); // cancelled while waiting
      const workers = members.filter((m) => m.peerId !== null);
      if (resumeFrom) this.replace({ ...this._state, restarts: [`resumed the unfinished render saved in this browser after step ${resumeFrom.step}/${settings.steps}`] });
      if (workers.length === 0 && options.computeHere) void this.renderHere(renderJobId, facts, settings, codec, resumeFrom);
      else if (workers.length === 0 && this._state.leftOut?.length) throw new Error('no worker could load the model (see "left out"); fix or close those tabs, or tick "compute in this tab"');
      else if (workers.length === 0) throw new Error('no workers are connected: open the join link in worker tabs, or tick "compute in this tab"');
      else {
        this.plan = { facts, settings, codec, choice: options.partition ?? 'auto', members };
        await this.startMesh(renderJobId, this.plan, resumeFrom);
      }
      const error = await done;
      if (error !== undefined) throw new Error(error);
      return this._state.video!;
    } catch (e) {
      const message = toErrorReport(e).message;
      this.fail(message);
      throw e instanceof Error ? e : new Error(message);
    } finally {
      clearInterval(watchdog);
      this.clearLossGrace();
      this.settle = null;
    }
  }

  cancel(reason = 'cancelled on the host'): void {
    if (!this.busy) return;
    this.forgetSaved(); // the user chose to stop: nothing to offer after a reload
    if (this._state.mode === 'mesh') this.host.cancel(reason);
    if (this.hostComputes && this._state.mode !== undefined) void this.engine.engine.cancel(reason).catch(() => undefined);
    this.replace({ ...this._state, phase: 'cancelled', error: reason });
    this.settle?.(`cancelled: ${reason}`);
  }

  dispose(): void {
    this.host.controlTaps.delete(this.tap);
    this.host.removeEventListener('change', this.onHostChange);
  }

  // ---------------------------------------------------------------- members

  /** The members at Start in rank order (this tab first when it computes), with their engines now. */
  private members(computeHere: boolean, workerIds: readonly string[]): JobMember[] {
    const here = toMemberEngine(this.readiness.state);
    const self: JobMember[] = computeHere ? [{ peerId: null, name: THIS_TAB, ...(here && { engine: here }) }] : [];
    const workers = this.host.readyWorkers().filter((w) => workerIds.includes(w.peerId));
    return [...self, ...workers.map((w): JobMember => ({ peerId: w.peerId, name: w.name, ...(w.engine && { engine: w.engine }) }))];
  }

  /**
   * Waits until every member connected at Start is ready or failed (Start never waits for a load
   * that already finished); resolves with the ready ones, or null when the job was cancelled.
   * Workers that left meanwhile are dropped; this tab failing to load fails the job.
   */
  private readyMembers(computeHere: boolean): Promise<JobMember[] | null> {
    const workerIds = this.host.readyWorkers().map((w) => w.peerId);
    return new Promise((resolve, reject) => {
      const stop = () => {
        this.host.removeEventListener('change', check);
        this.readiness.removeEventListener('change', check);
        this.removeEventListener('change', check);
      };
      const check = () => {
        if (this._state.phase !== 'preparing') return (stop(), resolve(null));
        const members = this.members(computeHere, workerIds);
        const waiting = stillPreparing(members);
        if (waiting.length) {
          const waitingFor = waiting.map(describePreparing);
          if (waitingFor.join() !== this._state.waitingFor?.join()) this.replace({ ...this._state, waitingFor });
          return;
        }
        stop();
        const self = members.find((m) => m.peerId === null);
        if (self && hasFailed(self)) return reject(new Error(`this tab could not load the model: ${self.engine?.error ?? 'unknown error'}`));
        const leftOut = members.filter(hasFailed).map((m) => `${m.name}: ${m.engine?.error ?? 'the model did not load'}`);
        this.replace({ ...this._state, waitingFor: undefined, ...(leftOut.length && { leftOut }) });
        resolve(members.filter(isReady));
      };
      this.host.addEventListener('change', check);
      this.readiness.addEventListener('change', check);
      this.addEventListener('change', check);
      check();
    });
  }

  // ---------------------------------------------------------------- mesh mode

  private async startMesh(renderJobId: number, plan: RenderPlan, resumeFrom: ResumePoint | null = null): Promise<void> {
    const { facts, settings, codec, members } = plan;
    const { by, weights } = partitionWeights(plan.choice, members);
    const built = buildRenderTask(renderJobId, this.packageUrl, facts, settings, codec, weights);
    const ranges = built.job.partition.ranges;
    // Resuming: the ranks' common checkpoints, re-cut for the new partition, one state per rank.
    const resume = resumeFrom ? resumeFrom.store.recut(resumeFrom.step, ranges) : null;
    const task: RenderTask = resumeFrom ? { ...built, resumeFromStep: resumeFrom.step } : built;
    this.checkpoints = new CheckpointStore(jobParamsOf(task), ranges, latentValuesPerFrame(facts));
    resume?.forEach((bytes, rank) => this.checkpoints!.add(rank, resumeFrom!.step, bytes)); // a second loss before the next step resumes here too
    const hostComputes = members[0]?.peerId === null;
    this.replace({
      ...this._state, mode: 'mesh', phase: 'running', partitionBy: by,
      ranks: members.map((m, rank) => ({
        rank, name: m.name, range: ranges[rank]!, stepsDone: resumeFrom?.step ?? 0, clipReceived: false,
        ...(by === 'speed' && { framesPerSecond: m.engine!.speed!.framesPerSecond }),
      })),
    });
    const workers = members.flatMap((m) => (m.peerId === null ? [] : [m.peerId]));
    const started = this.host.startJob(task, undefined, { workers, hostComputes }); // sends the start at once
    // Each worker's resume state follows its start on the same ordered control channel (rank = member index).
    members.forEach((m, rank) => {
      if (m.peerId === null || !resume) return;
      for (const piece of toBase64Pieces(resume[rank]!)) this.host.sendTo(m.peerId, { type: 'resume-chunk', jobId: renderJobId, rank, ...piece });
    });
    const job = await started;
    // Failed or cancelled while the members joined: the job is ended everywhere (its members told to cancel).
    if (!this.isCurrent(renderJobId)) return this.host.finishJob(job.jobId, this._state.error ?? 'the render ended while its members joined');
    this.controlJobId = job.jobId;
    if (job.status === 'failed') throw new Error(job.error ?? 'the workers did not start');
    this.onHostState();
    if (hostComputes) this.ownRender = this.renderOwnClip(task, resume?.[0]);
  }

  /** The host's clip as rank 0 of the mesh: the same segmented render a worker tab runs. */
  private async renderOwnClip(task: RenderTask, resume?: Uint8Array): Promise<void> {
    try {
      const mesh = this.host.mesh;
      if (!mesh) throw new Error('this tab is not in the job\'s mesh');
      const rank = mesh.rank;
      const { info, fallbackReason } = await this.engine.load(this.packageUrl, HOST_GRAPHS);
      this.patchRank(rank, { provider: info.provider, fallbackReason });
      const current = () => this.isCurrent(task.job.jobId);
      const onCheckpoint = (c: CheckpointEvent) => {
        if (current()) this.keepCheckpoint(rank, () => this.checkpoints?.add(rank, c.nextStep, c.bytes));
      };
      const input = { job: jobParamsOf(task), mode: 'collective' as const, rank, worldSize: mesh.worldSize, warmUp: true, checkpoints: true, ...(resume && { resume }) };
      const out = await this.engine.engine.render(input, (p) => current() && this.onOwnStep(rank, p), mesh, { transferResults: true, onCheckpoint });
      if (!current()) return;
      const f = out.frames;
      const clip = await encodeClip(rgbToRgbaFrames(f.data, f.frames, f.width, f.height), {
        width: f.width, height: f.height, fps: task.job.fps, codec: task.export.codec, scale: task.export.scale, firstFrameIndex: out.range.start,
      });
      if (!current()) return;
      this.clips.set(rank, clip);
      this.onClipComplete(rank);
    } catch (e) {
      // A lost peer fails this tab's collective calls too: onHostState decides (restart or fail).
      const { code, message } = toErrorReport(e);
      if (!this.isCurrent(task.job.jobId)) return;
      if (LOSS_CODES.has(code)) this.suspectLoss(`this tab (rank 0): ${message}`);
      else this.fail(`this tab (rank 0): ${message}`);
    }
  }

  /** Whether render `renderJobId` is still the one running (not cancelled, failed or replaced by a restart). */
  private isCurrent(renderJobId: number): boolean {
    return this._state.phase === 'running' && this._state.renderJobId === renderJobId;
  }

  private onOwnStep(rank: number, p: StepProgress): void {
    const rgb = p.preview.rgb;
    this.patchRank(rank, { stepsDone: p.step + 1, lastStepMs: p.stepMs, preview: { globalFrame: p.preview.globalFrames[0] ?? 0, width: rgb.width, height: rgb.height, rgba: rgbToRgbaFrames(rgb.data, 1, rgb.width, rgb.height)[0]! } });
    this.recordStep(p.step, rank, p);
  }

  private onClipComplete(rank: number): void {
    this.patchRank(rank, { clipReceived: true });
    if (this._state.phase === 'running' && this._state.ranks.every((r) => r.clipReceived)) void this.muxMesh();
  }

  /**
   * A worker's report of the running render. HostService passed on only those of the current job
   * from its members at their own rank; the checks here are the render's own.
   */
  private onControl(peerId: string, m: ControlMessage): void {
    const s = this._state;
    if (s.mode !== 'mesh' || s.phase !== 'running' || !('jobId' in m) || m.jobId !== s.renderJobId) return;
    const job = this.host.state.job;
    const rank = job?.roster.indexOf(peerId) ?? -1;
    if (!('rank' in m) || m.rank !== rank) return; // a worker speaks only for its own rank
    const steps = s.steps ?? 0;
    if (m.type === 'engine') this.patchRank(rank, { provider: m.provider, fallbackReason: m.fallbackReason });
    else if (m.type === 'step') this.onStepReport(peerId, rank, m, steps);
    else if (m.type === 'checkpoint-chunk') {
      const problem = checkpointStepProblem(m.nextStep, steps);
      if (problem) return this.host.noteRefused(peerId, m.type, problem);
      const row = this.checkpointChars.get(m.nextStep - 1) ?? new Map<number, number>();
      row.set(rank, (row.get(rank) ?? 0) + m.base64.length);
      this.checkpointChars.set(m.nextStep - 1, row);
      this.keepCheckpoint(rank, () => this.checkpoints?.addChunk(rank, m.nextStep, m.index, m.count, m.base64));
    } else if (m.type === 'clip-chunk') this.onClipChunk(peerId, rank, m);
  }

  private onStepReport(peerId: string, rank: number, m: Extract<ControlMessage, { type: 'step' }>, steps: number): void {
    const problem = stepReportProblem(m, steps);
    if (problem) return this.host.noteRefused(peerId, m.type, problem);
    const preview = m.preview && previewFrame(m.preview);
    if (m.preview && !preview) this.host.noteRefused(peerId, m.type, `its preview is not ${m.preview.width}×${m.preview.height} RGB pixels`);
    this.patchRank(rank, { stepsDone: m.step + 1, lastStepMs: m.stepMs, ...(preview && { preview }) });
    this.recordStep(m.step, rank, { stepMs: m.stepMs, computeMs: m.computeMs, networkWaitMs: m.networkWaitMs, bytesSent: m.bytesSent });
  }

  /** A piece of a worker's encoded clip; the whole clip is parsed and checked against the rank's frames once it is in. */
  private onClipChunk(peerId: string, rank: number, m: Extract<ControlMessage, { type: 'clip-chunk' }>): void {
    if (this.clips.has(rank)) return this.host.noteRefused(peerId, m.type, `rank ${rank}'s clip is complete already`);
    const pieces = this.chunks.get(rank) ?? new ChunkedBytes(m.count);
    this.chunks.set(rank, pieces);
    try {
      if (!pieces.add(m.index, m.count, m.base64)) return;
      const clip = parseEncodedClip(pieces.bytes(), `rank ${rank}'s clip`);
      const problem = clipRangeProblem(clip, this._state.ranks[rank]!.range);
      if (problem) throw new Error(problem);
      this.chunks.delete(rank);
      this.clips.set(rank, clip);
      this.onClipComplete(rank);
    } catch (e) {
      this.fail(`rank ${rank}'s clip: ${toErrorReport(e).message}`);
    }
  }

  /** Stores a checkpoint; one that is refused is noted (the job goes on, it just cannot resume from it). */
  private keepCheckpoint(rank: number, add: () => void): void {
    try {
      add();
      const store = this.checkpoints;
      const step = store?.latestCommonStep() ?? null;
      const total = this._state.totalFrames ?? 0;
      if (store && step !== null) this.saveProgress(step, () => store.recut(step, [{ start: 0, end: total }])[0]!);
    } catch (e) {
      const problem = `rank ${rank}: ${toErrorReport(e).message}`;
      this.replace({ ...this._state, checkpointProblems: [...(this._state.checkpointProblems ?? []), problem].slice(-5) });
    }
  }

  private async muxMesh(): Promise<void> {
    this.replace({ ...this._state, phase: 'muxing' });
    try {
      const clips: EncodedClip[] = this._state.ranks.map((r) => this.clips.get(r.rank)!);
      await this.finish(clips);
      if (this.controlJobId !== null) this.host.finishJob(this.controlJobId);
      this.noteJobSpeeds();
    } catch (e) {
      this.fail(toErrorReport(e).message);
    }
  }

  private onHostState(): void {
    const job = this.host.state.job;
    if (this._state.mode !== 'mesh' || this._state.phase !== 'running' || !job || job.jobId !== this.controlJobId) return;
    const gone = this.host.state.workers.filter((w) => job.roster.includes(w.peerId) && !w.controlOpen);
    const delivered = (peerId: string) => this._state.ranks[job.roster.indexOf(peerId)]?.clipReceived === true;
    const lost = lostBeforeDelivery(gone, delivered);
    if (lost.length) return this.restartWithout(lost.map((w) => ({ peerId: w.peerId, name: w.name, reason: w.lostReason ?? 'its control link closed' })));
    if (gone.length && this.lossGrace !== null) {
      // The peer the others lost had delivered its clip already: the job goes on.
      this.clearLossGrace();
      this.replace({ ...this._state, awaitingLoss: undefined });
    }
    if (job.status !== 'failed') return;
    const error = job.error ?? 'the job failed on a worker';
    if (!LOSS_CODES.has(job.errorCode ?? '')) this.fail(error);
    else if (gone.length === 0) this.suspectLoss(error);
  }

  /** A peer was lost or went silent: wait for the control links to say who (then restartWithout), else fail. */
  private suspectLoss(error: string): void {
    if (this.lossGrace !== null) return;
    this.lossGrace = setTimeout(() => this.fail(`${error} (no member's control link closed within ${LOSS_GRACE_MS / 1000} s)`), LOSS_GRACE_MS);
    this.replace({ ...this._state, awaitingLoss: error });
  }

  /**
   * Some members were lost mid-job: stop the job everywhere and start it again on the others, from
   * the latest step whose checkpoints every rank sent (else from step 0). The video is the same:
   * any partition gives the same video, and a checkpoint is exactly the state after its step.
   */
  private restartWithout(lost: readonly { peerId: string; name: string; reason: string }[]): void {
    this.clearLossGrace();
    const plan = this.plan;
    if (!plan) return this.fail(`lost ${lost.map((l) => l.name).join(', ')}`);
    const gone = new Set(lost.map((l) => l.peerId));
    const connected = (peerId: string) => this.host.state.workers.some((w) => w.peerId === peerId && w.controlOpen);
    const members = survivors(plan.members, gone, connected);
    const atStep = Math.max(0, ...this._state.ranks.map((r) => r.stepsDone));
    const who = lost.map((l) => `${l.name} (${l.reason})`).join(', ');
    // survivors() keeps this tab when it computes: with no worker left it renders the video alone.
    if (members.length === 0) return this.fail(`lost ${who} at step ${atStep}/${this._state.steps}: no member left to render`);
    const store = this.checkpoints;
    const step = store?.latestCommonStep() ?? null;
    const resumeFrom: ResumePoint | null = store && step !== null && step >= 1 ? { store, step } : null;
    const how = resumeFrom ? `resumed after step ${resumeFrom.step}` : 'restarted from step 0';
    const note = `${who} lost at step ${atStep}/${this._state.steps}; ${how} on ${members.length} member${members.length === 1 ? '' : 's'}`;
    this.controlJobId = null; // the old job's state changes are no longer ours
    this.host.cancel(`lost ${lost.map((l) => l.name).join(', ')}: restarting on the others`);
    if (this.hostComputes) void this.engine.engine.cancel('restarting without a lost member').catch(() => undefined);
    this.chunks.clear();
    this.clips.clear();
    this.perStep.clear();
    this.checkpoints = null;
    this.checkpointChars.clear();
    plan.members = members;
    const renderJobId = newRenderJobId();
    this.replace({ ...this._state, renderJobId, ranks: [], stepStats: [], awaitingLoss: undefined, restarts: [...(this._state.restarts ?? []), note] });
    const previous = this.ownRender;
    void (async () => {
      await previous; // this tab's engine runs one render at a time: let the cancelled one end
      if (!this.isCurrent(renderJobId)) return;
      if (members.some((m) => m.peerId !== null)) await this.startMesh(renderJobId, plan, resumeFrom);
      else await this.renderHere(renderJobId, plan.facts, plan.settings, plan.codec, resumeFrom);
    })().catch((e: unknown) => this.fail(toErrorReport(e).message));
  }

  private clearLossGrace(): void {
    if (this.lossGrace !== null) clearTimeout(this.lossGrace);
    this.lossGrace = null;
  }

  /** Every member's speed as this job measured it: the next job shares the frames by these. */
  private noteJobSpeeds(): void {
    for (const r of this._state.ranks) {
      const speed = jobSpeed(r.range.end - r.range.start, [...this.perStep.values()].flatMap((row) => row.get(r.rank)?.computeMs ?? []));
      const member = this.plan?.members[r.rank]; // ranks are the members in order
      if (!speed || !member) continue;
      if (member.peerId === null) this.readiness.noteJobSpeed(speed);
      else this.host.noteJobSpeed(member.peerId, speed);
    }
  }

  // ---------------------------------------------------------------- one-tab mode

  private async renderHere(renderJobId: number, facts: ModelFacts, settings: RenderSettings, codec: ExportCodec, resumeFrom: ResumePoint | null = null): Promise<void> {
    try {
      const task = buildRenderTask(renderJobId, this.packageUrl, facts, settings, codec, 1);
      const resume = resumeFrom?.store.recut(resumeFrom.step, task.job.partition.ranges)[0];
      this.replace({ ...this._state, mode: 'alone', phase: 'running', ranks: [{ rank: 0, name: THIS_TAB, range: { start: 0, end: settings.totalFrames }, stepsDone: resumeFrom?.step ?? 0, clipReceived: false }] });
      const { info, fallbackReason } = await this.engine.load(this.packageUrl, HOST_GRAPHS);
      this.patchRank(0, { provider: info.provider, fallbackReason });
      const onCheckpoint = (c: CheckpointEvent) => this.isCurrent(renderJobId) && this.saveProgress(c.nextStep, () => c.bytes); // [0, N): the whole video
      const out = await this.engine.engine.render({ job: jobParamsOf(task), mode: 'alone', rank: 0, worldSize: 1, warmUp: true, checkpoints: true, ...(resume && { resume }) }, (p) => {
        const rgb = p.preview.rgb;
        this.patchRank(0, { stepsDone: p.step + 1, lastStepMs: p.stepMs, preview: { globalFrame: p.preview.globalFrames[0] ?? 0, width: rgb.width, height: rgb.height, rgba: rgbToRgbaFrames(rgb.data, 1, rgb.width, rgb.height)[0]! } });
        this.recordStep(p.step, 0, p);
      }, undefined, { onCheckpoint });
      if (this._state.phase !== 'running') return;
      this.replace({ ...this._state, phase: 'muxing' });
      const f = out.frames;
      const clip = await encodeClip(rgbToRgbaFrames(f.data, f.frames, f.width, f.height), { width: f.width, height: f.height, fps: task.job.fps, codec, scale: settings.exportScale, firstFrameIndex: 0 });
      await this.finish([clip]);
    } catch (e) {
      if (this._state.phase !== 'cancelled') this.fail(toErrorReport(e).message);
    }
  }

  // ---------------------------------------------------------------- shared

  private async finish(clips: EncodedClip[]): Promise<void> {
    const first = clips[0]!;
    const video = await muxClips(clips, { codec: first.codec, fps: first.fps, totalFrames: this._state.totalFrames });
    this.forgetSaved(); // the file exists: nothing left to resume
    const url = URL.createObjectURL(video.blob);
    const fileName = `video-infinity-${this._state.totalFrames}f-${this._state.renderJobId}.${video.extension}`;
    this.replace({
      ...this._state, phase: 'done', etaMs: 0, elapsedMs: performance.now() - (this._state.startedAtMs ?? 0),
      video: { url, fileName, mimeType: video.mimeType, frames: video.frames, width: video.width, height: video.height, bytes: video.blob.size, codecString: video.codecString },
    });
    this.settle?.(undefined);
  }

  // ---------------------------------------------------------------- the copy saved in this browser

  /** Saves the whole video's state after `step` if it is newer than the saved one (storage errors are noted, not fatal). */
  private saveProgress(step: number, wholeState: () => Uint8Array): void {
    const as = this.saveAs;
    if (!as || step <= this.savedStep) return;
    this.savedStep = step;
    const record: SavedRender = { schema: SAVED_RENDER_SCHEMA, savedAt: Date.now(), packageUrl: this.packageUrl, model: as.model, settings: as.settings, step, state: new Blob([wholeState() as BlobPart]) };
    this.saving = this.saving.then(() => saveUnfinishedRender(record)).then(() => this.replace({ ...this._state, savedStep: step }), (e: unknown) => this.noteSaveProblem(e));
  }

  private forgetSaved(): void {
    this.saveAs = null;
    this.saving = this.saving.then(() => discardUnfinishedRender()).then(() => this.replace({ ...this._state, savedStep: undefined }), (e: unknown) => this.noteSaveProblem(e));
  }

  private noteSaveProblem(e: unknown): void {
    const problem = `saving the render in this browser: ${toErrorReport(e).message}`;
    this.replace({ ...this._state, checkpointProblems: [...(this._state.checkpointProblems ?? []), problem].slice(-5) });
  }

  /** Where a saved render resumes: its state, checked against the model and settings of this start. */
  private async savedResumePoint(saved: SavedRender, facts: ModelFacts, settings: RenderSettings, codec: ExportCodec): Promise<ResumePoint> {
    const model = modelIdentity(facts.manifest);
    if (saved.model !== model) throw new Error(`the unfinished render was made with ${saved.model}, this dashboard loads ${model}: open it with that model, or discard the render`);
    const task = buildRenderTask(0, this.packageUrl, facts, settings, codec, 1);
    const store = new CheckpointStore(jobParamsOf(task), task.job.partition.ranges, latentValuesPerFrame(facts));
    try {
      store.add(0, saved.step, new Uint8Array(await saved.state.arrayBuffer()));
    } catch (e) {
      throw new Error(`the unfinished render cannot be resumed (${toErrorReport(e).message}): discard it`);
    }
    return { store, step: saved.step };
  }

  // ---------------------------------------------------------------- shared stats

  private recordStep(step: number, rank: number, r: StepReport): void {
    const row = this.perStep.get(step) ?? new Map<number, StepReport>();
    row.set(rank, r);
    this.perStep.set(step, row);
    const ranks = this._state.ranks.length;
    if (row.size < ranks) return;
    const list = [...row.values()];
    const mean = (f: (x: StepReport) => number) => list.reduce((a, x) => a + f(x), 0) / list.length;
    const checkpointChars = [...(this.checkpointChars.get(step)?.values() ?? [])].reduce((a, n) => a + n, 0);
    const stat: StepStat = {
      step, wallMs: Math.max(...list.map((x) => x.stepMs)), computeMs: mean((x) => x.computeMs), networkWaitMs: mean((x) => x.networkWaitMs), bytesSentPerTab: mean((x) => x.bytesSent),
      checkpointBytesPerTab: checkpointChars / list.length, // sent before the step's report on the same channel: all here
    };
    const stepStats = [...this._state.stepStats, stat].sort((a, b) => a.step - b.step);
    const steps = this._state.steps ?? 0;
    const meanWall = stepStats.reduce((a, x) => a + x.wallMs, 0) / stepStats.length;
    const stepsLeft = steps - 1 - stepStats[stepStats.length - 1]!.step; // a resumed job's stats start at its step
    this.replace({ ...this._state, stepStats, etaMs: Math.max(0, stepsLeft) * meanWall, elapsedMs: performance.now() - (this._state.startedAtMs ?? 0) });
  }

  private patchRank(rank: number, patch: Partial<RankView>): void {
    this.replace({ ...this._state, ranks: this._state.ranks.map((r) => (r.rank === rank ? { ...r, ...patch } : r)) });
  }

  private fail(error: string): void {
    if (!this.busy) return;
    this.clearLossGrace();
    if (this._state.mode === 'mesh' && this.controlJobId !== null) this.host.finishJob(this.controlJobId, error);
    if (this.hostComputes && this._state.mode !== undefined) void this.engine.engine.cancel(error).catch(() => undefined);
    this.replace({ ...this._state, phase: 'failed', error, elapsedMs: performance.now() - (this._state.startedAtMs ?? 0) });
    this.settle?.(error);
  }

  private replace(next: RenderJobState): void {
    this._state = next; // replaced, never mutated (STYLE rule 16)
    this.changedAt = performance.now(); // progress, for the stall watchdog
    this.dispatchEvent(new Event('change'));
  }
}

type StepReport = Pick<StepProgress, 'stepMs' | 'computeMs' | 'networkWaitMs' | 'bytesSent'>;
