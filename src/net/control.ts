/**
 * The app's control channel: typed JSON messages between the host tab and each worker tab over a
 * PeerJS 'json' connection labelled `vi-control`, separate from the binary tensor mesh
 * (STYLE rule 14). Every message is validated on receipt (`parseControlMessage`); errors cross as
 * data `{code, message, rank?, step?}` (rule 10).
 *
 * Authority: only the host may send commands (`HOST_COMMANDS`). A worker opens exactly one control
 * link, to the host peer id the room API gave it, and ignores commands from anything else.
 * Reports: only a member sends `member-report` (`MEMBER_REPORTS`); the host refuses one from
 * anything but a room member (acceptWorkers) and a worker refuses one from the host.
 * Job messages (those naming a job id) count only from that job's roster, each for the sender's
 * own rank (src/app/services/job-scope.ts): job ids are guessable and prove nothing.
 * To extend: add a message interface to `ControlMessage` and a validator to `VALIDATORS`; a
 * validator answers true, false, or why the message is malformed.
 */
import { CONTROL_LABEL, type PeerHub, type PeerLink } from './mesh/peer-hub.js';

/** Sent in `join` and `member-report`; a peer speaking another version is refused (reload the tab). */
export const CONTROL_VERSION = 4;
/**
 * Liveness of a control link, as the mesh's (MeshCollective heartbeatMs / peerLostMs): each side
 * pings every CONTROL_HEARTBEAT_MS and closes a link it has heard nothing on for CONTROL_SILENCE_MS.
 * Without it a host whose tab hangs with its connection up (ICE stays 'connected') is never noticed.
 */
export const CONTROL_HEARTBEAT_MS = 2_000;
export const CONTROL_SILENCE_MS = 15_000;
/** JSON control messages are small; anything bigger is a confused or hostile peer. */
export const MAX_CONTROL_CHARS = 64 * 1024;

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

export interface ErrorReport {
  readonly code: string;
  readonly message: string;
  readonly rank?: number;
  readonly step?: number;
}

/** How far a member's engine is outside any job: loading the model, timing one UNet call, ready, or failed. */
export type MemberReportPhase = 'loading' | 'measuring' | 'ready' | 'failed';
export type EngineBackend = 'webgpu' | 'wasm';

/** One timed UNet call (src/engine/worker/speed-benchmark.ts). */
export interface SpeedReport {
  /** The graph that was timed. */
  readonly graph: 'segmented' | 'whole';
  /** Clip length of the timed call, and its wall time (ms). */
  readonly frames: number;
  readonly unetMs: number;
  /** frames / (unetMs / 1000): frames of UNet work per second at the model's resolution. */
  readonly framesPerSecond: number;
}

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
export interface ClaimMessage { readonly type: 'claim'; readonly jobId: number; readonly rank: number }
export interface ProgressMessage { readonly type: 'progress'; readonly jobId: number; readonly rank: number; readonly phase: string; readonly done: number; readonly total: number }
export interface MeshCheckResultMessage { readonly type: 'mesh-check-result'; readonly jobId: number; readonly rank: number; readonly pairs: readonly PairMeasurement[] }
export interface ErrorMessage { readonly type: 'error'; readonly jobId?: number; readonly error: ErrorReport }
/** The engine this worker computes on (after loading the job's model). */
export interface EngineMessage { readonly type: 'engine'; readonly jobId: number; readonly rank: number; readonly provider: string; readonly fallbackReason?: string; readonly loadMs: number }
/**
 * A member's engine outside any job (sent at each phase change and during loading): which fields
 * a phase carries is fixed, and nothing else may appear.
 * - loading: `loadedBytes` ≤ `totalBytes`, both or neither (neither before the first byte);
 * - measuring: `backend`, `loadMs`, `fallbackReason?`;
 * - ready: as measuring, plus `speed`;
 * - failed: `error`, plus `backend`, `loadMs`, `fallbackReason?` when the model had loaded.
 */
