import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chunkMessage, DEFAULT_REASSEMBLER_LIMITS, Reassembler, type MessageHeader } from './chunker.js';
import { decodeFrame, encodeFrame, FrameError, type Frame } from './framing.js';
import { MESH_LIMITS } from './limits.js';

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

  it('bounds incomplete messages per peer, by count and by declared bytes', () => {
    const limits = { ...DEFAULT_REASSEMBLER_LIMITS, maxIncompleteMessages: 2 };
    const r = new Reassembler(limits);
    for (const id of [1, 2]) r.accept(decode(chunkMessage({ ...MH, messageId: id }, payload(1000), 300))[0]!);
    expect(code(() => r.accept(decode(chunkMessage({ ...MH, messageId: 3 }, payload(1000), 300))[0]!))).toBe('bad-chunk');
    const small = new Reassembler({ ...DEFAULT_REASSEMBLER_LIMITS, maxInFlightBytes: 1500 });
    small.accept(decode(chunkMessage({ ...MH, messageId: 1 }, payload(1000), 300))[0]!);
    expect(code(() => small.accept(decode(chunkMessage({ ...MH, messageId: 2 }, payload(1000), 300))[0]!))).toBe('too-large');
  });

  it('accepts a message of exactly the in-flight limit', () => {
    const r = new Reassembler({ ...DEFAULT_REASSEMBLER_LIMITS, maxInFlightBytes: 1000 });
    const done = decode(chunkMessage(MH, payload(1000), 300)).map((f) => r.accept(f)).at(-1);
    expect(new Uint8Array(done!.payload)).toEqual(payload(1000));
    expect(code(() => r.accept(decode(chunkMessage({ ...MH, shape: [1001] }, payload(1001), 300))[0]!))).toBe('too-large');
  });
});

describe('chunker: a peer cannot make the receiver hold what it never sent', () => {
  const HUGE = 512 * 1024 * 1024;
  /** The probe's frame: header + one payload byte, declaring a 512 MiB message in 8192 chunks. */
  const hugeFirstChunk = (messageId = 9, payloadBytes = HUGE) =>
    encodeFrame({ ...MH, shape: [payloadBytes], messageId, chunkIndex: 0, chunkCount: payloadBytes / 65536, payloadBytes }, new Uint8Array(1));
  // What the frame layer of an owner with a huge maxMessageBytes lets through: the reassembler must still hold.
  const permissive = { maxMessageBytes: 0xffffffff, worldSize: 2 };
  const arrayBufferBytes = () => process.memoryUsage().arrayBuffers;

  it('refuses a 49-byte frame declaring 512 MiB before allocating anything', () => {
    const bytes = hugeFirstChunk();
    expect(bytes.byteLength).toBe(49);
    const frame = decodeFrame(bytes, permissive);
    const r = new Reassembler();
    const before = arrayBufferBytes();
    let error: unknown;
    try {
      r.accept(frame);
    } catch (e) {
      error = e;
    }
    expect(arrayBufferBytes() - before).toBeLessThan(1024 * 1024);
    expect(error).toBeInstanceOf(FrameError);
    expect((error as FrameError).code).toBe('too-large');
    expect((error as FrameError).message).toMatch(/declares 536870912 bytes.*over the 268435456-byte in-flight limit per peer \(maxInFlightBytes\)/);
    expect(r.pending).toBe(0);
    // Its later chunks are dropped quietly: one refusal, one report.
    const next = decodeFrame(encodeFrame({ ...frame.header, chunkIndex: 1 }, new Uint8Array(1)), permissive);
    expect(r.accept(next)).toBeNull();
  });

  it('holds only the bytes that arrived for a message declared under the limit', () => {
    const declared = 128 * 1024 * 1024;
    const r = new Reassembler();
    const before = arrayBufferBytes();
    expect(r.accept(decodeFrame(hugeFirstChunk(9, declared), permissive))).toBeNull();
    expect(arrayBufferBytes() - before).toBeLessThan(1024 * 1024);
    expect(r.held).toBe(1);
    expect(r.pending).toBe(declared);
  });

  describe('a message never completed', () => {
    const limitMs = DEFAULT_REASSEMBLER_LIMITS.incompleteMessageMs;
    const frames = decode(chunkMessage(MH, payload(1000), 300));
    let now = 0;
    const clock = () => now;

    it('expires after incompleteMessageMs, freeing its memory; its late chunks are dropped quietly', () => {
      now = 0;
      const r = new Reassembler(DEFAULT_REASSEMBLER_LIMITS, clock);
      r.accept(frames[0]!);
      r.accept(frames[1]!);
      now = limitMs;
      expect(r.expire()).toEqual([]);
      now = limitMs + 1;
      const expired = r.expire();
      expect(expired.map((e) => e.code)).toEqual(['expired']);
      expect(expired[0]!.message).toMatch(/message 5 got 2 of 4 chunks .* within the 60000 ms limit to complete a message \(incompleteMessageMs\)/);
      expect([r.pending, r.held]).toEqual([0, 0]);
      expect(r.accept(frames[2]!)).toBeNull();
      expect(r.accept(frames[3]!)).toBeNull();
      expect(code(() => r.accept(frames[3]!))).toBe('bad-chunk'); // forgotten after its last chunk
    });

    it('refuses a chunk that comes after the limit, even before any sweep', () => {
      now = 0;
      const r = new Reassembler(DEFAULT_REASSEMBLER_LIMITS, clock);
      r.accept(frames[0]!);
      now = limitMs + 1;
      expect(code(() => r.accept(frames[1]!))).toBe('expired');
      expect([r.pending, r.held]).toEqual([0, 0]);
    });

    it('still completes a message whose last chunk comes just in time', () => {
      now = 0;
      const r = new Reassembler(DEFAULT_REASSEMBLER_LIMITS, clock);
      r.accept(frames[0]!);
      now = limitMs;
      const done = frames.slice(1).map((f) => r.accept(f)).at(-1);
      expect(new Uint8Array(done!.payload)).toEqual(payload(1000));
    });
  });
});

describe('MESH_LIMITS against the real traffic', () => {
  it('is well above the largest message the embedded model exchanges', () => {
    const dir = path.resolve(import.meta.dirname, '../../../public/models/vi-shapes-tiny');
    const plan = JSON.parse(readFileSync(path.join(dir, 'onnx/segment-plan.json'), 'utf8')) as { batch: number; exchangePoints: ExchangePointJson[] };
    const { defaults } = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { defaults: { local_window_p: number; global_top_k: number } };
    const f32 = 4;
    const largest = Math.max(
      ...plan.exchangePoints.map((p) =>
        p.kind === 'halo'
          ? plan.batch * p.channels! * p.width! * p.height! * p.widthPx! * f32 // k frames one way
          : p.kind === 'attention'
            ? p.tokens! * Math.max(defaults.local_window_p, defaults.global_top_k) * p.channels! * f32 // window halo, or every global frame from one rank
            : 0,
      ),
    );
    expect(largest).toBe(256 * 1024);
    expect(MESH_LIMITS.maxMessageBytes).toBeGreaterThanOrEqual(1000 * largest);
    expect(DEFAULT_REASSEMBLER_LIMITS.maxInFlightBytes).toBe(MESH_LIMITS.maxMessageBytes);
  });
});

interface ExchangePointJson {
  kind: string;
  channels?: number;
  width?: number;
  height?: number;
  widthPx?: number;
  tokens?: number;
}
