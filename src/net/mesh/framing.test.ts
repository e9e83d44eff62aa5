import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FIXED_HEADER_BYTES, FrameError, type FrameHeader } from './framing.js';

const LIMITS = { maxMessageBytes: 1 << 20, worldSize: 4 };
const H: FrameHeader = {
  frameType: 'tensor',
  kind: 'halo',
  dtype: 'float32',
  shape: [2, 3],
  fromRank: 1,
  jobId: 7,
  step: 3,
  pointId: 12,
  messageId: 99,
  chunkIndex: 0,
  chunkCount: 1,
  payloadBytes: 24,
};

function errorCode(buf: ArrayBuffer | Uint8Array): string {
  try {
    decodeFrame(buf, LIMITS);
  } catch (e) {
    expect(e).toBeInstanceOf(FrameError);
    return (e as FrameError).code;
  }
  return 'ok';
}

/** Encodes H with `payload`, then lets `poke` corrupt the header. */
function corrupt(poke: (v: DataView) => void, header: FrameHeader = H, payload = new Uint8Array(header.payloadBytes)): ArrayBuffer {
  const buf = encodeFrame(header, payload);
  poke(new DataView(buf));
  return buf;
}

describe('framing', () => {
  it('round-trips a header and payload', () => {
    const payload = new Uint8Array(24).map((_, i) => i * 7);
    const buf = encodeFrame(H, payload);
    expect(buf.byteLength).toBe(FIXED_HEADER_BYTES + 8 + 24);
    const f = decodeFrame(buf, LIMITS);
    expect(f.header).toEqual(H);
    expect([...f.chunk]).toEqual([...payload]);
  });

  it('accepts an unaligned view and an empty tensor (shape with a 0)', () => {
    const empty: FrameHeader = { ...H, shape: [0, 5], payloadBytes: 0 };
    const buf = encodeFrame(empty, new Uint8Array(0));
    const padded = new Uint8Array(buf.byteLength + 3);
    padded.set(new Uint8Array(buf), 3);
    expect(decodeFrame(padded.subarray(3), LIMITS).header.shape).toEqual([0, 5]);
  });

  it.each([
    ['short', new Uint8Array(10), 'truncated'],
    ['empty', new ArrayBuffer(0), 'truncated'],
    ['magic', corrupt((v) => v.setUint32(0, 0xdeadbeef, true)), 'bad-magic'],
    ['version', corrupt((v) => v.setUint8(4, 2)), 'bad-version'],
    ['frame type', corrupt((v) => v.setUint8(5, 200)), 'bad-frame-type'],
    ['kind', corrupt((v) => v.setUint8(6, 99)), 'bad-kind'],
    ['dtype', corrupt((v) => v.setUint8(7, 17)), 'bad-dtype'],
    ['ndim over 8', corrupt((v) => v.setUint8(8, 9)), 'bad-shape'],
    ['ndim beyond the frame', corrupt((v) => v.setUint8(8, 8), { ...H, shape: [24], payloadBytes: 96 }, new Uint8Array(0)), 'truncated'],
    ['reserved', corrupt((v) => v.setUint8(9, 1)), 'bad-length'],
    ['rank', corrupt((v) => v.setUint16(10, 4, true)), 'bad-rank'],
    ['shape vs bytes', corrupt((v) => v.setUint32(FIXED_HEADER_BYTES, 3, true)), 'bad-shape'],
    ['huge shape', corrupt((v) => v.setUint32(36, 0xffffffff, true)), 'too-large'],
    ['huge dims', corrupt((v) => (v.setUint32(FIXED_HEADER_BYTES, 0xffffffff, true), v.setUint32(FIXED_HEADER_BYTES + 4, 0xffffffff, true))), 'bad-shape'],
    ['chunk index', corrupt((v) => v.setUint32(28, 1, true)), 'bad-chunk'],
    ['chunk count 0', corrupt((v) => v.setUint32(32, 0, true)), 'bad-chunk'],
    ['chunk count > bytes', corrupt((v) => v.setUint32(32, 25, true)), 'bad-chunk'],
    ['chunk length field', corrupt((v) => v.setUint32(40, 23, true)), 'bad-length'],
    ['ping with float payload', corrupt((v) => v.setUint8(5, 1)), 'bad-shape'],
  ])('rejects a bad %s', (_name, buf, code) => {
    expect(errorCode(buf)).toBe(code);
  });

  it('rejects trailing bytes beyond the declared chunk', () => {
    const buf = encodeFrame(H, new Uint8Array(24));
    const longer = new Uint8Array(buf.byteLength + 1);
    longer.set(new Uint8Array(buf));
    expect(errorCode(longer)).toBe('bad-length');
  });

  it('never throws anything but FrameError on random garbage', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    const valid = new Uint8Array(encodeFrame(H, new Uint8Array(24)));
    for (let i = 0; i < 5000; i++) {
      const b = i % 2 === 0 ? new Uint8Array(rand() % 120).map(rand) : valid.map((x) => (rand() < 8 ? rand() : x));
      try {
        decodeFrame(b, LIMITS);
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
      }
    }
  });
});