export interface MemberReportMessage {
  readonly type: 'member-report';
  readonly v: number;
  readonly phase: MemberReportPhase;
  readonly loadedBytes?: number;
  readonly totalBytes?: number;
  readonly backend?: EngineBackend;
  /** Why the engine runs on WASM, in words. */
  readonly fallbackReason?: string;
  readonly loadMs?: number;
  readonly speed?: SpeedReport;
  readonly error?: string;
}
/** One finished denoising step of a render (src/app/job/): timings, bytes and a small x0 preview. */
export interface StepMessage {
  readonly type: 'step';
  readonly jobId: number;
  readonly rank: number;
  readonly step: number;
  readonly steps: number;
  readonly stepMs: number;
  readonly computeMs: number;
  readonly networkWaitMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** One preview frame, RGB bytes base64 (width×height×3), of global frame `previewFrame`. */
  readonly preview?: { readonly globalFrame: number; readonly width: number; readonly height: number; readonly rgbBase64: string };
}
/** A piece of a rank's encoded clip (serializeEncodedClip bytes, base64); the host joins `count` pieces. */
export interface ClipChunkMessage { readonly type: 'clip-chunk'; readonly jobId: number; readonly rank: number; readonly index: number; readonly count: number; readonly base64: string }
/**
 * A piece of a rank's checkpoint after a step (the engine's clip-state wire form, base64): the host
 * keeps the latest, so a lost tab's frames can be reassigned and the job resumed from that step.
 */
export interface CheckpointChunkMessage { readonly type: 'checkpoint-chunk'; readonly jobId: number; readonly rank: number; readonly nextStep: number; readonly index: number; readonly count: number; readonly base64: string }
/** Most chunks one checkpoint or resume state may have (×12 KiB: 192 MiB of base64). */
export const MAX_STATE_CHUNKS = 16_384;
/**
 * Base64 characters per clip chunk. PeerJS's 'json' connection refuses a message of 16,300
 * characters or more ("Message too big for JSON channel", util.chunkedMTU) and closes the link,
 * so a chunk plus its JSON envelope must stay under that.
 */
export const CLIP_CHUNK_BASE64_CHARS = 12 * 1024;
// ---- host → worker (commands)
/**
 * A render job as the host sends it (src/app/job/render-spec.ts builds and checks it; the engine
 * validates it again before use). Shapes only here: src/net knows nothing of UNets.
 */
export interface RenderTask {
  readonly kind: 'render';
  readonly packageUrl: string;
  readonly job: {
    readonly jobId: number;
    readonly totalFrames: number;
    readonly promptSchedule: { readonly entries: readonly { readonly fromFrame: number; readonly prompt: string }[] };
    readonly seed: number;
    readonly steps: number;
    readonly guidanceScale: number;
    readonly sampler: { readonly kind: 'ddim'; readonly eta: number } | { readonly kind: 'dpm-solver++-2m'; readonly algorithmType: 'dpmsolver++' | 'sde-dpmsolver++' };
    readonly dualScope: { readonly window: number; readonly topK: number; readonly phaseTimestep: number; readonly phaseBias: number };
    readonly fps: number;
    readonly partition: { readonly ranges: readonly { readonly start: number; readonly end: number }[] };
  };
  readonly export: { readonly codec: 'avc' | 'vp9' | 'vp8'; readonly scale: number };
  /** Resume after this many steps (1..steps) from the state the host sends in `resume-chunk`s (a restart after a lost member). */
  readonly resumeFromStep?: number;
}
export interface StartMessage {
  readonly type: 'start';
  readonly jobId: number;
  /** Peer ids by rank: the mesh to form. */
  readonly roster: readonly string[];
  readonly task: { readonly kind: 'mesh-check'; readonly probeBytes: number } | { readonly kind: 'mesh' } | RenderTask;
  /** Timeout of every collective operation in this job (default: the collective's). */
  readonly timeoutMs?: number;
}
/** A piece of the state a rank resumes from (RenderTask.resumeFromStep): the host's re-cut checkpoint, base64. */
export interface ResumeChunkMessage { readonly type: 'resume-chunk'; readonly jobId: number; readonly rank: number; readonly index: number; readonly count: number; readonly base64: string }
export interface CancelMessage { readonly type: 'cancel'; readonly jobId: number; readonly reason: string }
/** The longest `reason` a cancel may carry; a sender cuts it (an error's message may be longer), or the worker drops the cancel. */
export const MAX_CANCEL_REASON_CHARS = 1024;
/** The heartbeat; both sides send it, no handler sees it. */
export interface PingMessage { readonly type: 'ping' }

