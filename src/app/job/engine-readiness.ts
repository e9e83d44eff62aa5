/**
 * A tab's engine made ready before any job: load the model package (IndexedDB cache, else the
 * server; sha256-checked in the engine worker), create the sessions, then time one UNet call on a
 * small clip after a warm-up (speed-benchmark.ts in the engine worker). A worker tab does this as
 * soon as it has joined the room, the host as soon as "compute in this tab" is ticked, so Start
 * finds the model loaded and the host can weight the partition by the measured speeds.
 *
 * Framework-free; views render `state` (replaced, never mutated) through ServiceController.
 */
import type { UNetCompute } from '../../engine/engine-model.js';
import type { MeasureSpeedOut } from '../../engine/worker/protocol.js';
import { type EnginePhase, type SpeedReport } from '../protocol.js';
import { toErrorData } from '../../engine/worker/protocol.js';
import type { MemberEngine } from '../services/member-engine-report.js';
import type { EngineHandle, UnetGraph } from './engine-handle.js';

/** 'idle' until it starts; then the phases every member reports. */
export type ReadinessPhase = 'idle' | EnginePhase;

export interface EngineReadinessState {
  readonly phase: ReadinessPhase;
  readonly packageUrl?: string;
  /** Model bytes read so far (cache or network) and in all, while loading. */
  readonly loadedBytes?: number;
  readonly totalBytes?: number;
  /** 'webgpu' or 'wasm', once the sessions exist. */
  readonly provider?: string;
  /** The UNet graph set loaded: 'float16' computes in half precision (shader-f16). */
  readonly compute?: UNetCompute;
  readonly fallbackReason?: string;
  readonly loadMs?: number;
  readonly speed?: MeasureSpeedOut;
  readonly error?: string;
}

/**
 * Frames of the timed clip: small enough to take about a second on WASM, long enough that a
 * call's fixed costs (one run per segment) do not dominate; never below the model's shortest clip.
 */
export const SPEED_CLIP_FRAMES = 8;

export class EngineReadiness extends EventTarget {
  private _state: EngineReadinessState = { phase: 'idle' };
  private started: Promise<EngineReadinessState> | null = null;

  constructor(
    private readonly engine: EngineHandle,
    readonly graphs: readonly UnetGraph[],
  ) {
    super();
  }

  get state(): EngineReadinessState {
    return this._state;
  }

  /**
   * Loads and measures once per tab; later calls share the first, and a failed one may be retried.
   * (A second package URL fails at the engine handle, which refuses it: reload the tab.)
   */
  prepare(packageUrl: string): Promise<EngineReadinessState> {
    if (this.started) return this.started;
    const done = this.run(packageUrl);
    this.started = done;
    // A later prepare() retries with a fresh engine worker (EngineHandle drops a failed one).
    void done.then((s) => s.phase === 'failed' && this.started === done && (this.started = null));
    return done;
  }

  /** This tab's speed as its last job measured it (job-members.ts jobSpeed); the next partition uses it. */
  noteJobSpeed(speed: SpeedReport): void {
    if (this._state.phase === 'ready') this.replace({ ...this._state, speed: { ...speed, warmUpMs: this._state.speed?.warmUpMs ?? 0 } });
  }

  private async run(packageUrl: string): Promise<EngineReadinessState> {
    this.replace({ phase: 'loading', packageUrl });
    const stop = this.engine.engine.onEvent((e) => {
      if (e.type === 'load-progress' && this._state.phase === 'loading') this.replace({ ...this._state, loadedBytes: e.loadedBytes, totalBytes: e.totalBytes });
    });
    try {
      const { info, fallbackReason } = await this.engine.load(packageUrl, this.graphs);
      stop();
      this.replace({ phase: 'measuring', packageUrl, provider: info.provider, compute: info.compute, loadMs: info.loadMs, ...(fallbackReason && { fallbackReason }) });
      const speed = await this.engine.engine.measureSpeed({ frames: Math.max(SPEED_CLIP_FRAMES, info.minClipFrames) });
      this.replace({ ...this._state, phase: 'ready', speed });
    } catch (e) {
      stop();
      this.replace({ ...this._state, phase: 'failed', error: toErrorData(e).message });
    }
    return this._state;
  }

  private replace(next: EngineReadinessState): void {
    this._state = next; // replaced, never mutated: lit re-renders only when the identity changes
    this.dispatchEvent(new Event('change'));
  }
}

/** The readiness as a member's engine (what the host's tables and partition read); undefined while idle. */
export function toMemberEngine(s: EngineReadinessState): MemberEngine | undefined {
  if (s.phase === 'idle') return undefined;
  const { phase, loadedBytes, totalBytes, provider, compute, fallbackReason, loadMs, speed, error } = s;
  return { phase, loadedBytes, totalBytes, provider, compute, fallbackReason, loadMs, speed, error };
}
