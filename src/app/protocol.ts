/**
 * The app's protocol: every JSON message between the host tab and a worker tab, over the control
 * link (src/net/control-link.ts), which checks each with FROM_HOST or FROM_MEMBER
 * (protocol-check.ts). Two ids, never mixed up: `meshJobId` is the host's id of a job on the mesh
 * (start, claim, error, cancel, a mesh check's result); `renderJobId` is a render attempt's id,
 * the engine's job id that tags its tensors too (engine, step; the bulk link's checkpoint, clip and
 * resume blobs).
 *
 * Authority: only the host sends commands (`HOST_COMMANDS`); only a member sends a
 * `member-report`. Job messages count only from that job's roster, each for the sender's own rank
 * (src/app/services/job-scope.ts): ids are guessable and prove nothing.
 * Errors cross as data (the engine's `ErrorData`: `{code, message, rank?, step?}`), never as text
 * that loses the code.
 */
import type { JobParams } from '../engine/job-state.js';
import type { ErrorData } from '../engine/worker/protocol.js';
import type { SpeedMeasurement } from '../engine/worker/speed-benchmark.js';
import type { Partition } from '../engine/partition.js';

/** Sent in `join` and `member-report`; a peer speaking another version is refused (reload the tab). */
export const CONTROL_VERSION = 6; // 6: member-report carries `compute`

/** What a worker reports about its GPU (or its lack of one). */
export interface AdapterReport {
  readonly backend: 'webgpu' | 'wasm';
  /** Why there is no WebGPU, when backend is wasm. */
  readonly reason?: string;
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
  readonly shaderF16?: boolean;
  readonly limits?: Readonly<Record<string, number>>;
}

export interface PairMeasurement {
  readonly fromRank: number;
  readonly toRank: number;
  readonly rttMs: number;
  readonly mbPerS: number;
}


/** How far a tab's engine is outside any job: loading the model, timing one UNet call, ready, or failed (one type: the tab, the host's tables and the wire). */
export type EnginePhase = 'loading' | 'measuring' | 'ready' | 'failed';
export type EngineBackend = 'webgpu' | 'wasm';
/** The UNet graph set a member runs (src/engine/engine-model.ts UNetCompute). */
export type EngineCompute = 'float32' | 'float16';

/** One timed UNet call, as the engine measured it (speed-benchmark.ts), without its warm-up time. */
export type SpeedReport = Omit<SpeedMeasurement, 'warmUpMs'>;

/** Bounds of a `member-report`; a sender cuts its texts to these, a receiver refuses anything beyond. */
export const MEMBER_REPORT_LIMITS = {
  /** Model package bytes (loadedBytes, totalBytes). */
  maxBytes: 2 ** 40,
  /** loadMs and unetMs: an hour. */
  maxMs: 3_600_000,
  maxFrames: 4096,
  /** No browser tab runs a UNet a million frames per second; a bigger speed would skew the partition. */
  maxFramesPerSecond: 1e6,
  fallbackReasonChars: 1024,
  errorChars: 2048,
} as const;

export interface JoinMessage { readonly type: 'join'; readonly v: number; readonly name: string; readonly adapter: AdapterReport }
export interface ClaimMessage { readonly type: 'claim'; readonly meshJobId: number; readonly rank: number }
export interface MeshCheckResultMessage { readonly type: 'mesh-check-result'; readonly meshJobId: number; readonly rank: number; readonly pairs: readonly PairMeasurement[] }
export interface ErrorMessage { readonly type: 'error'; readonly meshJobId?: number; readonly error: ErrorData }
/** The engine this worker computes on (after loading the job's model). */
export interface EngineMessage { readonly type: 'engine'; readonly renderJobId: number; readonly rank: number; readonly provider: string; readonly fallbackReason?: string; readonly loadMs: number }
/**
 * A member's engine outside any job (sent at each phase change and during loading): which fields
 * a phase carries is fixed, and nothing else may appear.
 * - loading: `loadedBytes` ≤ `totalBytes`, both or neither (neither before the first byte);
 * - measuring: `backend`, `loadMs`, `compute?`, `fallbackReason?`;
 * - ready: as measuring, plus `speed`;
 * - failed: `error`, plus `backend`, `loadMs`, `compute?`, `fallbackReason?` when the model had loaded.
 */
