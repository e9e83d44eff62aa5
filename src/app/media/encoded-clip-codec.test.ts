import { describe, expect, it } from 'vitest';
import { CLIP_FORMAT_VERSION, parseEncodedClip, serializeEncodedClip } from './encoded-clip-codec.js';
import { MediaExportError, frameDurationUs, timestampUsOfFrame, validateEncodedClip, type EncodedClip } from './encoded-clip.js';
import { annexBNalUnits, parameterSetsKey } from './h264-parameter-sets.js';
import { upscaleNearest } from './frame-scale.js';
import { codecStringFor } from './export-codec.js';

function sampleClip(overrides: Partial<EncodedClip> = {}): EncodedClip {
  const fps = overrides.fps ?? 8;
  const first = overrides.firstFrameIndex ?? 16;
  const count = overrides.frameCount ?? 4;
  return {
    codec: 'avc',
    codecString: 'avc1.42e01e',
    width: 256,
    height: 256,
    fps,
    firstFrameIndex: first,
    frameCount: count,
    colorSpace: { primaries: 'bt709', transfer: 'bt709', matrix: 'bt709', fullRange: false },
    chunks: Array.from({ length: count }, (_, i) => ({
      type: i === 0 ? ('key' as const) : ('delta' as const),
      timestampUs: timestampUsOfFrame(first + i, fps),
      durationUs: frameDurationUs(fps),
      data: new Uint8Array(Array.from({ length: 10 + i }, (_, j) => (i * 31 + j) & 0xff)),
    })),
    ...overrides,
  };
}

