/**
 * One rank of a render, the same code in every tab that computes: load the job's model in the tab's
 * engine worker, render the rank's clip (over the mesh, or the whole video alone in the host tab),
 * hand each step's progress and checkpoint to `RankReports`, encode the clip with WebCodecs (first
 * frame a key frame) and hand it over. Where the reports go is the caller's: a worker tab sends them
 * to the host (worker-reports.ts), the host tab's own rank gives them straight to its render job.
 * The job's prompts arrive encoded (this tab loads no text encoder), and a restarted job resumes
 * from a state: the host's own rank is given both, a worker tab waits for the blobs the host sends
 * on the bulk link. Raw frames never leave the tab.
 * Framework-free; the worker view renders `state` through ServiceController.
 */
import type { StepProgress } from '../../engine/denoise.js';
import { splitPlace } from '../../engine/guidance-split.js';
import { type RenderTask } from '../protocol.js';
import { toErrorData } from '../../engine/worker/protocol.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';
import { encodeClip, type EncodedClip } from '../media/index.js';
import type { EngineHandle, UnetGraph } from './engine-handle.js';
import { rgbToRgbaFrames } from './render-spec.js';
import { BlobInbox } from './blob-inbox.js';

/** A worker tab is always one rank of a mesh: the segmented graphs only. */
export const WORKER_GRAPHS: readonly UnetGraph[] = ['segmented'];
/** The host tab may compute a clip of a mesh (segmented) or the whole video alone (whole graph). */
export const HOST_GRAPHS: readonly UnetGraph[] = ['segmented', 'whole'];

/** What a rank hands over while it renders, in this order: its engine, then per step a checkpoint and the step, then its clip. */
export interface RankReports {
  engine(info: { readonly provider: string; readonly loadMs: number; readonly fallbackReason?: string }): void;
  checkpoint(nextStep: number, bytes: Uint8Array): void;
  /** `preview`: the first preview frame, as RGB (what goes on the wire) and RGBA (what a view shows), made once. */
  step(p: StepProgress, preview: { readonly globalFrame: number; readonly width: number; readonly height: number; readonly rgb: Uint8Array; readonly rgba: Uint8ClampedArray }): void;
  clip(clip: EncodedClip): void | Promise<void>;
}

/** What the host hands a run besides its task (on the bulk link to a worker tab). */
export interface HostBlobs {
  /** The job's prompts, encoded once by the host (prompt-embeddings.ts wire form). */
  readonly promptEmbeddings?: Uint8Array;
  /** The state a restarted job resumes from (job-state.ts wire form). */
  readonly resume?: Uint8Array;
}

export type RankPhase = 'idle' | 'loading-model' | 'rendering' | 'encoding' | 'sending' | 'done' | 'failed' | 'cancelled';

export interface RankState {
  readonly phase: RankPhase;
  readonly jobId?: number;
  readonly rank?: number;
  readonly range?: { readonly start: number; readonly end: number };
  readonly provider?: string;
  /** Why this tab computes on WASM, stated plainly in the UI. */
  readonly fallbackReason?: string;
  readonly step?: number;
  readonly steps?: number;
  readonly lastStepMs?: number;
  readonly lastWaitMs?: number;
  /** The latest x0 preview: one RGBA frame. */
  readonly preview?: { readonly globalFrame: number; readonly width: number; readonly height: number; readonly rgba: Uint8ClampedArray };
  readonly error?: string;
}

/** One run's cancellation: why it was cancelled, or null while it may go on. */
interface RunToken {
  cancelled: string | null;
}

export class RankRunner extends EventTarget {
  private _state: RankState = { phase: 'idle' };
  /**
   * The latest run's token, made when the run is asked for: a cancel that arrives while it still
   * waits for the previous run to end stops it too (a flag reset when the run began would lose it).
   */
  private token: RunToken = { cancelled: null };
  /** The previous run, settled: a restarted job's start can arrive while a cancelled render still ends. */
  private previous: Promise<void> = Promise.resolve();
  /** What the host sends a worker tab's run on the bulk link. */
  private readonly prompts = new BlobInbox('prompt embeddings');
  private readonly resumes = new BlobInbox('resume state');

  constructor(
    readonly engine: EngineHandle,
    private readonly graphs: readonly UnetGraph[],
  ) {
    super();
  }

  get state(): RankState {
    return this._state;
  }

  /**
   * Renders `task`'s clip of this tab's rank in `mesh`, or (mesh null) the whole video alone.
   * `given`: the host's own rank is handed the job's prompt embeddings and the state to resume
   * from; a worker tab waits for the blobs the host sends.
   */
  run(task: RenderTask, mesh: MeshCollective | null, reports: RankReports, given: HostBlobs = {}): Promise<void> {
    const token: RunToken = { cancelled: null };
    this.token = token;
    const run = this.previous.then(() => this.runOne(task, mesh, reports, given, token));
    this.previous = run.catch(() => undefined);
    return run;
  }

