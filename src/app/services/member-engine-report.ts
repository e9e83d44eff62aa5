/**
 * A member's engine outside any job, as the app holds it (`MemberEngine`: the host's member table,
 * the partition, the worker tab's own view), and as it crosses the control channel: the
 * `member-report` message of src/app/protocol.ts, checked on receipt. These two functions map one
 * onto the other (the phase is the same type on both sides); texts are cut to the message's limits before sending.
 */
import { CONTROL_VERSION, MEMBER_REPORT_LIMITS, type EngineBackend, type EngineCompute, type EnginePhase, type MemberReportMessage, type SpeedReport } from '../protocol.js';
import { parseControlMessage } from '../protocol-check.js';

/** What the host knows of a member's engine. */
export interface MemberEngine {
  readonly phase: EnginePhase;
  readonly loadedBytes?: number;
  readonly totalBytes?: number;
  readonly provider?: string;
  /** The UNet graph set the member loaded ('float16': half-precision compute). */
  readonly compute?: EngineCompute;
  readonly fallbackReason?: string;
  readonly loadMs?: number;
  readonly speed?: SpeedReport;
  readonly error?: string;
}


const asBackend = (provider: string | undefined): EngineBackend | undefined => (provider === 'webgpu' || provider === 'wasm' ? provider : undefined);

/**
 * Worker side: the report that tells the host about `m`. A state the host could not use (an
 * unknown backend, ready without a speed, a speed the host would refuse) is reported as failed,
 * with the reason, so the host leaves this tab out instead of waiting for it.
 */
export function memberReport(m: MemberEngine): MemberReportMessage {
  const report = buildReport(m);
  try {
    parseControlMessage(report); // the host's own check, before the host refuses it
    return report;
  } catch (e) {
    return { type: 'member-report', v: CONTROL_VERSION, phase: 'failed', error: `this tab's engine report is invalid: ${e instanceof Error ? e.message : String(e)}`.slice(0, MEMBER_REPORT_LIMITS.errorChars) };
  }
}

function buildReport(m: MemberEngine): MemberReportMessage {
  const L = MEMBER_REPORT_LIMITS;
  const base = { type: 'member-report', v: CONTROL_VERSION, phase: m.phase } as const;
  const backend = asBackend(m.provider);
  const engine = backend && {
    backend,
    loadMs: Math.min(Math.max(m.loadMs ?? 0, 0), L.maxMs),
    ...(m.compute && { compute: m.compute }),
    ...(m.fallbackReason && { fallbackReason: m.fallbackReason.slice(0, L.fallbackReasonChars) }),
  };
  const unloaded = (why: string): MemberReportMessage => ({ ...base, phase: 'failed', error: why.slice(0, L.errorChars) });
  switch (m.phase) {
    case 'loading': {
      const total = m.totalBytes === undefined ? undefined : Math.min(Math.round(m.totalBytes), L.maxBytes);
      return { ...base, ...(total !== undefined && { loadedBytes: Math.min(Math.round(m.loadedBytes ?? 0), total), totalBytes: total }) };
    }
    case 'measuring':
      return engine ? { ...base, ...engine } : unloaded(`the engine runs on an unknown backend ${JSON.stringify(m.provider)}`);
    case 'ready': {
      if (!engine) return unloaded(`the engine runs on an unknown backend ${JSON.stringify(m.provider)}`);
      if (!m.speed) return unloaded('ready without a measured speed');
      const { graph, frames, unetMs, framesPerSecond } = m.speed;
      return { ...base, ...engine, speed: { graph, frames, unetMs, framesPerSecond } };
    }
    case 'failed':
      return { ...base, ...engine, error: (m.error ?? 'the model did not load').slice(0, L.errorChars) };
  }
}

/** Host side: the member's engine a validated report describes (only the report's own fields). */
export function memberEngineOf(r: MemberReportMessage): MemberEngine {
  return {
    phase: r.phase,
    ...(r.totalBytes !== undefined && { loadedBytes: r.loadedBytes, totalBytes: r.totalBytes }),
    ...(r.backend !== undefined && { provider: r.backend }),
    ...(r.compute !== undefined && { compute: r.compute }),
    ...(r.fallbackReason !== undefined && { fallbackReason: r.fallbackReason }),
    ...(r.loadMs !== undefined && { loadMs: r.loadMs }),
    ...(r.speed !== undefined && { speed: { graph: r.speed.graph, frames: r.speed.frames, unetMs: r.speed.unetMs, framesPerSecond: r.speed.framesPerSecond } }),
    ...(r.error !== undefined && { error: r.error }),
  };
}
