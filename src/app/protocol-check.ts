/**
 * The check of every control message that arrives (src/app/protocol.ts says what each means): its
 * fields, types and bounds, per type; a render task's job with the engine's own parseJobParams.
 * A validator answers true, false, or why the message is malformed. To extend the protocol: add a
 * message to `ControlMessage` and its validator to `VALIDATORS` (a type without one does not compile).
 */
import { parseJobParams } from '../engine/job-params.js';
import { ControlError, readControlMessage, type ControlEndpoint, type ControlProtocol } from '../net/control-link.js';
import {
  CONTROL_VERSION, HOST_COMMANDS, MAX_CANCEL_REASON_CHARS, MEMBER_REPORT_LIMITS, MEMBER_REPORTS,
  type ControlMessage, type ControlType, type EnginePhase, type PingMessage,
} from './protocol.js';


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
/** Why `t` is not a render task; undefined when it is one. The job is the engine's, checked by the engine's parseJobParams. */
function renderTaskProblem(t: Obj): string | undefined {
  if (!isStr(t.packageUrl, 1024) || !isObj(t.export)) return 'packageUrl and export are required';
  const e = t.export;
  if (!['avc', 'vp9', 'vp8'].includes(e.codec as string) || !isUint(e.scale) || (e.scale as number) < 1 || (e.scale as number) > 16) return 'export: codec avc, vp9 or vp8 and a scale in [1, 16]';
  try {
    const job = parseJobParams(t.job, 'render task');
    if (job.partition === null) return 'a render task names its partition';
    if (t.resumeFromStep !== undefined && !(isUint(t.resumeFromStep) && t.resumeFromStep >= 1 && t.resumeFromStep <= job.steps)) return `resumeFromStep ${shown(t.resumeFromStep)}: an integer in [1, steps]`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return undefined;
}

/** A received value in an error message: numbers and the start of strings as they are, else the type. */
const shown = (v: unknown) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const versionProblem = (v: unknown) => (v === CONTROL_VERSION ? undefined : `control version ${shown(v)}, this tab speaks ${CONTROL_VERSION} (reload the tab)`);

const REPORT_FIELDS: Readonly<Record<EnginePhase, { readonly required: readonly string[]; readonly optional: readonly string[] }>> = {
  loading: { required: [], optional: ['loadedBytes', 'totalBytes'] },
  measuring: { required: ['backend', 'loadMs'], optional: ['compute', 'fallbackReason'] },
  ready: { required: ['backend', 'loadMs', 'speed'], optional: ['compute', 'fallbackReason'] },
  failed: { required: ['error'], optional: ['backend', 'loadMs', 'compute', 'fallbackReason'] },
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
  const phase = r.phase as EnginePhase;
  const { required, optional } = REPORT_FIELDS[phase];
  for (const k of Object.keys(r)) if (k !== 'type' && k !== 'v' && k !== 'phase' && !required.includes(k) && !optional.includes(k)) return `field '${k.slice(0, 40)}' is not part of a '${phase}' report`;
  for (const k of required) if (r[k] === undefined) return `a '${phase}' report needs '${k}'`;
  if ((r.loadedBytes === undefined) !== (r.totalBytes === undefined)) return 'loadedBytes and totalBytes come together';
  if (r.totalBytes !== undefined) {
    if (!Number.isSafeInteger(r.totalBytes) || !inRange(r.totalBytes, 0, L.maxBytes)) return `totalBytes ${shown(r.totalBytes)}: an integer in [0, ${L.maxBytes}]`;
    if (!Number.isSafeInteger(r.loadedBytes) || !inRange(r.loadedBytes, 0, r.totalBytes)) return `loadedBytes ${shown(r.loadedBytes)}: an integer in [0, totalBytes]`;
  }
  if (r.backend !== undefined && r.backend !== 'webgpu' && r.backend !== 'wasm') return `backend ${shown(r.backend)}: webgpu or wasm`;
  if (r.compute !== undefined && r.compute !== 'float32' && r.compute !== 'float16') return `compute ${shown(r.compute)}: float32 or float16`;
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
  claim: (m) => isUint(m.meshJobId) && isUint(m.rank),
  'mesh-check-result': (m) => isUint(m.meshJobId) && isUint(m.rank) && Array.isArray(m.pairs) && m.pairs.length <= 64 && m.pairs.every(isPair),
  error: (m) => (m.meshJobId === undefined || isUint(m.meshJobId)) && isError(m.error),
  engine: (m) => isUint(m.renderJobId) && isUint(m.rank) && isStr(m.provider, 32) && (m.fallbackReason === undefined || isStr(m.fallbackReason, 1024)) && isNum(m.loadMs),
  'member-report': (m) => memberReportProblem(m) ?? true,
  step: (m) =>
    isUint(m.renderJobId) && isUint(m.rank) && isUint(m.step) && isUint(m.steps) && [m.stepMs, m.computeMs, m.networkWaitMs].every(isNum) && isUint(m.bytesSent) && isUint(m.bytesReceived) && isUint(m.checkpointBytes) && (m.preview === undefined || isPreview(m.preview)),
  start: (m) => {
    const shape =
      isUint(m.meshJobId) && Array.isArray(m.roster) && m.roster.length >= 1 && m.roster.length <= 64 && m.roster.every((p) => isStr(p, 128)) && isObj(m.task) &&
      ((m.task.kind === 'mesh-check' && isUint(m.task.probeBytes) && m.task.probeBytes <= 64 * 1024 * 1024) || m.task.kind === 'mesh' || m.task.kind === 'render') &&
      (m.timeoutMs === undefined || (isUint(m.timeoutMs) && m.timeoutMs >= 100 && m.timeoutMs <= 3_600_000));
    if (!shape) return false;
    return (m.task as Obj).kind === 'render' ? (renderTaskProblem(m.task as Obj) ?? true) : true;
  },
  cancel: (m) => isUint(m.meshJobId) && isStr(m.reason, MAX_CANCEL_REASON_CHARS),
  ping: (m) => Object.keys(m).length === 1,
};

/** Checks one message object (its size already capped by the link); throws ControlError('bad-message'). */
function checkMessage(m: Readonly<Record<string, unknown>>): ControlMessage {
  if (typeof m.type !== 'string' || !Object.hasOwn(VALIDATORS, m.type)) throw new ControlError('bad-message', `unknown control message type ${JSON.stringify(m.type)?.slice(0, 40)}`);
  const verdict = VALIDATORS[m.type as ControlType](m as Obj);
  if (verdict !== true) throw new ControlError('bad-message', `malformed '${m.type}' message${typeof verdict === 'string' ? `: ${verdict}` : ''}`);
  return m as unknown as ControlMessage;
}

const PING: PingMessage = { type: 'ping' };
const isPing = (m: ControlMessage) => m.type === 'ping';

/** One untrusted message, a JSON string or already parsed: size, JSON, fields; throws ControlError('bad-message'). */
export function parseControlMessage(raw: unknown): ControlMessage {
  return readControlMessage(raw, { ping: PING, isPing, parse: checkMessage });
}

/** What a worker accepts from the host: any well-formed message but a member's report. */
export const FROM_HOST: ControlProtocol<ControlMessage> = {
  ping: PING,
  isPing,
  parse: (raw) => {
    const m = checkMessage(raw);
    if (MEMBER_REPORTS.has(m.type)) throw new ControlError('not-allowed', `'${m.type}' from the host ignored: only members report`);
    return m;
  },
};

/** What the host accepts from a member: any well-formed message but a command. */
export const FROM_MEMBER: ControlProtocol<ControlMessage> = {
  ping: PING,
  isPing,
  parse: (raw) => {
    const m = checkMessage(raw);
    if (HOST_COMMANDS.has(m.type)) throw new ControlError('not-allowed', `'${m.type}' ignored: only the host sends commands`);
    return m;
  },
};

/** A control link as the app uses it. */
export type AppControlLink = ControlEndpoint<ControlMessage>;