  /** A blob the host sent this tab's run on the bulk link. */
  acceptBlob(kind: keyof HostBlobs, renderJobId: number, rank: number, bytes: Uint8Array): void {
    (kind === 'promptEmbeddings' ? this.prompts : this.resumes).accept(renderJobId, rank, bytes);
  }

  cancel(reason: string): void {
    this.token.cancelled = reason;
    this.prompts.cancel(reason);
    this.resumes.cancel(reason);
    if (this._state.phase === 'rendering' || this._state.phase === 'loading-model') void this.engine.engine.cancel(reason).catch(() => undefined);
  }

  private async runOne(task: RenderTask, mesh: MeshCollective | null, reports: RankReports, given: HostBlobs, token: RunToken): Promise<void> {
    const jobId = task.job.jobId;
    const rank = mesh?.rank ?? 0;
    const throwIfCancelled = () => {
      if (token.cancelled !== null) throw Object.assign(new Error(`cancelled: ${token.cancelled}`), { code: 'aborted' });
    };
    // With a guidance split a pair of ranks shares a clip; the uncond rank (branch 0) speaks for it.
    const split = task.job.cfgSplit && mesh ? splitPlace(rank, mesh.worldSize) : null;
    const speaksForClip = split === null || split.branch === 0;
    const range = task.job.partition.ranges[split?.clip ?? rank];
    this.set({ phase: 'loading-model', jobId, rank, range, step: undefined, steps: task.job.steps, preview: undefined, error: undefined });
    try {
      throwIfCancelled(); // cancelled while the previous run ended
      // 1. Model: loaded when the tab joined (readiness), so this shares that load; it loads here
      //    only if the job names another package (then the handle refuses: reload).
      const { info, fallbackReason } = await this.engine.load(task.packageUrl, this.graphs);
      this.set({ provider: info.provider, fallbackReason });
      reports.engine({ provider: info.provider, loadMs: info.loadMs, ...(fallbackReason && { fallbackReason }) });
      throwIfCancelled();

      // 2. Render this rank's clip: each step's checkpoint goes before the step's report.
      this.set({ phase: 'rendering' });
      const onProgress = (p: StepProgress) => {
        const rgb = p.preview.rgb;
        const first = rgb.data.subarray(0, rgb.width * rgb.height * 3);
        const preview = { globalFrame: p.preview.globalFrames[0] ?? 0, width: rgb.width, height: rgb.height, rgba: rgbToRgbaFrames(first, 1, rgb.width, rgb.height)[0]! };
        this.set({ step: p.step + 1, lastStepMs: p.stepMs, lastWaitMs: p.networkWaitMs, preview });
        reports.step(p, { ...preview, rgb: first });
      };
      const promptEmbeddings = given.promptEmbeddings ?? (await this.prompts.take(jobId, rank));
      const resume = given.resume ?? (task.resumeFromStep !== undefined ? await this.resumes.take(jobId, rank) : undefined);
      throwIfCancelled();
      const placement = mesh ? { mode: 'collective' as const, rank, worldSize: mesh.worldSize } : { mode: 'alone' as const, rank: 0, worldSize: 1 };
      const input = { job: task.job, ...placement, warmUp: true, checkpoints: speaksForClip, promptEmbeddings, ...(resume && { resume }) };
      const onCheckpoint = (c: { nextStep: number; bytes: Uint8Array }) => reports.checkpoint(c.nextStep, c.bytes);
      const out = await this.engine.engine.render(input, onProgress, mesh ?? undefined, { transferResults: true, onCheckpoint });
      throwIfCancelled();
      if (!speaksForClip || !out.frames) return this.set({ phase: 'done' }); // the partner rank encodes and sends the clip

      // 3. Encode (WebCodecs; the first frame is a key frame) and hand the clip over.
      this.set({ phase: 'encoding' });
      const f = out.frames;
      const clip = await encodeClip(rgbToRgbaFrames(f.data, f.frames, f.width, f.height), {
        width: f.width, height: f.height, fps: task.job.fps, codec: task.export.codec, scale: task.export.scale, firstFrameIndex: out.range.start,
      });
      throwIfCancelled();
      this.set({ phase: 'sending' });
      await reports.clip(clip);
      this.set({ phase: 'done' });
    } catch (e) {
      if (token.cancelled !== null) {
        this.set({ phase: 'cancelled', error: `cancelled by the host: ${token.cancelled}` });
        return;
      }
      this.set({ phase: 'failed', error: toErrorData(e).message });
      throw e;
    }
  }

  private set(patch: Partial<RankState>): void {
    this._state = { ...this._state, ...patch }; // replaced, never mutated: views compare by identity
    this.dispatchEvent(new Event('change'));
  }
}
