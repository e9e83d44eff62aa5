import { describe, expect, it } from 'vitest';
import { CONTROL_VERSION, MEMBER_REPORT_LIMITS, type MemberReportMessage } from '../protocol.js';
import { parseControlMessage } from '../protocol-check.js';
import { memberEngineOf, memberReport, type MemberEngine } from './member-engine-report.js';

/** What the host makes of `m`: the report through JSON, the net layer's validation and back. */
const overTheWire = (m: MemberEngine) => memberEngineOf(parseControlMessage(JSON.stringify(memberReport(m))) as MemberReportMessage);
const speed = { graph: 'segmented' as const, frames: 8, unetMs: 640, framesPerSecond: 12.5 };

describe('member engine ↔ member-report', () => {
  it('round-trips every phase through the control channel', () => {
    const phases: MemberEngine[] = [
      { phase: 'loading' },
      { phase: 'loading', loadedBytes: 1000, totalBytes: 4000 },
      { phase: 'measuring', provider: 'wasm', loadMs: 1234 },
      { phase: 'ready', provider: 'wasm', loadMs: 1234, fallbackReason: 'computing on WASM (CPU), as the page asked (?ep=wasm)', speed },
      { phase: 'failed', error: 'sha256 mismatch for onnx/unet_seg_000.onnx' },
      { phase: 'failed', provider: 'webgpu', loadMs: 80, error: 'measure-speed: device lost' },
      { phase: 'ready', provider: 'webgpu', compute: 'float16', loadMs: 900, speed },
      { phase: 'measuring', provider: 'wasm', compute: 'float32', loadMs: 12 },
    ];
    for (const p of phases) expect(overTheWire(p), p.phase).toEqual(p);
    expect(memberReport(phases[1]!)).toEqual({ type: 'member-report', v: CONTROL_VERSION, phase: 'loading', loadedBytes: 1000, totalBytes: 4000 });
  });

  it('sends only the fields of the phase (the host refuses others) and cuts texts to the limits', () => {
    const extra: MemberEngine = { phase: 'measuring', provider: 'webgpu', loadMs: 5, speed, error: 'stale', loadedBytes: 3, totalBytes: 3 };
    expect(memberReport(extra)).toEqual({ type: 'member-report', v: CONTROL_VERSION, phase: 'measuring', backend: 'webgpu', loadMs: 5 });
    const long = memberReport({ phase: 'failed', provider: 'wasm', loadMs: 1, fallbackReason: 'r'.repeat(5000), error: 'e'.repeat(5000) });
    expect(long.fallbackReason).toHaveLength(MEMBER_REPORT_LIMITS.fallbackReasonChars);
    expect(long.error).toHaveLength(MEMBER_REPORT_LIMITS.errorChars);
    expect(memberReport({ phase: 'loading', loadedBytes: 9, totalBytes: 4 })).toMatchObject({ loadedBytes: 4, totalBytes: 4 });
  });

  it('the UNet graph set crosses as compute; a loading report carries none, and the host refuses an unknown one', () => {
    expect(memberReport({ phase: 'loading', compute: 'float16' })).not.toHaveProperty('compute');
    const ready = memberReport({ phase: 'ready', provider: 'webgpu', compute: 'float16', loadMs: 1, speed });
    expect(ready.compute).toBe('float16');
    expect(() => parseControlMessage(JSON.stringify({ ...ready, compute: 'fp8' }))).toThrow(/compute "fp8": float32 or float16/);
    expect(() => parseControlMessage(JSON.stringify({ type: 'member-report', v: CONTROL_VERSION, phase: 'loading', compute: 'float16' }))).toThrow(/'compute' is not part of a 'loading' report/);
  });

  it('reports a state the host could not use as failed, with the reason, so Start does not wait for it', () => {
    const cases: [MemberEngine, RegExp][] = [
      [{ phase: 'ready', provider: 'wasm', loadMs: 1 }, /ready without a measured speed/],
      [{ phase: 'ready', provider: 'none', loadMs: 1, speed }, /unknown backend "none"/],
      [{ phase: 'measuring', loadMs: 1 }, /unknown backend undefined/],
      [{ phase: 'ready', provider: 'wasm', loadMs: 1, speed: { ...speed, framesPerSecond: Infinity } }, /invalid: malformed 'member-report' message: speed.framesPerSecond Infinity/],
      [{ phase: 'ready', provider: 'wasm', loadMs: 1, speed: { ...speed, unetMs: 0 } }, /speed.unetMs 0/],
    ];
    for (const [m, why] of cases) {
      const got = overTheWire(m);
      expect(got.phase).toBe('failed');
      expect(got.error).toMatch(why);
    }
  });
});