export interface MemberReportMessage {
  readonly type: 'member-report';
  readonly v: number;
  readonly phase: EnginePhase;
  readonly loadedBytes?: number;
  readonly totalBytes?: number;
  readonly backend?: EngineBackend;
  readonly compute?: EngineCompute;
  /** Why the engine runs on WASM, in words. */
  readonly fallbackReason?: string;
  readonly loadMs?: number;
  readonly speed?: SpeedReport;
  readonly error?: string;
}
/** One finished denoising step of a render (src/app/job/): timings, bytes and a small x0 preview. */
export interface StepMessage {
  readonly type: 'step';
  readonly renderJobId: number;
  readonly rank: number;
  readonly step: number;
  readonly steps: number;
  readonly stepMs: number;
  readonly computeMs: number;
  readonly networkWaitMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Bytes of this step's checkpoint the rank sent the host (bulk link; the step statistics show them). */
  readonly checkpointBytes: number;
  /** One preview frame, RGB bytes base64 (width×height×3), of global frame `previewFrame`. */
  readonly preview?: { readonly globalFrame: number; readonly width: number; readonly height: number; readonly rgbBase64: string };
}
/**
 * A rank's blob for the host, over the bulk link (src/net/bulk-link.ts; binary, never JSON): the
 * clip's state after `nextStep` steps (the engine's clip-state wire form; the host keeps the
 * latest, so a lost tab's frames can be reassigned and the job resumed from that step), or its
 * encoded clip (serializeEncodedClip bytes).
 */
export type RenderBlob =
  | { readonly type: 'checkpoint'; readonly renderJobId: number; readonly rank: number; readonly nextStep: number; readonly bytes: Uint8Array }
  | { readonly type: 'clip'; readonly renderJobId: number; readonly rank: number; readonly bytes: Uint8Array };
// ---- host → worker (commands)
/**
 * A render as the host sends it: the engine's job (checked with the engine's own parseJobParams),
 * the package to render it with and how to encode the clips.
 */
export interface RenderTask {
  readonly kind: 'render';
  readonly packageUrl: string;
  /** Its partition is always given: the host shares the frames. */
  readonly job: JobParams & { readonly partition: Partition };
  readonly export: { readonly codec: 'avc' | 'vp9' | 'vp8'; readonly scale: number };
  /** Resume after this many steps (1..steps) from the state the host sends over the bulk link (a restart after a lost member). */
  readonly resumeFromStep?: number;
}
export interface StartMessage {
  readonly type: 'start';
  /** The host's id of this job: its claims, errors, results and cancel carry it. */
  readonly meshJobId: number;
  /** Peer ids by rank: the mesh to form. */
  readonly roster: readonly string[];
  readonly task: { readonly kind: 'mesh-check'; readonly probeBytes: number } | { readonly kind: 'mesh' } | RenderTask;
  /** Timeout of every collective operation in this job (default: the collective's). */
  readonly timeoutMs?: number;
}
export interface CancelMessage { readonly type: 'cancel'; readonly meshJobId: number; readonly reason: string }
/** The longest `reason` a cancel may carry; a sender cuts it (an error's message may be longer), or the worker drops the cancel. */
export const MAX_CANCEL_REASON_CHARS = 1024;
/** The heartbeat; both sides send it, no handler sees it. */
export interface PingMessage { readonly type: 'ping' }

export type ControlMessage = JoinMessage | ClaimMessage | MeshCheckResultMessage | ErrorMessage | EngineMessage | MemberReportMessage | StepMessage | StartMessage | CancelMessage | PingMessage;
export type ControlType = ControlMessage['type'];
export type ControlOf<T extends ControlType> = Extract<ControlMessage, { type: T }>;

export const HOST_COMMANDS: ReadonlySet<ControlType> = new Set<ControlType>(['start', 'cancel']);
/** Only members send these; the host never does. */
export const MEMBER_REPORTS: ReadonlySet<ControlType> = new Set<ControlType>(['member-report']);
