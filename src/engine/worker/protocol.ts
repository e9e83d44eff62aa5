/**
 * The engine worker's protocol, a contract file apart from both implementations: what crosses
 * between a tab's main thread and the one module Worker that owns every ONNX session of the tab.
 * Each payload type is bound to its request kind and errors travel as data, so nothing is cast.
 *
 * - Requests carry an `id`; the worker answers each with exactly one `result` or `error` of the same
 *   id. Each request kind is bound to its input and output types (`EngineRequests`).
 * - Errors cross as data `{code, message, rank?, step?}`, never as `toString()` text.
 * - Collective operations go the other way: RTCPeerConnection does not exist in workers, so the
 *   worker's `Collective` is a proxy (collective-proxy.ts) that posts `collective` requests to the
 *   main thread, where collective-bridge.ts runs them on the real collective (the WebRTC mesh) and
 *   answers `collective-result` / `collective-error`. Tensor buffers are transferred, not copied.
 * - Progress of a render and the latest model-load progress arrive as `event` messages.
 *
 * Imports engine types only.
 */
import type { CollectiveStats, HaloResult, MessageTag, WireTensor } from '../collective.js';
import type { StepProgress } from '../denoise.js';
import type { RgbFrames } from '../decode.js';
import type { UNetCompute } from '../engine-model.js';
import type { JobParams } from '../job-state.js';
import type { PromptSchedule } from '../prompt-schedule.js';
import type { FrameRange } from '../partition.js';
import type { SpeedMeasurement } from './speed-benchmark.js';

/** An error as it crosses the worker boundary: data, not `toString()` text, so its code survives. */
export interface ErrorData {
  readonly code: string;
  readonly message: string;
  readonly rank?: number;
  readonly step?: number;
}

export interface LoadModelIn {
  /** Package directory URL (absolute, or relative to the page). */
  readonly packageUrl: string;
  /** Execution providers to try in order; default ['webgpu', 'wasm']. */
  readonly executionProviders?: readonly string[];
  /** Which UNet graphs to create sessions for. */
  readonly graphs: readonly ('segmented' | 'whole')[];
  /**
   * Which UNet graph set to run, overriding the worker's choice (the page's `?compute=`, for
   * testing). Absent: float16 where the first provider is WebGPU, the worker's adapter has
   * shader-f16 and the package carries the set (chooseUNetCompute), else float32. float16 on a
   * package without the set is refused (code 'invalid-argument').
   */
  readonly compute?: UNetCompute;
}
export interface LoadModelOut {
  readonly name: string;
  readonly version: string;
  /** The provider actually in use ('webgpu' | 'wasm'), and every provider that failed before it. */
  readonly provider: string;
  readonly failedProviders: readonly { readonly provider: string; readonly message: string }[];
  /** The UNet graph set loaded (the only one downloaded): 'float16' computes in half precision. */
  readonly compute: UNetCompute;
  /** Whether this worker's WebGPU adapter has shader-f16; null when WebGPU was not the first provider asked for (not probed). */
  readonly shaderF16: boolean | null;
  readonly loadMs: number;
  /** Files read from the IndexedDB cache vs fetched. */
  readonly cachedFiles: number;
  readonly fetchedFiles: number;
  readonly cacheWarnings: readonly string[];
  /** manifest.defaults and geometry, for the UI and the job. */
  readonly defaults: Readonly<Record<string, unknown>>;
  readonly frameRate: number;
  readonly frameSize: { readonly width: number; readonly height: number };
  /** Largest of the local window and the temporal-conv halo: the shortest clip a rank may own. */
  readonly minClipFrames: number;
}

/** The host encodes a job's prompts once (prompt-embeddings.ts), with the package's text encoder. */
export interface EncodePromptsIn {
  readonly packageUrl: string;
  readonly schedule: PromptSchedule;
  /** Execution providers for the text encoder; default ['webgpu', 'wasm']. */
  readonly executionProviders?: readonly string[];
}
/** The embeddings in their wire form (what the host sends every rank). */
export interface EncodePromptsOut {
  readonly bytes: Uint8Array;
}

export interface RenderIn {
  readonly job: JobParams;
  /** 'collective': segmented graph over the main thread's collective; 'alone': one rank, whole graph. */
  readonly mode: 'collective' | 'alone';
  /** Rank and world size of the main thread's collective (mode 'collective'). */
  readonly rank: number;
  readonly worldSize: number;
  /** One untimed UNet call first, so that kernel/shader set-up stays out of the step timings;
   *  skipped when this graph already ran in the worker (speed benchmark or an earlier render). */
  readonly warmUp: boolean;
  readonly previewMaxFrames?: number;
  /** Resume from this checkpoint of the rank's clip (job-state.ts wire form), e.g. re-cut after a tab was lost. */
  readonly resume?: Uint8Array;
  /** The job's prompt embeddings from the host (prompt-embeddings.ts wire form): ranks load no text encoder. */
  readonly promptEmbeddings: Uint8Array;
  /** Post a `checkpoint` event after every step (the host keeps them, so the job survives losing a tab). */
  readonly checkpoints?: boolean;
}
export interface RenderOut {
  readonly rank: number;
  readonly range: FrameRange;
  /** The decoded clip; null on a guidance split's cond rank (its partner decodes the same latents). */
  readonly frames: RgbFrames | null;
  readonly renderMs: number;
  readonly warmUpMs: number;
}

