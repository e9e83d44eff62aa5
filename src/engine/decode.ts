/**
 * Latents to RGB for the embedded model (docs/model-architecture.md §4): the latent is the frame's
 * pixels folded by pixel_unshuffle(4), so decoding is pixel_shuffle(4) then
 * rgb = round(clamp((x + 1) / 2, 0, 1) · 255), in float32 with ties to even, as torch does it in
 * training/data.py `decode`. Channel c·f² + i·f + j holds pixel (c, f·y + i, f·x + j).
 * Also picks the frames of a small per-step preview. Pure; imports only errors.ts. VAE models decode
 * through vae-decode.ts, with the same byte rule (latentToByte).
 */

import { check, EngineError } from './errors.js';

export interface FrameGeometry {
  /** Latent channels (3·factor² for a pixel-shuffle latent). */
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Output pixels per latent pixel along each axis: the pixel_shuffle factor (4 for the embedded model) or a VAE's upscale (8). */
  readonly factor: number;
}

/** RGB frames as bytes [frames, H·f, W·f, 3] (a VAE model's previews: [frames, H, W, 3]). */
export interface RgbFrames {
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly data: Uint8Array;
}

const f32 = Math.fround;

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One latent value in [-1, 1] → byte, in float32 arithmetic like torch. */
export function latentToByte(x: number): number {
  let v = f32(f32(f32(x) + 1) / 2);
  v = v < 0 ? 0 : v > 1 ? 1 : v;
  return roundHalfEven(f32(v * 255));
}

/**
 * Frame-major latents [frames, C, H, W] → RGB bytes [frames, H·f, W·f, 3]. `frameList` picks which
 * frames (indices into the latents) to decode, default all.
 */
export function decodeLatents(latents: Float32Array, geom: FrameGeometry, frameList?: readonly number[]): RgbFrames {
  const { channels: c, height: h, width: w, factor: f } = geom;
  check(c === 3 * f * f, EngineError, 'decodeLatents', 'channels', c, `3·factor² = ${3 * f * f}`);
  const per = c * h * w;
  check(latents.length % per === 0, EngineError, 'decodeLatents', 'latents.length', latents.length, `a multiple of C·H·W = ${per}`, 'shape-mismatch');
  const total = latents.length / per;
  const list = frameList ?? Array.from({ length: total }, (_, i) => i);
  const ph = h * f;
  const pw = w * f;
  const out = new Uint8Array(list.length * ph * pw * 3);
  list.forEach((frame, n) => {
    check(Number.isInteger(frame) && frame >= 0 && frame < total, EngineError, 'decodeLatents', 'frameList[]', frame, `in [0, ${total})`);
    const base = frame * per;
    for (let rgb = 0; rgb < 3; rgb++)
      for (let i = 0; i < f; i++)
        for (let j = 0; j < f; j++) {
          const ch = rgb * f * f + i * f + j;
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++) {
              const py = f * y + i;
              const px = f * x + j;
              out[((n * ph + py) * pw + px) * 3 + rgb] = latentToByte(latents[base + (ch * h + y) * w + x]!);
            }
        }
  });
  return { frames: list.length, height: ph, width: pw, data: out };
}

/** Up to `max` evenly spaced frame indices of a clip of `frames` (first and last included when max ≥ 2). */
export function previewFrameIndices(frames: number, max: number): number[] {
  if (frames <= max) return Array.from({ length: frames }, (_, i) => i);
  if (max <= 1) return [0];
  return Array.from({ length: max }, (_, k) => Math.round((k * (frames - 1)) / (max - 1)));
}
