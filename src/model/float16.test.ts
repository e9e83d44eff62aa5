import { describe, expect, it } from 'vitest';
import { float16Bits as toHalfBits, float32ToHalf, halfToFloat32 } from './float16.js';

describe('float16 conversion', () => {
  it('every half value survives half → float32 → half (NaN stays NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = float32ToHalf(halfToFloat32(all));
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) expect((back[h]! & 0x7c00) === 0x7c00 && (back[h]! & 0x3ff) !== 0).toBe(true);
      else expect(back[h]).toBe(h);
    }
  });

  it('known values: 1, −2, 65504, the smallest subnormal, overflow to ∞', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(2 ** -24)).toBe(0x0001);
    expect(toHalfBits(70000)).toBe(0x7c00);
    expect(toHalfBits(-Infinity)).toBe(0xfc00);
    expect(toHalfBits(2 ** -26)).toBe(0);
  });

  it('rounds to the nearest half, ties to even, across normal and subnormal ranges', () => {
    const decoded = halfToFloat32(new Uint16Array(65536).map((_, i) => i));
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((rand() - 0.5) * 2 ** (Math.floor(rand() * 42) - 26));
      const h = toHalfBits(x);
      const got = decoded[h]!;
      // no neighbouring half is closer
      const err = Math.abs(got - x);
      for (const n of [h - 1, h + 1]) if (n >= 0 && n < 65536 && ((n ^ h) & 0x8000) === 0) expect(err).toBeLessThanOrEqual(Math.abs(decoded[n]! - x));
    }
    // ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 → even (1); 1 + 3·2^-11 → 1 + 2^-9 (even mantissa 2)
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // negative control: plain truncation would give 0x3c01 here
    expect(toHalfBits(1 + 2 ** -10 + 2 ** -11 + 2 ** -20)).toBe(0x3c02);
  });
});
