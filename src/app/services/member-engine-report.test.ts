import { describe, expect, it } from 'vitest';
import { ControlError, parseControlMessage, type ControlMessage } from '../../net/control.js';
import { memberEngineMessage, MODEL_LOAD_FAILED, NO_JOB, readMemberEngineReport, type MemberEngine } from './member-engine-report.js';

/** What the host receives: the message through JSON and the net layer's validation. */
const overTheWire = (m: ControlMessage) => parseControlMessage(JSON.stringify(m));
const speed = { graph: 'segmented' as const, frames: 8, unetMs: 640, framesPerSecond: 12.5 };

describe('member engine reports (worker → host, jobId 0)', () => {
  it('round-trips every phase through the control channel validation', () => {
    const phases: MemberEngine[] = [
      { phase: 'loading-model', loadedBytes: 1000, totalBytes: 4000 },
      { phase: 'measuring', provider: 'wasm' },
      { phase: 'ready', provider: 'wasm', loadMs: 1234, fallbackReason: 'computing on WASM (CPU), as the page asked (?ep=wasm)', speed },
      { phase: 'failed', error: 'sha256 mismatch for onnx/unet_seg_000.onnx' },
    ];
    const got = phases.map((p) => readMemberEngineReport(overTheWire(memberEngineMessage(p)!), undefined));
    expect(got).toEqual([
      { phase: 'loading-model', loadedBytes: 1000, totalBytes: 4000 },
      { phase: 'measuring' },
      { phase: 'ready', provider: 'wasm', loadMs: 1234, fallbackReason: 'computing on WASM (CPU), as the page asked (?ep=wasm)', speed },
      { phase: 'failed', error: 'sha256 mismatch for onnx/unet_seg_000.onnx' },
    ]);
  });

  it('is not a standing report when it names a job', () => {
    expect(readMemberEngineReport({ type: 'engine', jobId: 7, rank: 1, provider: 'wasm', loadMs: 3 }, undefined)).toBeUndefined();
    expect(readMemberEngineReport({ type: 'progress', jobId: 7, rank: 1, phase: 'loading-model', done: 1, total: 2 }, undefined)).toBeUndefined();
    expect(readMemberEngineReport({ type: 'error', jobId: 7, error: { code: MODEL_LOAD_FAILED, message: 'x' } }, undefined)).toBeUndefined();
    expect(readMemberEngineReport({ type: 'error', error: { code: 'bad-message', message: 'x' } }, undefined)).toBeUndefined();
  });

  it('refuses malformed or hostile speeds and unknown phases (untrusted bytes)', () => {
    const ready = (s: unknown) => overTheWire({ type: 'engine', jobId: NO_JOB, rank: 0, provider: 'wasm', loadMs: 1, speed: s } as unknown as ControlMessage);
    for (const bad of [undefined, null, 'fast', [], { ...speed, framesPerSecond: -1 }, { ...speed, framesPerSecond: 0 }, { ...speed, unetMs: 'NaN' }, { ...speed, frames: 1.5 }, { ...speed, frames: 1e9 }, { ...speed, graph: 'other' }, { ...speed, framesPerSecond: 1e300 }]) {
      expect(() => readMemberEngineReport(ready(bad), undefined), JSON.stringify(bad)).toThrow(ControlError);
    }
    expect(() => readMemberEngineReport(overTheWire({ type: 'progress', jobId: NO_JOB, rank: 0, phase: 'rendering', done: 0, total: 1 }), undefined)).toThrow(/unknown phase/);
    // Only known fields are kept.
    const extra = readMemberEngineReport(ready({ ...speed, evil: '<script>' }), undefined);
    expect(extra?.speed).toEqual(speed);
  });

  it('loading progress never exceeds its total; measuring and failure keep the backend already known', () => {
    expect(readMemberEngineReport({ type: 'progress', jobId: NO_JOB, rank: 0, phase: 'loading-model', done: 9, total: 4 }, undefined)).toEqual({ phase: 'loading-model', loadedBytes: 4, totalBytes: 4 });
    const before: MemberEngine = { phase: 'ready', provider: 'webgpu', speed };
    expect(readMemberEngineReport({ type: 'progress', jobId: NO_JOB, rank: 0, phase: 'measuring', done: 0, total: 1 }, before)).toEqual({ phase: 'measuring', provider: 'webgpu' });
  });
});