export type ControlMessage = JoinMessage | ClaimMessage | ProgressMessage | MeshCheckResultMessage | ErrorMessage | EngineMessage | MemberReportMessage | StepMessage | ClipChunkMessage | CheckpointChunkMessage | StartMessage | ResumeChunkMessage | CancelMessage | PingMessage;
export type ControlType = ControlMessage['type'];
export type ControlOf<T extends ControlType> = Extract<ControlMessage, { type: T }>;

export const HOST_COMMANDS: ReadonlySet<ControlType> = new Set<ControlType>(['start', 'resume-chunk', 'cancel']);
/** Only members send these; the host never does. */
export const MEMBER_REPORTS: ReadonlySet<ControlType> = new Set<ControlType>(['member-report']);

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    readonly code: 'bad-message' | 'not-host' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- validation

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUint = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length <= max;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function isAdapter(a: unknown): boolean {
  if (!isObj(a) || (a.backend !== 'webgpu' && a.backend !== 'wasm')) return false;
  for (const k of ['reason', 'vendor', 'architecture', 'device', 'description']) if (a[k] !== undefined && !isStr(a[k], 512)) return false;
  if (a.limits !== undefined && (!isObj(a.limits) || !Object.values(a.limits).every(isNum))) return false;
  return true;
}
const isError = (e: unknown) => isObj(e) && isStr(e.code, 64) && isStr(e.message, 4096) && (e.rank === undefined || isUint(e.rank)) && (e.step === undefined || isUint(e.step));
const isPair = (p: unknown) => isObj(p) && isUint(p.fromRank) && isUint(p.toRank) && isNum(p.rttMs) && isNum(p.mbPerS);
const isBase64 = (v: unknown, max: number) => isStr(v, max) && /^[A-Za-z0-9+/]*={0,2}$/.test(v as string);
const isPreview = (p: unknown) => isObj(p) && isUint(p.globalFrame) && isUint(p.width) && isUint(p.height) && (p.width as number) * (p.height as number) <= 128 * 128 && isBase64(p.rgbBase64, 4 * 128 * 128);
/** Piece `index` of `count` (at most maxCount) of a base64 blob. */
const isChunk = (m: Obj, maxCount: number) => isUint(m.index) && isUint(m.count) && (m.count as number) >= 1 && (m.count as number) <= maxCount && (m.index as number) < (m.count as number) && isBase64(m.base64, CLIP_CHUNK_BASE64_CHARS);
const isSampler = (s: unknown) => isObj(s) && ((s.kind === 'ddim' && isNum(s.eta)) || (s.kind === 'dpm-solver++-2m' && (s.algorithmType === 'dpmsolver++' || s.algorithmType === 'sde-dpmsolver++')));
function isRenderTask(t: Obj): boolean {
  const j = t.job;
  if (!isStr(t.packageUrl, 1024) || !isObj(j) || !isObj(t.export)) return false;
  const e = t.export;
  if (!['avc', 'vp9', 'vp8'].includes(e.codec as string) || !isUint(e.scale) || (e.scale as number) < 1 || (e.scale as number) > 16) return false;
  const ps = j.promptSchedule;
  const ds = j.dualScope;
  const part = j.partition;
  return (
    isUint(j.jobId) && isUint(j.totalFrames) && (j.totalFrames as number) >= 1 && (j.totalFrames as number) <= 100_000 && isUint(j.seed) && isUint(j.steps) && (j.steps as number) >= 1 && (j.steps as number) <= 1000 &&
    isNum(j.guidanceScale) && isNum(j.fps) && isSampler(j.sampler) &&
    isObj(ps) && Array.isArray(ps.entries) && ps.entries.length >= 1 && ps.entries.length <= 256 && ps.entries.every((x) => isObj(x) && isUint(x.fromFrame) && isStr(x.prompt, 1024)) &&
    isObj(ds) && isUint(ds.window) && isUint(ds.topK) && isNum(ds.phaseTimestep) && isNum(ds.phaseBias) &&
    (t.resumeFromStep === undefined || (isUint(t.resumeFromStep) && t.resumeFromStep >= 1 && t.resumeFromStep <= (j.steps as number))) &&
    isObj(part) && Array.isArray(part.ranges) && part.ranges.length >= 1 && part.ranges.length <= 64 && part.ranges.every((r) => isObj(r) && isUint(r.start) && isUint(r.end))
  );
}

