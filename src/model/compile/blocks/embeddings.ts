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
  const arg = c.P.op('Mul', [reshape(c, t, [1, 1]), freq]); // [1, half]
  return c.P.op('Concat', [c.P.op('Cos', [arg]), c.P.op('Sin', [arg])], { axis: ai(-1) });
}

function timestepEmbedding(c: Ctx, x: Value, key: string, cin: number, cout: number): Value {
  return linear(c, silu(c, linear(c, x, `${key}.linear_1`, cin, cout, true)), `${key}.linear_2`, cout, cout, true);
}

export function timeEmbedding(c: Ctx, t: Value, fps: Value | null, C0: number): Value {
  let emb = timestepEmbedding(c, sinusoidal(c, t, C0), 'time_embedding', C0, 4 * C0);
  if (fps) emb = c.P.op('Add', [emb, timestepEmbedding(c, sinusoidal(c, fps, C0), 'fps_embedding', C0, 4 * C0)]);
  return c.P.op('Identity', [emb], {}, 'emb', [1, 4 * C0]);
}
