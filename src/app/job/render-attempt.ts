/**
 * One attempt at a render: its members, its frames per rank, its step statistics, every rank's
 * latest checkpoint (so a later attempt can resume) and its clips. Mesh mode: split the frames
 * over the members (the engine's partitionFrames, weighted by measured speed or even), start the
 * job through HostService (workers form the mesh and claim their ranks; this tab joins it when it
 * computes), follow the members' reports, collect every rank's clip. Alone mode: this tab renders
 * the whole video (whole-graph UNet). Either way this tab's rank is a RankRunner, the same code a
 * worker runs. What happens is told to the render machine as events; it decides what follows.
 */
import { type RenderTask } from '../protocol.js';
import { toErrorData } from '../../engine/worker/protocol.js';
import { muxClips, parseEncodedClip, type EncodedClip, type ExportCodec } from '../media/index.js';
import type { HostService, RenderReport } from '../services/host-service.js';
import type { CheckpointKeeper, KeeperChannel } from './checkpoint-keeper.js';
import type { EngineReadiness } from './engine-readiness.js';
import { splitPlace, type SplitPlace } from '../../engine/guidance-split.js';
import { pairWeights, partitionWeights, type JobMember, type PartitionChoice } from './job-members.js';
import type { RankReports, RankRunner } from './rank-runner.js';
import { checkpointStepProblem, clipRangeProblem, previewFrame, stepReportProblem } from './rank-reports.js';
import { isBusy, isRunningAttempt, type RenderEvent } from './render-machine.js';
import type { ResumePoint, RenderPersistence } from './render-persistence.js';
import { buildRenderTask, latentValuesPerFrame, type ModelFacts, type RenderSettings } from './render-spec.js';
import type { RankView, RenderJobState, RenderVideo } from './render-view.js';
import { StepStats, type StepReport } from './step-stats.js';

export const THIS_TAB = 'this tab (host)';

/** What a render was started with; every attempt of it reuses it. */
export interface RenderPlan {
  readonly facts: ModelFacts;
  /** The schedule's prompts, encoded once by this tab for every rank (prompt-embeddings.ts wire form). */
  readonly promptEmbeddings: Uint8Array;
  readonly settings: RenderSettings;
  readonly codec: ExportCodec;
  readonly choice: PartitionChoice;
}

export interface AttemptDeps {
  readonly host: HostService;
  /** This tab's rank (when it computes). */
  readonly runner: RankRunner;
  readonly readiness: EngineReadiness;
  readonly persistence: RenderPersistence;
  /** The checkpoint worker's channel (every rank's checkpoints are kept there, off this thread). */
  readonly keepers: () => KeeperChannel;
  readonly packageUrl: string;
  readonly dispatch: (e: RenderEvent) => void;
  readonly view: () => RenderJobState;
}