/** A received value in an error message: numbers and the start of strings as they are, else the type. */
const shown = (v: unknown) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const versionProblem = (v: unknown) => (v === CONTROL_VERSION ? undefined : `control version ${shown(v)}, this tab speaks ${CONTROL_VERSION} (reload the tab)`);

const REPORT_FIELDS: Readonly<Record<MemberReportPhase, { readonly required: readonly string[]; readonly optional: readonly string[] }>> = {
  loading: { required: [], optional: ['loadedBytes', 'totalBytes'] },
  measuring: { required: ['backend', 'loadMs'], optional: ['fallbackReason'] },
  ready: { required: ['backend', 'loadMs', 'speed'], optional: ['fallbackReason'] },
  failed: { required: ['error'], optional: ['backend', 'loadMs', 'fallbackReason'] },
};
const SPEED_FIELDS = ['graph', 'frames', 'unetMs', 'framesPerSecond'];
const inRange = (v: unknown, min: number, max: number): v is number => isNum(v) && v >= min && v <= max;
const positive = (v: unknown, max: number): v is number => isNum(v) && v > 0 && v <= max;

/** Why `r` is not a member report of the phase it names; undefined when it is one. */
function memberReportProblem(r: Obj): string | undefined {
  const L = MEMBER_REPORT_LIMITS;
  const version = versionProblem(r.v);
  if (version) return version;
  if (typeof r.phase !== 'string' || !Object.hasOwn(REPORT_FIELDS, r.phase)) return `unknown phase ${shown(r.phase)}`;
  const phase = r.phase as MemberReportPhase;
  const { required, optional } = REPORT_FIELDS[phase];
  for (const k of Object.keys(r)) if (k !== 'type' && k !== 'v' && k !== 'phase' && !required.includes(k) && !optional.includes(k)) return `field '${k.slice(0, 40)}' is not part of a '${phase}' report`;
  for (const k of required) if (r[k] === undefined) return `a '${phase}' report needs '${k}'`;
  if ((r.loadedBytes === undefined) !== (r.totalBytes === undefined)) return 'loadedBytes and totalBytes come together';
  if (r.totalBytes !== undefined) {
    if (!Number.isSafeInteger(r.totalBytes) || !inRange(r.totalBytes, 0, L.maxBytes)) return `totalBytes ${shown(r.totalBytes)}: an integer in [0, ${L.maxBytes}]`;
    if (!Number.isSafeInteger(r.loadedBytes) || !inRange(r.loadedBytes, 0, r.totalBytes)) return `loadedBytes ${shown(r.loadedBytes)}: an integer in [0, totalBytes]`;
  }
  if (r.backend !== undefined && r.backend !== 'webgpu' && r.backend !== 'wasm') return `backend ${shown(r.backend)}: webgpu or wasm`;
  if (r.loadMs !== undefined && !inRange(r.loadMs, 0, L.maxMs)) return `loadMs ${shown(r.loadMs)}: a number in [0, ${L.maxMs}]`;
  if (r.fallbackReason !== undefined && !isStr(r.fallbackReason, L.fallbackReasonChars)) return `fallbackReason: a string of at most ${L.fallbackReasonChars} characters`;
  if (r.error !== undefined && !isStr(r.error, L.errorChars)) return `error: a string of at most ${L.errorChars} characters`;
  if (r.speed !== undefined) {
    const s = r.speed;
    if (!isObj(s)) return 'speed: an object';
    for (const k of Object.keys(s)) if (!SPEED_FIELDS.includes(k)) return `field 'speed.${k.slice(0, 40)}' is unknown`;
    if (s.graph !== 'segmented' && s.graph !== 'whole') return `speed.graph ${shown(s.graph)}: segmented or whole`;
    if (!Number.isInteger(s.frames) || !inRange(s.frames, 1, L.maxFrames)) return `speed.frames ${shown(s.frames)}: an integer in [1, ${L.maxFrames}]`;
    if (!positive(s.unetMs, L.maxMs)) return `speed.unetMs ${shown(s.unetMs)}: a number in (0, ${L.maxMs}]`;
    if (!positive(s.framesPerSecond, L.maxFramesPerSecond)) return `speed.framesPerSecond ${shown(s.framesPerSecond)}: a finite number in (0, ${L.maxFramesPerSecond}]`;
  }
  return undefined;
}

