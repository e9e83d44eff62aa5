/**
 * Worker tab side of a render job: load the job's model in the tab's engine worker, render this
 * rank's clip over the mesh (the worker's collective calls are served by the MeshCollective here),
 * report every step to the host with the clip's checkpoint (so the job can resume without this tab),
 * encode the clip with WebCodecs (first frame a key frame), and send the encoded bytes to the host in
 * control-channel chunks. A restarted job may resume from a state the host sends (`resume-chunk`).
 * Raw frames never leave the tab.
 * Framework-free; the worker view renders `state` through ServiceController.
 */
import type { StepProgress } from '../../engine/denoise.js';
import type { CheckpointEvent } from '../../engine/worker/protocol.js';
import { toErrorReport, type ControlMessage, type RenderTask, type ResumeChunkMessage } from '../../net/control.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';
import { encodeClip, serializeEncodedClip } from '../media/index.js';
import type { RenderTaskRunner } from '../services/worker-service.js';
import type { EngineHandle, UnetGraph } from './engine-handle.js';
import { toBase64Pieces } from './chunked-bytes.js';
import { jobParamsOf, rgbToRgbaFrames, toBase64 } from './render-spec.js';
import { ResumeInbox } from './resume-inbox.js';

/** A worker tab is always one rank of a mesh: the segmented graphs only. */
export const WORKER_GRAPHS: readonly UnetGraph[] = ['segmented'];

export type WorkerJobPhase = 'idle' | 'loading-model' | 'rendering' | 'encoding' | 'sending' | 'done' | 'failed' | 'cancelled';

export interface WorkerJobState {
  readonly phase: WorkerJobPhase;
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

/** One run's cancellation: why the host cancelled it, or null while it may go on. */
interface RunToken {
  cancelled: string | null;
}

export class RenderWorkerJob extends EventTarget implements RenderTaskRunner {
  private _state: WorkerJobState = { phase: 'idle' };
  /**
   * The latest run's token, made when the run is asked for: a cancel that arrives while it still
   * waits for the previous run to end stops it too (a flag reset when the run began would lose it).
   */
  private token: RunToken = { cancelled: null };
  /** The previous run, settled: a restarted job's start can arrive while a cancelled render still ends. */
  private previous: Promise<void> = Promise.resolve();
  /** The state a restarted job resumes from, as the host sends it. */
  private readonly resumes = new ResumeInbox();

  constructor(private readonly engine: EngineHandle) {
    super();
  }

  get state(): WorkerJobState {
    return this._state;
  }

  run(task: RenderTask, mesh: MeshCollective, send: (m: ControlMessage) => void): Promise<void> {
    const token: RunToken = { cancelled: null };
    this.token = token;
    const run = this.previous.then(() => this.runOne(task, mesh, send, token));
    this.previous = run.catch(() => undefined);
    return run;
  }

  /** A piece of the state a restarted job resumes from (host → this tab; the control channel checked its shape). */
  acceptResumeChunk(m: ResumeChunkMessage): void {
    this.resumes.accept(m);
  }

  private async runOne(task: RenderTask, mesh: MeshCollective, send: (m: ControlMessage) => void, token: RunToken): Promise<void> {
    const jobId = task.job.jobId;
    const rank = mesh.rank;
    const throwIfCancelled = () => {
      if (token.cancelled !== null) throw Object.assign(new Error(`cancelled: ${token.cancelled}`), { code: 'aborted' });
    };
    const range = task.job.partition.ranges[rank];
    this.set({ phase: 'loading-model', jobId, rank, range, step: undefined, steps: task.job.steps, preview: undefined, error: undefined });
    try {
      throwIfCancelled(); // cancelled while the previous run ended
      // 1. Model: loaded when the tab joined (worker-readiness.ts), so this shares that load; it
      //    loads here only if the job names another package (then the handle refuses: reload).
      const { info, fallbackReason } = await this.engine.load(task.packageUrl, WORKER_GRAPHS);
      this.set({ provider: info.provider, fallbackReason });
      send({ type: 'engine', jobId, rank, provider: info.provider, loadMs: info.loadMs, ...(fallbackReason && { fallbackReason: fallbackReason.slice(0, 1000) }) });
      throwIfCancelled();

      // 2. Render this rank's clip over the mesh.
      this.set({ phase: 'rendering' });
      const onProgress = (p: StepProgress) => {
        const rgb = p.preview.rgb;
        const px = rgb.width * rgb.height * 3;
        const first = rgb.data.subarray(0, px);
        this.set({ step: p.step + 1, lastStepMs: p.stepMs, lastWaitMs: p.networkWaitMs, preview: { globalFrame: p.preview.globalFrames[0] ?? 0, width: rgb.width, height: rgb.height, rgba: rgbToRgbaFrames(first, 1, rgb.width, rgb.height)[0]! } });
        send({
          type: 'step', jobId, rank, step: p.step, steps: p.steps, stepMs: p.stepMs, computeMs: p.computeMs, networkWaitMs: p.networkWaitMs,
          bytesSent: Math.round(p.bytesSent), bytesReceived: Math.round(p.bytesReceived),
          ...(rgb.width * rgb.height <= 128 * 128 && { preview: { globalFrame: p.preview.globalFrames[0] ?? 0, width: rgb.width, height: rgb.height, rgbBase64: toBase64(first) } }),
        });
      };
      const resume = task.resumeFromStep !== undefined ? await this.resumes.take(jobId, rank) : undefined;
      throwIfCancelled();
      // Each step's checkpoint goes to the host before the step's report (one ordered channel).
      const onCheckpoint = (c: CheckpointEvent) => {
        for (const piece of toBase64Pieces(c.bytes)) send({ type: 'checkpoint-chunk', jobId, rank, nextStep: c.nextStep, ...piece });
      };
      const input = { job: jobParamsOf(task), mode: 'collective' as const, rank, worldSize: mesh.worldSize, warmUp: true, checkpoints: true, ...(resume && { resume }) };
      const out = await this.engine.engine.render(input, onProgress, mesh, { transferResults: true, onCheckpoint });
      throwIfCancelled();

      // 3. Encode (WebCodecs; the first frame is a key frame) and send the encoded bytes.
      this.set({ phase: 'encoding' });
      const f = out.frames;
      const clip = await encodeClip(rgbToRgbaFrames(f.data, f.frames, f.width, f.height), {
        width: f.width, height: f.height, fps: task.job.fps, codec: task.export.codec, scale: task.export.scale, firstFrameIndex: out.range.start,
      });
      throwIfCancelled();
      this.set({ phase: 'sending' });
      for (const piece of toBase64Pieces(serializeEncodedClip(clip))) send({ type: 'clip-chunk', jobId, rank, ...piece });
      this.set({ phase: 'done' });
    } catch (e) {
      if (token.cancelled !== null) {
        this.set({ phase: 'cancelled', error: `cancelled by the host: ${token.cancelled}` });
        return;
      }
      this.set({ phase: 'failed', error: toErrorReport(e).message });
      throw e;
    }
  }

  cancel(reason: string): void {
    this.token.cancelled = reason;
    this.resumes.cancel(reason);
    if (this._state.phase === 'rendering' || this._state.phase === 'loading-model') void this.engine.engine.cancel(reason).catch(() => undefined);
  }

  private set(patch: Partial<WorkerJobState>): void {
    this._state = { ...this._state, ...patch }; // replaced, never mutated (STYLE rule 16)
    this.dispatchEvent(new Event('change'));
  }
}