function expectError(f: () => unknown, code: string, pattern: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MediaExportError);
    expect((e as MediaExportError).code).toBe(code);
    expect((e as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected a MediaExportError ${code} matching ${pattern}`);
}

describe('encoded clip serialisation', () => {
  it('round-trips a clip, with and without description and colour space', () => {
    for (const clip of [
      sampleClip(),
      sampleClip({ codec: 'vp9', codecString: 'vp09.00.21.08', description: new Uint8Array([1, 2, 3]), colorSpace: { matrix: 'rgb' } }),
      sampleClip({ codec: 'vp8', codecString: 'vp8', fps: 24, firstFrameIndex: 0, frameCount: 3, colorSpace: undefined }),
    ]) {
      const clean = JSON.parse(JSON.stringify({ ...clip, colorSpace: clip.colorSpace ?? null }));
      const bytes = serializeEncodedClip(clip);
      const back = parseEncodedClip(bytes);
      expect(back.chunks.map((c) => Array.from(c.data))).toEqual(clip.chunks.map((c) => Array.from(c.data)));
      expect(back.description ? Array.from(back.description) : undefined).toEqual(clip.description ? Array.from(clip.description) : undefined);
      expect({ ...JSON.parse(JSON.stringify(back)), colorSpace: back.colorSpace ?? null }).toEqual(clean);
    }
  });

  it('does not alias the input buffer', () => {
    const bytes = serializeEncodedClip(sampleClip());
    const back = parseEncodedClip(bytes);
    const before = back.chunks[0]!.data[0];
    bytes.fill(0xee);
    expect(back.chunks[0]!.data[0]).toBe(before);
  });

  it('parses from an unaligned offset inside a larger buffer', () => {
    const bytes = serializeEncodedClip(sampleClip());
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    expect(parseEncodedClip(big.subarray(3)).frameCount).toBe(4);
  });

  it('rejects bad magic, version, codec, lengths and trailing bytes with clear errors', () => {
    const good = serializeEncodedClip(sampleClip());
    const patch = (f: (b: Uint8Array, v: DataView) => void): Uint8Array => {
      const b = good.slice();
      f(b, new DataView(b.buffer));
      return b;
    };
    expectError(() => parseEncodedClip(new Uint8Array(0), 'clip from rank 2'), 'bad-clip-bytes', /clip from rank 2: 0 bytes is shorter than the 36-byte header/);
    expectError(() => parseEncodedClip(patch((b) => (b[0] = 0x41))), 'bad-clip-bytes', /bad magic/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint16(4, CLIP_FORMAT_VERSION + 1, true))), 'bad-clip-bytes', /format version 2 is not supported/);
    expectError(() => parseEncodedClip(patch((b) => (b[6] = 9))), 'bad-clip-bytes', /codec code 9/);
    expectError(() => parseEncodedClip(patch((b) => (b[7] = 0x10))), 'bad-clip-bytes', /colour flags/);
    expectError(() => parseEncodedClip(patch((b) => (b[8] = 77))), 'bad-clip-bytes', /colour primaries code 77/);
    expectError(() => parseEncodedClip(patch((b) => (b[11] = 0))), 'bad-clip-bytes', /codec string length 0/);
    expectError(() => parseEncodedClip(patch((b) => (b[36] = 0x20))), 'bad-clip-bytes', /codec string .* characters outside/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint32(28, 0, true))), 'bad-clip-bytes', /frame count 0/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint32(28, 5, true))), 'bad-clip-bytes', /chunk 4 of 5: header at byte \d+ runs past the end/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint32(28, 3, true))), 'bad-clip-bytes', /trailing bytes/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint32(32, 0xffffffff, true))), 'bad-clip-bytes', /description length 4294967295 exceeds/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint32(32, 60000, true))), 'bad-clip-bytes', /run past the end/);
    const firstChunk = 36 + 'avc1.42e01e'.length;
    expectError(() => parseEncodedClip(patch((b) => (b[firstChunk] = 7))), 'bad-clip-bytes', /chunk 0: type code 7/);
    expectError(() => parseEncodedClip(patch((b) => (b[firstChunk + 2] = 1))), 'bad-clip-bytes', /reserved bytes/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setFloat64(firstChunk + 4, -1, true))), 'bad-clip-bytes', /timestamp -1/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setFloat64(firstChunk + 4, Number.NaN, true))), 'bad-clip-bytes', /timestamp NaN/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint32(firstChunk + 16, 0x7fffffff, true))), 'bad-clip-bytes', /data length 2147483647 exceeds/);
    expectError(() => parseEncodedClip(patch((_, v) => v.setUint32(firstChunk + 16, 1000, true))), 'bad-clip-bytes', /chunk 0: data length 1000 .* runs past the end/);
    expectError(() => parseEncodedClip(good.subarray(0, good.length - 1)), 'bad-clip-bytes', /runs past the end/);
  });

  it('rejects well-formed bytes whose content breaks the clip contract', () => {
    const good = serializeEncodedClip(sampleClip());
    const firstChunk = 36 + 'avc1.42e01e'.length;
    const patch = (f: (v: DataView) => void): Uint8Array => {
      const b = good.slice();
      f(new DataView(b.buffer));
      return b;
    };
    expectError(() => parseEncodedClip(patch((v) => v.setUint8(firstChunk, 1))), 'bad-clip', /first chunk must be a key chunk/);
    expectError(() => parseEncodedClip(patch((v) => v.setFloat64(firstChunk + 4, 1, true))), 'bad-clip', /not on the frame grid/);
    expectError(() => parseEncodedClip(patch((v) => v.setFloat64(firstChunk + 4, timestampUsOfFrame(17, 8), true))), 'bad-clip', /frame 17 appears twice/);
    expectError(() => parseEncodedClip(patch((v) => v.setFloat64(firstChunk + 4, timestampUsOfFrame(40, 8), true))), 'bad-clip', /frame 40 is outside the clip's frames \[16, 20\)/);
    expectError(() => parseEncodedClip(patch((v) => v.setUint32(firstChunk + 12, 1, true))), 'bad-clip', /duration 1 µs, expected 125000/);
    expectError(() => parseEncodedClip(patch((v) => v.setUint16(12, 0, true))), 'bad-clip', /width must be an integer in \[1, 8192\], got 0/);
    expectError(() => parseEncodedClip(patch((v) => v.setFloat64(16, Number.POSITIVE_INFINITY, true))), 'bad-clip', /fps must be in/);
  });

  it('survives random corruption without anything but MediaExportError', () => {
    const good = serializeEncodedClip(sampleClip());
    let state = 12345;
    const rand = (): number => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 1000; trial++) {
      const b = good.slice(0, trial % 5 === 0 ? Math.floor(rand() * good.length) : good.length);
      for (let k = 0; k < 3; k++) if (b.length) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      try {
        parseEncodedClip(b);
      } catch (e) {
        expect(e).toBeInstanceOf(MediaExportError);
      }
    }
  });

  it('validateEncodedClip accepts decode order that differs from presentation order', () => {
    const clip = sampleClip();
    const [a, b, c, d] = clip.chunks;
    expect(() => validateEncodedClip({ ...clip, chunks: [a!, c!, b!, d!] })).not.toThrow();
  });
});

describe('H.264 parameter sets', () => {
  it('finds SPS and PPS after 3- and 4-byte start codes', () => {
    const au = new Uint8Array([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9, 0]);
    expect(annexBNalUnits(au).map((u) => Array.from(u))).toEqual([[0x67, 1, 2], [0x68, 3], [0x65, 9, 9]]);
    expect(parameterSetsKey(au)).toBe('670102|6803');
    expect(parameterSetsKey(new Uint8Array([0, 0, 1, 0x41, 5]))).toBe('');
    expect(parameterSetsKey(new Uint8Array([0, 0]))).toBe('');
  });
});

describe('upscaleNearest and codec strings', () => {
  it('makes scale×scale blocks', () => {
    const src = new Uint8ClampedArray([1, 2, 3, 4, 5, 6, 7, 8]); // 2×1
    const out = upscaleNearest(src, 2, 1, 2); // 4×2
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8]);
    expect(() => upscaleNearest(src, 3, 1, 2)).toThrow(/expected 3×1×4/);
  });

  it('picks the lowest level that holds the size and rate', () => {
    expect(codecStringFor('avc', 256, 256, 8)).toBe('avc1.42e015');
    expect(codecStringFor('avc', 1280, 720, 30)).toBe('avc1.42e01f');
    expect(codecStringFor('vp9', 256, 256, 8)).toBe('vp09.00.11.08');
    expect(codecStringFor('vp8', 256, 256, 8)).toBe('vp8');
  });
});
