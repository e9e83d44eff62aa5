/**
 * A member's engine outside any job ("standing report"): loading the model, measuring its speed,
 * ready on a backend at a measured speed, or failed. Worker → host over the control channel.
 *
 * It rides on existing control messages (src/net/control.ts is not the app's to change), marked by
 * jobId 0, which never names a job (HostService numbers jobs from 1, render ids start at 1):
 * - `progress` {jobId 0, phase 'loading-model' | 'measuring', done, total}: bytes read so far;
 * - `engine` {jobId 0, provider, loadMs, fallbackReason?} plus the app's field `speed`;
 * - `error` without a jobId, code 'model-load-failed'.
 * The net layer validated the base fields; `readMemberEngineReport` validates the rest, since all
 * network bytes are untrusted.
 */
import { ControlError, type ControlMessage, type EngineMessage } from '../../net/control.js';

export const NO_JOB = 0;
export const MODEL_LOAD_FAILED = 'model-load-failed';

export interface MemberSpeed {
  /** The graph that was timed ('segmented' on workers and the host alike). */
  readonly graph: 'segmented' | 'whole';
  /** Clip length of the timed UNet call, and its wall time. */
  readonly frames: number;
  readonly unetMs: number;
  /** frames / unetMs: frames of UNet work (CFG batch) per second at the model's resolution. */
  readonly framesPerSecond: number;
}

export type MemberEnginePhase = 'loading-model' | 'measuring' | 'ready' | 'failed';

/** What the host knows of a member's engine. */
export interface MemberEngine {
  readonly phase: MemberEnginePhase;
  readonly loadedBytes?: number;
  readonly totalBytes?: number;
  readonly provider?: string;
  readonly fallbackReason?: string;
  readonly loadMs?: number;
  readonly speed?: MemberSpeed;
  readonly error?: string;
}

/** The `engine` message of a standing report: EngineMessage plus the app's `speed`. */
export type ReadyReportMessage = EngineMessage & { readonly speed: MemberSpeed };

/** Worker side: the message that tells the host about `m` (undefined while idle). */
export function memberEngineMessage(m: MemberEngine): ControlMessage | undefined {
  switch (m.phase) {
    case 'loading-model':
      return { type: 'progress', jobId: NO_JOB, rank: 0, phase: m.phase, done: Math.round(m.loadedBytes ?? 0), total: Math.round(m.totalBytes ?? 0) };
    case 'measuring':
      return { type: 'progress', jobId: NO_JOB, rank: 0, phase: m.phase, done: 0, total: 1 };
    case 'ready': {
      if (!m.speed) return undefined;
      const s = m.speed;
      const ready: ReadyReportMessage = {
        type: 'engine', jobId: NO_JOB, rank: 0, provider: m.provider ?? 'unknown', loadMs: m.loadMs ?? 0,
        ...(m.fallbackReason && { fallbackReason: m.fallbackReason.slice(0, 1000) }),
        speed: { graph: s.graph, frames: s.frames, unetMs: s.unetMs, framesPerSecond: s.framesPerSecond },
      };
      return ready;
    }
    case 'failed':
      return { type: 'error', error: { code: MODEL_LOAD_FAILED, message: (m.error ?? 'the model did not load').slice(0, 4000) } };
  }
}

const isCount = (v: unknown, max: number): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
const isPositive = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= max;

function readSpeed(v: unknown): MemberSpeed {
  const s = v as Record<string, unknown> | null;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new ControlError('bad-message', "malformed standing 'engine' report: no speed");
  if ((s.graph !== 'segmented' && s.graph !== 'whole') || !isCount(s.frames, 4096) || !isPositive(s.unetMs, 3_600_000) || !isPositive(s.framesPerSecond, 1e9)) {
    throw new ControlError('bad-message', "malformed standing 'engine' report: speed needs graph, frames in [1, 4096], unetMs and framesPerSecond > 0");
  }
  return { graph: s.graph, frames: s.frames, unetMs: s.unetMs, framesPerSecond: s.framesPerSecond };
}

/**
 * Host side: the member's engine after `m`, or undefined if `m` is not a standing report.
 * Throws ControlError('bad-message') for a malformed one. Only known fields are copied.
 */
export function readMemberEngineReport(m: ControlMessage, before: MemberEngine | undefined): MemberEngine | undefined {
  if (m.type === 'progress' && m.jobId === NO_JOB) {
    if (m.phase !== 'loading-model' && m.phase !== 'measuring') throw new ControlError('bad-message', `standing 'progress' report with unknown phase ${JSON.stringify(m.phase)}`);
    if (m.phase === 'measuring') return { ...keepEngine(before), phase: 'measuring' };
    return { phase: 'loading-model', loadedBytes: Math.min(m.done, m.total || m.done), totalBytes: m.total };
  }
  if (m.type === 'engine' && m.jobId === NO_JOB) {
    const speed = readSpeed((m as Partial<ReadyReportMessage>).speed);
    return { phase: 'ready', provider: m.provider, loadMs: m.loadMs, ...(m.fallbackReason !== undefined && { fallbackReason: m.fallbackReason }), speed };
  }
  if (m.type === 'error' && m.jobId === undefined && m.error.code === MODEL_LOAD_FAILED) return { ...keepEngine(before), phase: 'failed', error: m.error.message };
  return undefined;
}

function keepEngine(before: MemberEngine | undefined): Partial<MemberEngine> {
  return before?.provider !== undefined ? { provider: before.provider, ...(before.fallbackReason !== undefined && { fallbackReason: before.fallbackReason }) } : {};
}
