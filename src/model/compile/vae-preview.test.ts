// The preview fit (vae-preview.ts) recovers a decoder that is exactly linear per latent pixel, and
// reports less than a perfect fit for one that is not.
import { describe, expect, it } from 'vitest';
import { PREVIEW_FIT, fitLatentPreview, smoothLatents } from './vae-preview.js';

const C = 4;
const S = 8;
const M = [[0.3, -0.2, 0.1, 0.05], [0.1, 0.25, -0.3, 0], [-0.15, 0.05, 0.2, 0.35]];
const B = [0.1, -0.05, 0.2];

/** A fake decoder: each latent pixel's colour M·z + b (through `f`) over its S×S block. */
function fakeDecoder(f: (v: number) => number) {
  const { height: h, width: w } = PREVIEW_FIT;
  return async (latents: Float32Array, n: number): Promise<Float32Array> => {
    const out = new Float32Array(n * 3 * S * S * h * w);
    for (let k = 0; k < n; k++)
      for (let rgb = 0; rgb < 3; rgb++)
        for (let y = 0; y < S * h; y++)
          for (let x = 0; x < S * w; x++) {
            let v = B[rgb]!;
            for (let c = 0; c < C; c++) v += M[rgb]![c]! * latents[((k * C + c) * h + (y >> 3)) * w + (x >> 3)]!;
            out[((k * 3 + rgb) * S * h + y) * S * w + x] = f(v);
          }
    return out;
  };
}

describe('latent preview fit', () => {
  it('recovers an exactly linear decoder (R² = 1)', async () => {
    const fit = await fitLatentPreview(fakeDecoder((v) => v), C, S);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < C; c++) expect(fit.matrix[r]![c]).toBeCloseTo(M[r]![c]!, 5);
      expect(fit.bias[r]).toBeCloseTo(B[r]!, 5);
    }
    expect(fit.r2).toBeGreaterThan(1 - 1e-9);
  });

  it('negative control: a saturating decoder is not fitted exactly', async () => {
    const fit = await fitLatentPreview(fakeDecoder((v) => Math.tanh(4 * v)), C, S);
    expect(fit.r2).toBeLessThan(0.99);
  });

  it('samples smooth, deterministic, about unit-variance latents', () => {
    const a = smoothLatents(4, C, 8, 8, 3, 7);
    expect(smoothLatents(4, C, 8, 8, 3, 7)).toEqual(a);
    expect(smoothLatents(4, C, 8, 8, 3, 8)).not.toEqual(a);
    const rms = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(rms).toBeGreaterThan(0.4);
    expect(rms).toBeLessThan(1.5);
    // Neighbours differ far less than the values themselves (smooth fields).
    let step = 0;
    for (let i = 0; i < a.length; i++) if (i % 8 !== 7) step += (a[i + 1]! - a[i]!) ** 2;
    expect(Math.sqrt(step / (a.length * 7 / 8))).toBeLessThan(0.5 * rms);
  });
});
