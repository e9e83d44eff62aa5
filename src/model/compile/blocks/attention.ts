// Attention modules and the BasicTransformerBlock (diffusers `attention.py` names): `to_q`, `to_k`,
// `to_v` without bias, `to_out.0` with bias; LayerNorm eps 1e-5; GEGLU feed-forward
// (`ff.net.0.proj` → hidden·gelu_erf(gate) → `ff.net.2`).
import { maskedFrameAttention } from '../numerics.js';
import { type Ctx, type Value, attentionCore, geluErf, layerNorm, linear, slice, INT64_MAX } from './nn.js';

export const LN_EPS = 1e-5;

/**
 * Attention of queries `xq` over keys/values from `xkv` ([N, L, ·]); bias broadcast to [N, h, Lq, Lk].
 * `frameBias`: the bias is a temporal attention's [F, S] frame bias with masked keys, and the query
 * rows are frames in order (numerics.ts `maskedFrameAttention` may then skip the masked keys).
 * xq.shape[1], when a number, is the query length the numerics may chunk over.
 */
export function attention(
  c: Ctx, key: string, xq: Value, xkv: Value, dim: number, kvDim: number, heads: number, headDim: number, bias: Value | null, frameBias = false,
): Value {
  const inner = heads * headDim;
  const q = linear(c, xq, `${key}.to_q`, dim, inner, false);
  if (xq.shape) q.shape ??= [...xq.shape.slice(0, -1), inner];
  const k = linear(c, xkv, `${key}.to_k`, kvDim, inner, false);
  const v = linear(c, xkv, `${key}.to_v`, kvDim, inner, false);
  const o = frameBias && bias ? maskedFrameAttention(c, q, k, v, heads, headDim, bias) : attentionCore(c, q, k, v, heads, headDim, bias);
  return linear(c, o, `${key}.to_out.0`, inner, dim, true);
}

/** GEGLU feed-forward with inner width 4·dim. */
export function feedForward(c: Ctx, x: Value, key: string, dim: number): Value {
  const proj = linear(c, x, `${key}.net.0.proj`, dim, 8 * dim, true);
  const hidden = slice(c, proj, -1, 0, 4 * dim);
  const gate = slice(c, proj, -1, 4 * dim, INT64_MAX);
  return linear(c, c.P.op('Mul', [hidden, geluErf(c, gate)]), `${key}.net.2`, 4 * dim, dim, true);
}

export { layerNorm };
