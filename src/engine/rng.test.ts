import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EngineError } from './errors.js';
import {
  framesNormal,
  initialLatent,
  normal,
  PURPOSE_INITIAL_LATENT,
  PURPOSE_SAMPLER_NOISE,
  streamKey,
  uint32Words,
  type NoiseKey,
} from './rng.js';

interface GoldenCase {
  seed: number;
  purpose: number;
  step: number;
  frame: number;
  offset: number;
  count: number;
  key: number;
  a: number[];
  b: number[];
  bits: number[];
  values: number[];
}
const golden = JSON.parse(readFileSync(new URL('../../training/golden/rng.json', import.meta.url), 'utf8')) as {
  cases: GoldenCase[];
};

const keyOf = (c: GoldenCase): NoiseKey => ({ seed: c.seed, purpose: c.purpose, step: c.step, globalFrame: c.frame });

describe('rng vs training/rng.py golden (bit-exact)', () => {
  it('has the cases', () => expect(golden.cases.length).toBeGreaterThanOrEqual(8));
  for (const c of golden.cases) {
    it(`seed ${c.seed} purpose ${c.purpose} step ${c.step} frame ${c.frame} offset ${c.offset} ×${c.count}`, () => {
      expect(streamKey(keyOf(c))).toBe(c.key);
      const words = uint32Words(keyOf(c), 8, c.offset);
      expect(Array.from(words.a)).toEqual(c.a);
      expect(Array.from(words.b)).toEqual(c.b);
      const z = normal(keyOf(c), c.count, c.offset);
      expect(Array.from(new Uint32Array(z.buffer, z.byteOffset, z.length))).toEqual(c.bits);
    });
  }
});

describe('rng properties', () => {
  const key: NoiseKey = { seed: 9, purpose: PURPOSE_SAMPLER_NOISE, step: 3, globalFrame: 4 };

  it('is deterministic, and an offset window equals the slice', () => {
    const z = normal(key, 100);
    expect(normal(key, 100)).toEqual(z);
    expect(normal(key, 24, 37)).toEqual(z.slice(37, 61));
  });

  it('separates streams by every key field', () => {
    const base = normal(key, 16);
    for (const k of [
      { ...key, seed: 10 },
      { ...key, purpose: PURPOSE_INITIAL_LATENT },
      { ...key, step: 4 },
      { ...key, globalFrame: 5 },
    ]) {
      expect(normal(k, 16)).not.toEqual(base);
    }
  });

  it('is standard normal: moments, tails, no lag-1 or cross-frame correlation (200k samples)', () => {
    const n = 200_000;
    const z = normal(key, n);
    const z2 = normal({ ...key, globalFrame: 5 }, n);
    let s = 0, s2 = 0, s4 = 0, t3 = 0, lag = 0, cross = 0, max = 0;
    for (let i = 0; i < n; i++) {
      const v = z[i]!;
      s += v; s2 += v * v; s4 += v ** 4;
      if (Math.abs(v) > 3) t3++;
      if (i > 0) lag += v * z[i - 1]!;
      cross += v * z2[i]!;
      max = Math.max(max, Math.abs(v));
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.01);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.06);
    expect(Math.abs(t3 / n - 0.0027)).toBeLessThan(0.0006);
    expect(Math.abs(lag / n)).toBeLessThan(0.01);
    expect(Math.abs(cross / n)).toBeLessThan(0.01);
    expect(max).toBeLessThan(6.8);
  });

  it('agrees with the libm Box–Muller to float32 rounding', () => {
    const { a, b } = uint32Words(key, 20_000);
    const z = normal(key, 20_000);
    for (let i = 0; i < a.length; i++) {
      const u1 = (a[i]! + 0.5) / 2 ** 32;
      const ref = Math.sqrt(-2 * Math.log(u1)) * Math.cos((2 * Math.PI * b[i]!) / 2 ** 32);
      expect(Math.abs(ref - z[i]!)).toBeLessThan(1e-6);
    }
  });

  it('framesNormal is frame-major rows of normal()', () => {
    const x = framesNormal(3, PURPOSE_INITIAL_LATENT, 0, [4, 9], 3072);
    expect(x.length).toBe(2 * 3072);
    expect(x.subarray(3072)).toEqual(normal({ seed: 3, purpose: 1, step: 0, globalFrame: 9 }, 3072));
    expect(initialLatent(3, [9], 3072)).toEqual(x.subarray(3072));
  });

  it('rejects bad keys and ranges with a clear error', () => {
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => normal({ ...key, seed: bad }, 4)).toThrow(/key\.seed must be an integer in \[0, 2\^32\)/);
    }
    expect(() => normal(key, 2, 2 ** 32 - 1)).toThrow(EngineError);
    expect(() => normal(key, -1)).toThrow(/count must be a non-negative integer, got -1/);
    expect(() => normal({ ...key, globalFrame: -3 }, 1)).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
  });
});