/** true: well-formed; false or a reason: malformed. */
const VALIDATORS: Record<ControlType, (m: Obj) => boolean | string> = {
  join: (m) => versionProblem(m.v) ?? (isStr(m.name, 64) && isAdapter(m.adapter)),
  claim: (m) => isUint(m.jobId) && isUint(m.rank),
  progress: (m) => isUint(m.jobId) && isUint(m.rank) && isStr(m.phase, 64) && isUint(m.done) && isUint(m.total),
  'mesh-check-result': (m) => isUint(m.jobId) && isUint(m.rank) && Array.isArray(m.pairs) && m.pairs.length <= 64 && m.pairs.every(isPair),
  error: (m) => (m.jobId === undefined || isUint(m.jobId)) && isError(m.error),
  engine: (m) => isUint(m.jobId) && isUint(m.rank) && isStr(m.provider, 32) && (m.fallbackReason === undefined || isStr(m.fallbackReason, 1024)) && isNum(m.loadMs),
  'member-report': (m) => memberReportProblem(m) ?? true,
  step: (m) =>
    isUint(m.jobId) && isUint(m.rank) && isUint(m.step) && isUint(m.steps) && [m.stepMs, m.computeMs, m.networkWaitMs].every(isNum) && isUint(m.bytesSent) && isUint(m.bytesReceived) && (m.preview === undefined || isPreview(m.preview)),
  'clip-chunk': (m) => isUint(m.jobId) && isUint(m.rank) && isChunk(m, 4096),
  'checkpoint-chunk': (m) => isUint(m.jobId) && isUint(m.rank) && isUint(m.nextStep) && (m.nextStep as number) <= 1000 && isChunk(m, MAX_STATE_CHUNKS),
  'resume-chunk': (m) => isUint(m.jobId) && isUint(m.rank) && isChunk(m, MAX_STATE_CHUNKS),
  start: (m) =>
    isUint(m.jobId) &&
    Array.isArray(m.roster) &&
    m.roster.length >= 1 &&
    m.roster.length <= 64 &&
    m.roster.every((p) => isStr(p, 128)) &&
    isObj(m.task) &&
    ((m.task.kind === 'mesh-check' && isUint(m.task.probeBytes) && m.task.probeBytes <= 64 * 1024 * 1024) || m.task.kind === 'mesh' || (m.task.kind === 'render' && isRenderTask(m.task))) &&
    (m.timeoutMs === undefined || (isUint(m.timeoutMs) && m.timeoutMs >= 100 && m.timeoutMs <= 3_600_000)),
  cancel: (m) => isUint(m.jobId) && isStr(m.reason, MAX_CANCEL_REASON_CHARS),
  ping: (m) => Object.keys(m).length === 1,
};

/** Validates one untrusted message; throws ControlError('bad-message'). */
export function parseControlMessage(raw: unknown): ControlMessage {
  const m = typeof raw === 'string' ? safeJson(raw) : raw;
  if (!isObj(m) || typeof m.type !== 'string' || !Object.hasOwn(VALIDATORS, m.type)) {
    throw new ControlError('bad-message', `unknown control message type ${isObj(m) ? JSON.stringify(m.type)?.slice(0, 40) : typeof m}`);
  }
  if (JSON.stringify(m).length > MAX_CONTROL_CHARS) throw new ControlError('bad-message', `control message over ${MAX_CONTROL_CHARS} characters`);
  const verdict = VALIDATORS[m.type as ControlType](m);
  if (verdict !== true) throw new ControlError('bad-message', `malformed '${m.type}' message${typeof verdict === 'string' ? `: ${verdict}` : ''}`);
  return m as unknown as ControlMessage;
}

function safeJson(s: string): unknown {
  if (s.length > MAX_CONTROL_CHARS) throw new ControlError('bad-message', `control message over ${MAX_CONTROL_CHARS} characters`);
  try {
    return JSON.parse(s);
  } catch {
    throw new ControlError('bad-message', 'control message is not JSON');
  }
}