export class RenderAttempt {
  private store: CheckpointKeeper | null = null;
  private stats: StepStats | null = null;
  private readonly clips = new Map<number, EncodedClip>();
  /** HostService's id of this attempt's mesh job, once its members joined. */
  private meshJobId: number | null = null;
  /** This tab's rank's run, settled: the next attempt waits for it (one render at a time per engine). */
  ownRun: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: AttemptDeps,
    readonly renderJobId: number,
    private readonly mode: 'mesh' | 'alone',
    private readonly members: readonly JobMember[],
    private readonly plan: RenderPlan,
  ) {}

  /** The HostService job this attempt's members run, once they joined; null before and in alone mode. */
  get jobId(): number | null {
    return this.meshJobId;
  }

  /**
   * Which clip (partition range, checkpoint slot) a rank renders: its own, or with a guidance split
   * its pair's (ranks 2c and 2c + 1 hold the same latents; rank 2c alone sends checkpoints and the clip).
   */
  private clipOf(rank: number): number {
    return this.splitPlaceOf(rank)?.clip ?? rank;
  }

  /** The rank whose checkpoints and clip stand for its clip. */
  private speaksForClip(rank: number): boolean {
    return (this.splitPlaceOf(rank)?.branch ?? 0) === 0;
  }

  /** A rank's place in a guidance split (the engine's pairing), or null without one. */
  private splitPlaceOf(rank: number): SplitPlace | null {
    return this.plan.settings.cfgSplit && this.mode === 'mesh' ? splitPlace(rank, this.members.length) : null;
  }

  /** Where a later attempt resumes: the latest step every rank's checkpoint is here for (null: none). */
  resumePoint(): ResumePoint | null {
    const step = this.store?.latestCommonStep ?? null;
    return this.store && step !== null ? { keeper: this.store, step } : null;
  }

  /** Frees this attempt's checkpoints in the worker (once no later attempt resumes from them). */
  dispose(): void {
    this.store?.close();
  }

  async start(resumeFrom: ResumePoint | null): Promise<void> {
    return this.mode === 'mesh' ? this.startMesh(resumeFrom) : this.startAlone(resumeFrom);
  }

  /** Stops this attempt everywhere: its members and this tab's rank. */
  stop(how: 'cancel' | 'fail', reason: string, hostComputes: boolean): void {
    if (this.mode === 'mesh' && how === 'cancel') this.deps.host.cancel(reason);
    if (this.mode === 'mesh' && how === 'fail' && this.meshJobId !== null) this.deps.host.finishJob(this.meshJobId, reason);
    if (hostComputes) this.deps.runner.cancel(reason);
  }

  /** The members' job is over (the video is muxed). */
  endMeshJob(): void {
    if (this.meshJobId !== null) this.deps.host.finishJob(this.meshJobId);
  }

  /** One file of every clip, in frame order. */
  async mux(totalFrames: number): Promise<RenderVideo> {
    const clips = this.deps.view().ranks.filter((r) => this.speaksForClip(r.rank)).map((r) => this.clips.get(r.rank)!);
    const first = clips[0]!;
    const v = await muxClips(clips, { codec: first.codec, fps: first.fps, totalFrames });
    const fileName = `video-infinity-${totalFrames}f-${this.renderJobId}.${v.extension}`;
    return { url: URL.createObjectURL(v.blob), fileName, mimeType: v.mimeType, frames: v.frames, width: v.width, height: v.height, bytes: v.blob.size, codecString: v.codecString };
  }

  /** Every member's speed as this attempt measured it: the next job shares the frames by these. */
  noteSpeeds(): void {
    for (const r of this.deps.view().ranks) {
      const speed = this.stats?.speedOf(r.rank, r.range.end - r.range.start);
      const member = this.members[r.rank]; // ranks are the members in order
      if (!speed || !member) continue;
      if (member.peerId === null) this.deps.readiness.noteJobSpeed(speed);
      else this.deps.host.noteJobSpeed(member.peerId, speed);
    }
  }

  // ---------------------------------------------------------------- mesh mode

  private async startMesh(resumeFrom: ResumePoint | null): Promise<void> {
    const { facts, settings, codec } = this.plan;
    const { host, packageUrl } = this.deps;
    const perMember = partitionWeights(this.plan.choice, this.members);
    const { by, weights, capacities } = settings.cfgSplit ? pairWeights(perMember) : perMember;
    const built = buildRenderTask(this.renderJobId, packageUrl, facts, settings, codec, weights, capacities);
    const ranges = built.job.partition.ranges;
    // Resuming: the clips' common checkpoints, re-cut for the new partition (in the worker), one state per clip.
    const resume = resumeFrom ? await resumeFrom.keeper.recut(resumeFrom.step, ranges) : null;
    const task: RenderTask = resumeFrom ? { ...built, resumeFromStep: resumeFrom.step } : built;
    this.store = this.deps.keepers().open(task.job, ranges, latentValuesPerFrame(facts));
    // A second loss before the next step resumes here too (copies: the originals go to the ranks).
    await Promise.all((resume ?? []).map((bytes, clip) => this.store!.add(clip, resumeFrom!.step, bytes.slice())));
    if (!this.stillOurs()) return; // cancelled, failed or replaced while the worker re-cut
    this.stats = new StepStats(this.members.length, settings.steps);
    const ranks = this.members.map((m, rank): RankView => ({
      rank, name: m.name, range: ranges[this.clipOf(rank)]!, stepsDone: resumeFrom?.step ?? 0, clipReceived: false,
      ...(by === 'speed' && { framesPerSecond: m.engine!.speed!.framesPerSecond }),
    }));
    this.deps.dispatch({ type: 'attempt-running', renderJobId: this.renderJobId, mode: 'mesh', ranks, partitionBy: by });
    const hostComputes = this.members[0]?.peerId === null;
    const workers = this.members.flatMap((m) => (m.peerId === null ? [] : [m.peerId]));
    const started = host.startJob(task, undefined, { workers, hostComputes }); // sends the start at once
    // Each worker's prompt embeddings and resume state go on its bulk link right after its start (rank = member index).
    const { promptEmbeddings } = this.plan;
    this.members.forEach((m, rank) => {
      if (m.peerId === null) return;
      const failed = (what: string) => (e: unknown) => this.fail(`rank ${rank}'s ${what}: ${toErrorData(e).message}`);
      host.sendBlob(m.peerId, { kind: 'promptEmbeddings', jobId: this.renderJobId, step: 0, rank }, promptEmbeddings).catch(failed('prompt embeddings'));
      if (resume) host.sendBlob(m.peerId, { kind: 'resume', jobId: this.renderJobId, step: resumeFrom!.step, rank }, resume[this.clipOf(rank)]!).catch(failed('resume state'));
    });
    const job = await started;
    // Failed or cancelled while the members joined: the job is ended everywhere (its members told to cancel).
    if (!this.isCurrent()) return host.finishJob(job.meshJobId, this.deps.view().error ?? 'the render ended while its members joined');
    this.meshJobId = job.meshJobId;
    if (job.status === 'failed') throw new Error(job.error ?? 'the workers did not start');
    if (!hostComputes) return;
    const mesh = host.mesh;
    if (!mesh) throw new Error("this tab is not in the job's mesh");
    const rank = mesh.rank;
    const reports = this.ownReports(rank);
    this.ownRun = this.deps.runner.run(task, mesh, reports, { promptEmbeddings: promptEmbeddings.slice(), ...(resume && { resume: resume[0] }) }).catch((e: unknown) => {
      // A lost peer fails this tab's collective calls too: the machine waits to hear who was lost.
      const { code, message } = toErrorData(e);
      this.deps.dispatch({ type: 'attempt-failed', renderJobId: this.renderJobId, error: `this tab (rank 0): ${message}`, code, anyoneGone: false });
    });
  }

  /**
   * A worker's report of this attempt. HostService passed on only those of the current job from its
   * members at their own rank; the checks here are the render's own.
   */
  onReport(peerId: string, m: RenderReport): void {
    const s = this.deps.view();
    if (this.mode !== 'mesh' || !this.isCurrent() || m.renderJobId !== this.renderJobId) return;
    const rank = this.members.findIndex((x) => x.peerId === peerId);
    if (m.rank !== rank) return; // a worker speaks only for its own rank
    const steps = s.steps ?? 0;
    const host = this.deps.host;
    if (m.type === 'engine') this.patchRank(rank, { provider: m.provider, fallbackReason: m.fallbackReason });
    else if (m.type === 'step') {
      const problem = stepReportProblem(m, steps);
      if (problem) return host.noteRefused(peerId, m.type, problem);
      const preview = m.preview && previewFrame(m.preview);
      if (m.preview && !preview) host.noteRefused(peerId, m.type, `its preview is not ${m.preview.width}×${m.preview.height} RGB pixels`);
      this.patchRank(rank, { stepsDone: m.step + 1, lastStepMs: m.stepMs, ...(preview && { preview }) });
      this.recordStep(m.step, rank, m);
    } else if (m.type === 'checkpoint') {
      const problem = checkpointStepProblem(m.nextStep, steps);
      if (problem) return host.noteRefused(peerId, 'checkpoint blob', problem);
      this.keepCheckpoint(rank, m.nextStep, m.bytes);
    } else if (this.clips.has(rank)) host.noteRefused(peerId, 'clip blob', `rank ${rank}'s clip is complete already`);
    else {
      try {
        this.acceptClip(rank, parseEncodedClip(m.bytes, `rank ${rank}'s clip`));
      } catch (e) {
        this.fail(`rank ${rank}'s clip: ${toErrorData(e).message}`);
      }
    }
  }

  /** Keeps a checkpoint (in the worker) and saves the whole video's newest common state; a refused one is noted (the job goes on). */
  private keepCheckpoint(rank: number, nextStep: number, bytes: Uint8Array): void {
    const store = this.store;
    if (!store || !this.speaksForClip(rank)) return;
    const total = this.plan.settings.totalFrames;
    store.add(this.clipOf(rank), nextStep, bytes).then(
      (step) => step !== null && this.isCurrent() && this.deps.persistence.save(step, () => store.whole(step, total)),
      (e: unknown) => this.deps.dispatch({ type: 'problem', problem: `rank ${rank}: ${toErrorData(e).message}` }),
    );
  }

  // ---------------------------------------------------------------- alone mode

  private async startAlone(resumeFrom: ResumePoint | null): Promise<void> {
    const { facts, settings, codec } = this.plan;
    const task = buildRenderTask(this.renderJobId, this.deps.packageUrl, facts, settings, codec, 1);
    const resume = resumeFrom ? (await resumeFrom.keeper.recut(resumeFrom.step, task.job.partition.ranges))[0] : undefined;
    if (!this.stillOurs()) return; // cancelled, failed or replaced while the worker re-cut
    this.store = this.deps.keepers().open(task.job, task.job.partition.ranges, latentValuesPerFrame(facts)); // [0, N): the whole video
    this.stats = new StepStats(1, settings.steps);
    const ranks: RankView[] = [{ rank: 0, name: THIS_TAB, range: { start: 0, end: settings.totalFrames }, stepsDone: resumeFrom?.step ?? 0, clipReceived: false }];
    this.deps.dispatch({ type: 'attempt-running', renderJobId: this.renderJobId, mode: 'alone', ranks });
    const reports = this.ownReports(0);
    this.ownRun = this.deps.runner.run(task, null, reports, { promptEmbeddings: this.plan.promptEmbeddings.slice(), ...(resume && { resume }) }).catch((e: unknown) => this.fail(toErrorData(e).message));
  }

  // ---------------------------------------------------------------- shared

  /** This tab's rank's reports: straight into this attempt, no bytes on the wire. */
  private ownReports(rank: number): RankReports {
    return {
      engine: (e) => this.patchRank(rank, { provider: e.provider, fallbackReason: e.fallbackReason }),
      checkpoint: (nextStep, bytes) => this.isCurrent() && this.keepCheckpoint(rank, nextStep, bytes),
      step: (p, pv) => {
        if (!this.isCurrent()) return;
        this.patchRank(rank, { stepsDone: p.step + 1, lastStepMs: p.stepMs, preview: { globalFrame: pv.globalFrame, width: pv.width, height: pv.height, rgba: pv.rgba } });
        this.recordStep(p.step, rank, p);
      },
      clip: (clip) => {
        if (this.isCurrent()) this.acceptClip(rank, clip);
      },
    };
  }

  private acceptClip(rank: number, clip: EncodedClip): void {
    const place = this.splitPlaceOf(rank);
    if (place && place.branch !== 0) return this.fail(`rank ${rank} sent a clip: with a guidance split rank ${place.partner} sends it`);
    const problem = clipRangeProblem(clip, this.deps.view().ranks[rank]!.range);
    if (problem) return this.fail(`rank ${rank}'s clip: ${problem}`);
    this.clips.set(rank, clip);
    this.deps.dispatch({ type: 'clip', renderJobId: this.renderJobId, rank });
    // Its partner holds the same latents: it is needed no more either (a loss of it now costs nothing).
    if (place) this.deps.dispatch({ type: 'clip', renderJobId: this.renderJobId, rank: place.partner });
  }

  private recordStep(step: number, rank: number, r: StepReport): void {
    const stats = this.stats?.record(step, rank, r);
    if (stats) this.deps.dispatch({ type: 'stats', ...stats, now: performance.now() });
  }

  private patchRank(rank: number, patch: Partial<Omit<RankView, 'rank' | 'range' | 'clipReceived'>>): void {
    this.deps.dispatch({ type: 'rank', renderJobId: this.renderJobId, rank, patch });
  }

  /** This attempt is the job's, and the job is not over (it may not be running yet: it starts). */
  private stillOurs(): boolean {
    const v = this.deps.view();
    return v.renderJobId === this.renderJobId && isBusy(v);
  }

  private isCurrent(): boolean {
    return isRunningAttempt(this.deps.view(), this.renderJobId);
  }

  private fail(error: string): void {
    if (this.isCurrent()) this.deps.dispatch({ type: 'fail', error, now: performance.now() });
  }
}
