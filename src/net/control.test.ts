import { describe, expect, it } from 'vitest';
import { ControlError, parseControlMessage } from './control.js';

function code(raw: unknown): string {
  try {
    parseControlMessage(raw);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(ControlError);
    return (e as ControlError).code;
  }
}

describe('control messages', () => {
  it('accepts well-formed messages of every type', () => {
    const ok = [
      { type: 'join', v: 1, name: 'tab', adapter: { backend: 'wasm', reason: 'no navigator.gpu' } },
      { type: 'join', v: 1, name: 'tab', adapter: { backend: 'webgpu', vendor: 'google', shaderF16: false, limits: { maxBufferSize: 1 } } },
      { type: 'claim', jobId: 1, rank: 0 },
      { type: 'progress', jobId: 1, rank: 2, phase: 'step', done: 3, total: 50 },
      { type: 'mesh-check-result', jobId: 1, rank: 0, pairs: [{ fromRank: 0, toRank: 1, rttMs: 1.5, mbPerS: 30 }] },
      { type: 'error', error: { code: 'timeout', message: 'x', rank: 1 } },
      { type: 'start', jobId: 4, roster: ['a', 'b'], task: { kind: 'mesh-check', probeBytes: 1024 } },
      { type: 'cancel', jobId: 4, reason: 'user' },
    ];
    for (const m of ok) expect(code(m)).toBe('ok');
    expect(parseControlMessage(JSON.stringify(ok[2]))).toEqual(ok[2]);
  });

  it.each([
    ['not JSON', '{'],
    ['no type', { jobId: 1 }],
    ['unknown type', { type: 'rm -rf' }],
    ['prototype key', { type: 'constructor' }],
    ['wrong version', { type: 'join', v: 2, name: 'x', adapter: { backend: 'wasm' } }],
    ['bad backend', { type: 'join', v: 1, name: 'x', adapter: { backend: 'cuda' } }],
    ['negative rank', { type: 'claim', jobId: 1, rank: -1 }],
    ['roster of numbers', { type: 'start', jobId: 1, roster: [1, 2], task: { kind: 'mesh' } }],
    ['huge probe', { type: 'start', jobId: 1, roster: ['a'], task: { kind: 'mesh-check', probeBytes: 1e12 } }],
    ['oversized', { type: 'cancel', jobId: 1, reason: 'x'.repeat(70_000) }],
    ['array', []],
    ['null', null],
  ])('rejects %s', (_n, raw) => {
    expect(code(raw)).toBe('bad-message');
  });
});