export function toErrorReport(e: unknown, extra: { rank?: number; step?: number } = {}): ErrorReport {
  const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : 'error';
  return { code, message: e instanceof Error ? e.message : String(e), ...extra };
}

// ---------------------------------------------------------------- endpoints

type Handler = (m: ControlMessage, from: string) => void;

export interface ControlLiveness {
  readonly heartbeatMs?: number;
  readonly silenceMs?: number;
}

/**
 * One control link with validation and a heartbeat; `farSideIsHost` says whether the far side may
 * send commands. The link is closed ("silent for N ms") once nothing has arrived for silenceMs.
 */
export class ControlEndpoint {
  private readonly handlers: Handler[] = [];
  private readonly errorHandlers: ((e: ControlError, from: string) => void)[] = [];

  constructor(
    readonly link: PeerLink,
    private readonly farSideIsHost: boolean,
    liveness: ControlLiveness = {},
  ) {
    link.keepAlive({
      intervalMs: liveness.heartbeatMs ?? CONTROL_HEARTBEAT_MS,
      silenceMs: liveness.silenceMs ?? CONTROL_SILENCE_MS,
      ping: () => void link.conn.send({ type: 'ping' } satisfies PingMessage),
    });
  }

  get peerId(): string {
    return this.link.peerId;
  }

  send(m: ControlMessage): void {
    if (this.link.isClosed) throw new ControlError('closed', `control link to ${this.peerId} is closed`);
    void this.link.conn.send(m);
  }

  /** The first handler starts delivery, including messages that arrived before it (the link buffers them). */
  onMessage(h: Handler): void {
    this.handlers.push(h);
    if (this.handlers.length === 1) this.link.setDataHandler((raw) => this.onRaw(raw));
  }

  onError(h: (e: ControlError, from: string) => void): void {
    this.errorHandlers.push(h);
  }

  private onRaw(raw: unknown): void {
    let m: ControlMessage;
    try {
      m = parseControlMessage(raw);
      if (HOST_COMMANDS.has(m.type) && !this.farSideIsHost) throw new ControlError('not-host', `'${m.type}' from ${this.peerId} ignored: only the host sends commands`);
      if (MEMBER_REPORTS.has(m.type) && this.farSideIsHost) throw new ControlError('bad-message', `'${m.type}' from the host ${this.peerId} ignored: only members report`);
    } catch (e) {
      const err = e instanceof ControlError ? e : new ControlError('bad-message', String(e));
      for (const h of this.errorHandlers) h(err, this.peerId);
      return;
    }
    if (m.type === 'ping') return; // liveness only: PeerLink.lastDataAt has seen it
    for (const h of this.handlers) h(m, this.peerId);
  }
}

/** Worker side: refuse every incoming control link (nobody may command this tab over a link it did not dial). */
export function refuseControlLinks(hub: PeerHub): void {
  hub.onIncoming((link) => {
    if (link.label !== CONTROL_LABEL) return false;
    link.close();
    return true;
  });
}

/**
 * Worker side: dial the host's control link. Rejects when it does not open within `timeoutMs` (a host
 * page that is gone or not back yet: PeerJS itself may never settle such a dial). Call
 * `refuseControlLinks` once per hub as well.
 */
export async function connectToHost(hub: PeerHub, hostPeerId: string, timeoutMs: number): Promise<ControlEndpoint> {
  const link = hub.dial(hostPeerId, CONTROL_LABEL, 'json');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the host did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([link.opened, silence]);
  } catch (e) {
    link.close('the host did not answer');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return new ControlEndpoint(link, true);
}

/** Host side: accept control links from room members only (`isMember` asks the room API). */
export function acceptWorkers(hub: PeerHub, isMember: (peerId: string) => Promise<boolean>, onWorker: (ep: ControlEndpoint) => void): void {
  hub.onIncoming((link) => {
    if (link.label !== CONTROL_LABEL) return false;
    void Promise.all([isMember(link.peerId), link.opened]).then(
      ([member]) => (member ? onWorker(new ControlEndpoint(link, false)) : link.close()),
      () => link.close(),
    );
    return true;
  });
}