/** One warm-up and one timed UNet call on a clip of `frames` frames (speed-benchmark.ts). */
export interface MeasureSpeedIn {
  readonly frames: number;
}
export type MeasureSpeedOut = SpeedMeasurement;

export interface EngineRequests {
  'load-model': { in: LoadModelIn; out: LoadModelOut };
  render: { in: RenderIn; out: RenderOut };
  /** After load-model: how fast this tab runs the UNet (the host weights the partition by it). */
  'measure-speed': { in: MeasureSpeedIn; out: MeasureSpeedOut };
  /** Independent of load-model: loads the text encoder on first use and keeps it. */
  'encode-prompts': { in: EncodePromptsIn; out: EncodePromptsOut };
  /** Aborts the running render between steps (its request then answers error code 'aborted'). */
  cancel: { in: { readonly reason: string }; out: { readonly cancelled: boolean } };
}
export type EngineRequestType = keyof EngineRequests;

export type MainToWorker =
  | { readonly [K in EngineRequestType]: { readonly kind: 'request'; readonly id: number; readonly type: K; readonly in: EngineRequests[K]['in'] } }[EngineRequestType]
  | { readonly kind: 'collective-result'; readonly id: number; readonly out: CollectiveOut; readonly stats: CollectiveStats }
  | { readonly kind: 'collective-error'; readonly id: number; readonly error: ErrorData; readonly stats: CollectiveStats };

export type EngineEvent =
  | { readonly type: 'progress'; readonly progress: StepProgress }
  /** The clip's state after a step, in job-state.ts wire form (RenderIn.checkpoints). */
  | { readonly type: 'checkpoint'; readonly rank: number; readonly nextStep: number; readonly bytes: Uint8Array }
  | { readonly type: 'load-progress'; readonly loadedBytes: number; readonly totalBytes: number; readonly file: string };

export type CheckpointEvent = Extract<EngineEvent, { type: 'checkpoint' }>;

export type WorkerToMain =
  | { readonly kind: 'result'; readonly id: number; readonly out: unknown }
  | { readonly kind: 'error'; readonly id: number; readonly error: ErrorData }
  | { readonly kind: 'event'; readonly event: EngineEvent }
  | { readonly kind: 'collective'; readonly id: number; readonly op: CollectiveOp };

/** One collective call, as the proxy forwards it. */
export type CollectiveOp =
  | { readonly op: 'exchangeHalo'; readonly tag: MessageTag; readonly toLeft: WireTensor | null; readonly toRight: WireTensor | null }
  | { readonly op: 'allGather'; readonly tag: MessageTag; readonly mine: WireTensor }
  | { readonly op: 'allReduceSum'; readonly tag: MessageTag; readonly values: Float64Array }
  | { readonly op: 'barrier'; readonly tag: MessageTag }
  | { readonly op: 'send'; readonly toRank: number; readonly tag: MessageTag; readonly tensor: WireTensor }
  | { readonly op: 'recv'; readonly fromRank: number; readonly tag: MessageTag };

export type CollectiveOut =
  | { readonly op: 'exchangeHalo'; readonly halo: HaloResult }
  | { readonly op: 'allGather'; readonly tensors: WireTensor[] }
  | { readonly op: 'allReduceSum'; readonly values: Float64Array }
  | { readonly op: 'barrier' | 'send' }
  | { readonly op: 'recv'; readonly tensor: WireTensor };

/** Minimal port: a Worker, a DedicatedWorkerGlobalScope or a MessagePort. */
export interface PortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
}

/** The engine as the app sees it: implemented by EngineClient (main thread) over the worker. */
export interface Engine {
  loadModel(input: LoadModelIn): Promise<LoadModelOut>;
  measureSpeed(input: MeasureSpeedIn): Promise<MeasureSpeedOut>;
  encodePrompts(input: EncodePromptsIn): Promise<EncodePromptsOut>;
  render(input: RenderIn, onProgress?: (p: StepProgress) => void): Promise<RenderOut>;
  cancel(reason: string): Promise<void>;
  dispose(): void;
}

/** An error rebuilt from its data on this side of the boundary. */
export class EngineWorkerError extends Error {
  override readonly name = 'EngineWorkerError';
  constructor(
    readonly code: string,
    message: string,
    readonly rank?: number,
    readonly step?: number,
  ) {
    super(message);
  }
  static from(d: ErrorData): EngineWorkerError {
    return new EngineWorkerError(d.code, d.message, d.rank, d.step);
  }
}

export function toErrorData(e: unknown, extra: { rank?: number; step?: number } = {}): ErrorData {
  const err = e as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : err?.name === 'AbortError' ? 'aborted' : 'error';
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return { code, message, ...extra };
}

/** The buffers of tensors to hand over (each must own its whole buffer; see `ownBuffer`). */
export function transferablesOf(...tensors: (WireTensor | Float64Array | null | undefined)[]): Transferable[] {
  const out = new Set<ArrayBuffer>();
  for (const t of tensors) {
    if (!t) continue;
    const data = 'dtype' in t ? t.data : t;
    if (data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) out.add(data.buffer);
  }
  return [...out];
}
