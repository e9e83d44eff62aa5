/**
 * Classifier-free guidance with one [uncond, cond] batch (the uncond half is the empty prompt;
 * diffusers' text-to-video pipeline): the UNet sees batch 2 (uncond first, cond second, batch
 * outermost), and the noise prediction is uncond + scale·(cond − uncond). Owns the batch layout
 * helpers; imports only `errors.ts` and the scheduler's array type.
 *
 * Layouts (diffusers UNet3D, one tab's clip of F frames):
 *   sample / noise_pred   [2, C, F, H, W]  (b = 0 uncond, b = 1 cond)
 *   encoder_hidden_states [2·F, L, D]      (row b·F + f; the uncond half is the empty prompt)
 */

import { check, EngineError } from './errors.js';
import type { FloatArray } from './schedulers/scheduler.js';

/** [C, F, H, W] → [2, C, F, H, W] = [x, x]: both halves see the same latent. */
export function cfgBatch(sample: FloatArray): Float32Array {
  const out = new Float32Array(2 * sample.length);
  out.set(sample, 0);
  out.set(sample, sample.length);
  return out;
}

/**
 * noise_pred [2, ...] → guided [...]: g = u + scale·(c − u), per element in float64, rounded once
 * to float32. scale 1 gives the cond prediction; scale 0 the uncond one.
 */
export function combineGuidance(modelOutput: FloatArray, guidanceScale: number, out?: Float32Array): Float32Array {
  check(modelOutput.length % 2 === 0, EngineError, 'combineGuidance', 'modelOutput.length', modelOutput.length, 'even (the [uncond, cond] batch)', 'shape-mismatch');
  check(Number.isFinite(guidanceScale), EngineError, 'combineGuidance', 'guidanceScale', guidanceScale, 'a finite number');
  const n = modelOutput.length / 2;
  const g = out ?? new Float32Array(n);
  check(g.length === n, EngineError, 'combineGuidance', 'out.length', g.length, `half of modelOutput.length (${n})`, 'shape-mismatch');
  for (let i = 0; i < n; i++) {
    const u = modelOutput[i]!;
    const c = modelOutput[n + i]!;
    g[i] = u + guidanceScale * (c - u);
  }
  return g;
}

/**
 * encoder_hidden_states for a clip: [2·F, L, D], rows 0..F−1 the uncond embedding, rows F..2F−1
 * the cond embedding of each frame (from the prompt schedule). Each embedding is [L, D].
 */
export function cfgEncoderHiddenStates(uncond: Float32Array, condPerFrame: readonly Float32Array[]): Float32Array {
  const size = uncond.length;
  const frames = condPerFrame.length;
  const out = new Float32Array(2 * frames * size);
  condPerFrame.forEach((cond, f) => {
    check(cond.length === size, EngineError, 'cfgEncoderHiddenStates', `condPerFrame[${f}].length`, cond.length, `equal to uncond.length (${size})`, 'shape-mismatch');
    out.set(uncond, f * size);
    out.set(cond, (frames + f) * size);
  });
  return out;
}
