// Primitive layers as opset-17 ONNX node groups: linear, conv, per-frame GroupNorm (decomposed),
// LayerNorm, activations, multi-head attention core. Every block file builds on these.
// Layout legend: N = B·F rows (batch outermost), C channels, H×W latent, L tokens, D features.
import { af, ai, aints, type Dim, type Program, Value } from '../graph.js';
import { type Numerics, weight } from '../numerics.js';
import type { Weights } from '../weights.js';

/** What every block needs: the program being built, the weights, and static sizes. */
export interface Ctx {
  P: Program;
  W: Weights;
  /** CFG batch (2 = [uncond, cond]); fixed at compile time so every Reshape uses constants. */
  batch: number;
  /** Precision and attention kind (numerics.ts); DEFAULT_NUMERICS when absent. */
  numerics?: Numerics;
}

export function reshape(c: Ctx, x: Value, dims: number[], shape?: Dim[], name?: string): Value {
  return c.P.op('Reshape', [x, c.P.constI64(dims)], {}, name, shape);
}

export function transpose(c: Ctx, x: Value, perm: number[], shape?: Dim[], name?: string): Value {
  return c.P.op('Transpose', [x], { perm: aints(perm) }, name, shape);
}

/** Slice along one axis with constant bounds (negative = from the end). */
export function slice(c: Ctx, x: Value, axis: number, start: number, end: number, shape?: Dim[]): Value {
  return c.P.op('Slice', [x, c.P.constI64([start]), c.P.constI64([end]), c.P.constI64([axis])], {}, undefined, shape);
}

export const INT64_MAX = Number.MAX_SAFE_INTEGER; // Slice clamps; 2^53-1 is "to the end" for any real tensor

export function add(c: Ctx, a: Value, b: Value, name?: string, shape?: Dim[]): Value {
  return c.P.op('Add', [a, b], {}, name, shape ?? a.shape);
}

export function silu(c: Ctx, x: Value): Value {
  return c.P.op('Mul', [x, c.P.op('Sigmoid', [x])], {}, undefined, x.shape);
}

/** torch's exact GELU: 0.5·x·(1 + erf(x/√2)). */
export function geluErf(c: Ctx, x: Value): Value {
  const e = c.P.op('Erf', [c.P.op('Mul', [x, c.P.constF32([Math.SQRT1_2], [])])]);
  return c.P.op('Mul', [c.P.op('Mul', [x, c.P.constF32([0.5], [])]), c.P.op('Add', [e, c.P.constF32([1], [])])]);
}

/** nn.Linear: x·Wᵀ (+ b). `key` is the module path (weight `${key}.weight`, bias `${key}.bias`). */
export function linear(c: Ctx, x: Value, key: string, inF: number, outF: number, bias: boolean, name?: string, shape?: Dim[]): Value {
  const w = weight(c, `${key}.weight`, [inF, outF], c.W.takeLinear(`${key}.weight`, outF, inF));
  let y = c.P.op('MatMul', [x, w], {}, bias ? undefined : name, bias ? undefined : shape);
  if (bias) y = c.P.op('Add', [y, weight(c, `${key}.bias`, [outF], c.W.take(`${key}.bias`, [outF]))], {}, name, shape);
  return y;
}

/** nn.Conv2d with square kernel k, given stride and symmetric padding. */
export function conv2d(c: Ctx, x: Value, key: string, cin: number, cout: number, k: number, stride = 1, pad = 0, shape?: Dim[], name?: string): Value {
  const w = weight(c, `${key}.weight`, [cout, cin, k, k], c.W.take(`${key}.weight`, [cout, cin, k, k]));
  const b = weight(c, `${key}.bias`, [cout], c.W.take(`${key}.bias`, [cout]));
  return c.P.op('Conv', [x, w, b], { kernel_shape: aints([k, k]), strides: aints([stride, stride]), pads: aints([pad, pad, pad, pad]) }, name, shape);
}

/** Affine of a norm: x·γ + β with γ, β of `channels`, broadcast as [C, 1, ..., 1] (`trailing` ones). */
export function affine(c: Ctx, x: Value, key: string, channels: number, trailing: number, shape?: Dim[], name?: string): Value {
  const dims = [channels, ...Array<number>(trailing).fill(1)];
  const g = weight(c, `${key}.weight`, dims, c.W.take(`${key}.weight`, [channels]));
  const b = weight(c, `${key}.bias`, dims, c.W.take(`${key}.bias`, [channels]));
  return c.P.op('Add', [c.P.op('Mul', [x, g]), b], {}, name, shape);
}

/** (x − mean) / sqrt(var + eps), all broadcastable. */
export function normalize(c: Ctx, x: Value, mean: Value, variance: Value, eps: number): Value {
  const d = c.P.op('Sub', [x, mean]);
  return c.P.op('Div', [d, c.P.op('Sqrt', [c.P.op('Add', [variance, c.P.constF32([eps], [])])])]);
}

/**
 * GroupNorm with statistics per row of dim 0 (per frame): x [N, C, H, W]. Decomposed (no
 * GroupNormalization kernel on WebGPU): reshape to [N, G, C/G·H·W], mean and biased variance over
 * the last axis, normalise, reshape back, affine.
 */
export function groupNormPerFrame(c: Ctx, x: Value, key: string, C: number, G: number, eps: number, H: number, W: number): Value {
  const xr = reshape(c, x, [0, G, -1]);
  const mean = c.P.op('ReduceMean', [xr], { axes: aints([2]), keepdims: ai(1) });
  const d = c.P.op('Sub', [xr, mean]);
  const variance = c.P.op('ReduceMean', [c.P.op('Mul', [d, d])], { axes: aints([2]), keepdims: ai(1) });
  const y = c.P.op('Div', [d, c.P.op('Sqrt', [c.P.op('Add', [variance, c.P.constF32([eps], [])])])]);
  return affine(c, reshape(c, y, [0, C, H, W]), key, C, 2, x.shape);
}

export function layerNorm(c: Ctx, x: Value, key: string, dim: number, eps: number, name?: string): Value {
  const g = weight(c, `${key}.weight`, [dim], c.W.take(`${key}.weight`, [dim]));
  const b = weight(c, `${key}.bias`, [dim], c.W.take(`${key}.bias`, [dim]));
  return c.P.op('LayerNormalization', [x, g, b], { axis: ai(-1), epsilon: af(eps) }, name, x.shape);
}

// The attention core lives with the other numeric choices (numerics.ts); re-exported for block code.
export { attentionCore } from '../numerics.js';

export { Value };
