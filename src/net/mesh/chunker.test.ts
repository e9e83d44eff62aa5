import { describe, expect, it } from 'vitest';
import { chunkMessage, Reassembler, type MessageHeader } from './chunker.js';
import { decodeFrame, encodeFrame, FrameError, type Frame } from './framing.js';

const LIMITS = { maxMessageBytes: 1 << 24, worldSize: 2 };
const MH: MessageHeader = { frameType: 'tensor', kind: 'halo', dtype: 'uint8', shape: [1000], fromRank: 0, jobId: 1, step: 2, pointId: 3, messageId: 5 };
const payload = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
const decode = (bufs: ArrayBuffer[]): Frame[] => bufs.map((b) => decodeFrame(b, LIMITS));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FrameError) return e.code;
    throw e;
  }
  return 'ok';
}

describe('chunker', () => {
  it.each([
    [0, 1],
    [1, 1],
    [256, 1],
    [257, 2],
    [1000, 4],
  ])('splits %i bytes into %i chunks of ≤256 and reassembles them bit-exact', (n, chunks) => {
    const p = payload(n);
    const frames = decode(chunkMessage({ ...MH, shape: [n] }, p, 256));
    expect(frames).toHaveLength(chunks);
    const r = new Reassembler();
    const results = frames.map((f) => r.accept(f));
    expect(results.slice(0, -1).every((x) => x === null)).toBe(true);
    const done = results.at(-1)!;
    expect(new Uint8Array(done.payload)).toEqual(p);
    expect(done.header.shape).toEqual([n]);
    expect(r.pending).toBe(0);
  });

  it('handles interleaved messages by message id', () => {
    const a = decode(chunkMessage(MH, payload(1000), 300));
    const b = decode(chunkMessage({ ...MH, messageId: 6, shape: [600] }, payload(600), 300));
    const r = new Reassembler();
    const out = [a[0], b[0], a[1], b[1], a[2], a[3]].map((f) => r.accept(f!));
    expect(out.filter(Boolean).map((m) => m!.header.messageId)).toEqual([6, 5]);
  });

  it('rejects a missing first chunk, a skipped chunk, a restarted message, a changed header', () => {
    const frames = decode(chunkMessage(MH, payload(1000), 300));
    expect(code(() => new Reassembler().accept(frames[1]!))).toBe('bad-chunk');
    let r = new Reassembler();
    r.accept(frames[0]!);
    expect(code(() => r.accept(frames[2]!))).toBe('bad-chunk');
    r = new Reassembler();
    r.accept(frames[0]!);
    expect(code(() => r.accept(frames[0]!))).toBe('bad-chunk');
    r = new Reassembler();
    r.accept(frames[0]!);
    const changed = decodeFrame(encodeFrame({ ...frames[1]!.header, step: 9 }, frames[1]!.chunk), LIMITS);
    expect(code(() => r.accept(changed))).toBe('bad-chunk');
    expect(r.pending).toBe(0); // the broken message is dropped, not delivered
  });

  it('rejects chunks whose lengths do not add up', () => {
    const frames = decode(chunkMessage(MH, payload(1000), 300));
    const r = new Reassembler();
    r.accept(frames[0]!);
    r.accept(frames[1]!);
    r.accept(frames[2]!);
    const short = decodeFrame(encodeFrame(frames[3]!.header, frames[3]!.chunk.subarray(1)), LIMITS);
    expect(code(() => r.accept(short))).toBe('bad-length');
  });

  it('bounds incomplete messages per peer', () => {
    const r = new Reassembler({ maxPartialMessages: 2, maxPendingBytes: 1 << 20 });
    for (const id of [1, 2]) r.accept(decode(chunkMessage({ ...MH, messageId: id }, payload(1000), 300))[0]!);
    expect(code(() => r.accept(decode(chunkMessage({ ...MH, messageId: 3 }, payload(1000), 300))[0]!))).toBe('bad-chunk');
    const small = new Reassembler({ maxPartialMessages: 8, maxPendingBytes: 1500 });
    small.accept(decode(chunkMessage({ ...MH, messageId: 1 }, payload(1000), 300))[0]!);
    expect(code(() => small.accept(decode(chunkMessage({ ...MH, messageId: 2 }, payload(1000), 300))[0]!))).toBe('too-large');
  });
});
