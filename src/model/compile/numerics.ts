// The compiler's numeric choices in one place: the precision a weight is stored in, and how attention
// is computed. Block code never creates a weight tensor or an attention itself; it calls `weight` and
// `attentionCore` here. Memory work for the browser (fp16 weights, fused or chunked attention) changes
// this file and nothing else, and the parity tests tell whether a change kept the numbers.
import { ai, type Value } from './graph.js';
import type { Ctx } from './blocks/nn.js';
import type { WeightData } from './weights.js';

export interface Numerics {
  /** Storage and compute precision of weights and activations. Only float32 exists today. */
  readonly precision: 'float32';
  /**
   * 'explicit': MatMul → scale → + bias → Softmax → MatMul, one [N, heads, Lq, Lk] logits tensor per
   * attention (at 320×512 a spatial self-attention's is 2 × 16 frames × 5 × 2560² floats = 2.1 GB).
   */
  readonly attention: 'explicit';
}

/** What every compiled graph uses unless a compile option says otherwise. */
export const DEFAULT_NUMERICS: Numerics = Object.freeze({ precision: 'float32', attention: 'explicit' });

/** A weight as a graph initializer, in the storage precision. `key` names it in the graph (its checkpoint key). */
export function weight(c: Ctx, key: string, dims: number[], data: WeightData): Value {
  const n = c.numerics ?? DEFAULT_NUMERICS;
  if (n.precision !== 'float32') throw new Error(`internal: precision '${n.precision}' is not implemented`);
  return c.P.initializer(key, dims, data);
}

/**
 * softmax(q·kᵀ·scale + bias)·v per head. q [N, Lq, h·d], k, v [N, Lk, h·d]; bias broadcastable to
 * [N, h, Lq, Lk] (or null). Returns [N, Lq, h·d].
 */
export function attentionCore(c: Ctx, q: Value, k: Value, v: Value, heads: number, headDim: number, bias: Value | null): Value {
  const n = c.numerics ?? DEFAULT_NUMERICS;
  if (n.attention !== 'explicit') throw new Error(`internal: attention '${n.attention}' is not implemented`);
  const P = c.P;
  const split = (x: Value, perm: number[]) => P.op('Transpose', [P.op('Reshape', [x, P.constI64([0, 0, heads, headDim])])], { perm: { ints: perm } });
  const qh = split(q, [0, 2, 1, 3]); // [N, h, Lq, d]
  const kh = split(k, [0, 2, 3, 1]); // [N, h, d, Lk]
  const vh = split(v, [0, 2, 1, 3]); // [N, h, Lk, d]
  let logits = P.op('Mul', [P.op('MatMul', [qh, kh]), P.constF32([1 / Math.sqrt(headDim)], [])]);
  if (bias) logits = P.op('Add', [logits, bias]);
  const p = P.op('Softmax', [logits], { axis: ai(-1) });
  const o = P.op('Transpose', [P.op('MatMul', [p, vh])], { perm: { ints: [0, 2, 1, 3] } }); // [N, Lq, h, d]
  return P.op('Reshape', [o, P.constI64([0, 0, heads * headDim])]);
}
