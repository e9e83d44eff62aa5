// Timestep and fps embeddings (diffusers Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0) +
// TimestepEmbedding: linear_1 → SiLU → linear_2). emb = time_embedding(t) + fps_embedding(fps)
// (VideoCrafter2 port: fps added after linear_2). t and fps are scalars shared by all rows, so emb is [1, 4·C0].
import { ai } from '../graph.js';
import { type Ctx, type Value, linear, reshape, silu } from './nn.js';

/** [cos(t·f_k), sin(t·f_k)], f_k = exp(−ln(10000)·k/half), computed in float32 steps as torch does. */
function sinusoidal(c: Ctx, t: Value, dim: number): Value {
  const half = dim / 2;
  const lnBase = Math.fround(-Math.log(10000));
  const expo = Array.from({ length: half }, (_, k) => Math.fround(Math.fround(lnBase * k) / half));
  const freq = c.P.op('Exp', [c.P.constF32(expo, [1, half])]);
  const arg = reduceMod2Pi(c, c.P.op('Mul', [reshape(c, t, [1, 1]), freq])); // [1, half], in [−π, π]
  return c.P.op('Concat', [polyCos(c, arg), polySin(c, arg)], { axis: ai(-1) });
}

// Sin and cos as Horner polynomials (Taylor to degree 19/20: truncation < 1e-9 on [−π, π], float32
// rounding ~3e-7). The WebGPU EP's Sin/Cos on SwiftShader are off by up to 1.9e-4 on [−π, π]
// (measured: wasm 3e-8), which showed as ~5e-5 at the UNet output; WGSL only promises 2^-11.
const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

function horner(c: Ctx, r2: Value, coeffs: number[]): Value {
  let acc = c.P.constF32([coeffs[coeffs.length - 1]], []);
  for (let k = coeffs.length - 2; k >= 0; k--) acc = c.P.op('Add', [c.P.op('Mul', [acc, r2]), c.P.constF32([coeffs[k]], [])]);
  return acc;
}

function polySin(c: Ctx, r: Value): Value {
  const coeffs = Array.from({ length: 10 }, (_, k) => (k % 2 ? -1 : 1) / factorial(2 * k + 1)); // r^(2k+1)
  return c.P.op('Mul', [r, horner(c, c.P.op('Mul', [r, r]), coeffs)]);
}

function polyCos(c: Ctx, r: Value): Value {
  const coeffs = Array.from({ length: 11 }, (_, k) => (k % 2 ? -1 : 1) / factorial(2 * k)); // r^(2k)
  return horner(c, c.P.op('Mul', [r, r]), coeffs);
}

/**
 * x − 2π·round(x/2π) in float32 (Cody–Waite, 2π = C1 + C2 + C3 with C1 = 6.28125 exact in 8 bits, so
 * k·C1 and x − k·C1 are exact). Arguments reach t·f ≈ 1000; the polynomials need [−π, π].
 */
function reduceMod2Pi(c: Ctx, x: Value): Value {
  const C1 = 6.28125;
  const C2 = Math.fround(2 * Math.PI - C1);
  const C3 = Math.fround(2 * Math.PI - C1 - C2);
  const k = c.P.op('Floor', [c.P.op('Add', [c.P.op('Mul', [x, c.P.constF32([1 / (2 * Math.PI)], [])]), c.P.constF32([0.5], [])])]);
  let r = c.P.op('Sub', [x, c.P.op('Mul', [k, c.P.constF32([C1], [])])]);
  r = c.P.op('Sub', [r, c.P.op('Mul', [k, c.P.constF32([C2], [])])]);
  return c.P.op('Sub', [r, c.P.op('Mul', [k, c.P.constF32([C3], [])])]);
}

function timestepEmbedding(c: Ctx, x: Value, key: string, cin: number, cout: number): Value {
  return linear(c, silu(c, linear(c, x, `${key}.linear_1`, cin, cout, true)), `${key}.linear_2`, cout, cout, true);
}

export function timeEmbedding(c: Ctx, t: Value, fps: Value | null, C0: number): Value {
  let emb = timestepEmbedding(c, sinusoidal(c, t, C0), 'time_embedding', C0, 4 * C0);
  if (fps) emb = c.P.op('Add', [emb, timestepEmbedding(c, sinusoidal(c, fps, C0), 'fps_embedding', C0, 4 * C0)]);
  return c.P.op('Identity', [emb], {}, 'emb', [1, 4 * C0]);
}
