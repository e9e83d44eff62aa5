// The compiler's numeric choices in one place: the precision a weight is stored in, and how attention
// is computed. Block code never creates a weight tensor or an attention itself; it calls `weight` and
// `attentionCore` here. Memory work for the browser (fp16 weights, fused or chunked attention) changes
// this file and nothing else, and the parity tests tell whether a change kept the numbers.
import { type GraphDef, ONNX_DTYPE, ai, type Value } from './graph.js';
import type { Ctx } from './blocks/nn.js';
import type { WeightData } from './weights.js';

export interface Numerics {
  /**
   * Storage precision of the UNet's weights. 'float16': half the download and cache; each weight is
   * a float16 initializer followed by a Cast to float32, so the graph still computes in float32 on
   * any adapter (ORT turns such Casts into float32 initializers when it creates the session, so
   * that session holds float32 weights). Half-precision compute is a separate graph set derived
   * from these graphs (float16-compute.ts).
   */
  readonly precision: 'float32' | 'float16';
  /**
   * 'explicit': MatMul → scale → + bias → Softmax → MatMul, one [N, heads, Lq, Lk] logits tensor per
   * attention (at 320×512 a spatial self-attention's is 2 × 16 frames × 5 × 2560² floats = 2.1 GB).
   */
  readonly attention: 'explicit';
  /**
   * Query rows per chunk of an attention whose query length is known when compiling (the spatial
   * self- and cross-attentions: H·W tokens); 0 computes all rows at once. Bounds the logits tensor
   * at [N, heads, queryChunk, Lk] (the chunks run one after another and reuse the memory).
   */
  readonly queryChunk: number;
  /**
   * Temporal attention: query frames per band block. Each block of consecutive query frames attends
   * only to the key columns its bias rows leave unmasked (its local window and the global frames),
   * so time and memory grow linearly with the frames. 0: the dense [F, F + context] logits, masked.
   * 16 (`--temporal-block 16`): a block's keys are then its 16 frames ± the window plus the global
   * frames (K ≤ 32 on the embedded model), so a query row scores at most twice the keys it needs.
   * The default: its index work is float32 arithmetic, so WebGPU runs every node (docs/performance.md,
   * "The banded form").
   */
  readonly temporalBlock: number;
}

/** What every compiled graph uses unless a compile option says otherwise. */
export const DEFAULT_NUMERICS: Numerics = Object.freeze({ precision: 'float32', attention: 'explicit', queryChunk: 0, temporalBlock: 16 });

/** A weight as a graph initializer, in the storage precision. `key` names it in the graph (its checkpoint key). */
export function weight(c: Ctx, key: string, dims: number[], data: WeightData): Value {
  const n = c.numerics ?? DEFAULT_NUMERICS;
  if (n.precision === 'float32') return c.P.initializer(key, dims, data);
  const stored = c.P.initializer(key, dims, data, 'float16');
  // One Cast per weight per graph: a key asked twice in a graph reuses both the initializer and its Cast.
  const graph = c.P.current.graph;
  let casts = upcasts.get(graph);
  if (!casts) upcasts.set(graph, (casts = new Map()));
  let up = casts.get(key);
  if (!up) casts.set(key, (up = c.P.op('Cast', [stored], { to: ai(ONNX_DTYPE.float32) }, `${key}${UPCAST_SUFFIX}`, dims)));
  return up;
}

/** Name suffix of a float16 weight's Cast to float32 (float16-compute.ts recognises these). */
export const UPCAST_SUFFIX = '/float32';
const upcasts = new WeakMap<GraphDef, Map<string, Value>>();

/**
 * softmax(q·kᵀ·scale + bias)·v per head. q [N, Lq, h·d], k, v [N, Lk, h·d]; bias broadcastable to
 * [N, h, Lq, Lk] (or null). Returns [N, Lq, h·d]. Without a bias, a query whose length is known when
 * compiling (q.shape[1], a number) runs in chunks of `queryChunk` rows.
 */
export function attentionCore(c: Ctx, q: Value, k: Value, v: Value, heads: number, headDim: number, bias: Value | null): Value {
  const n = numericsOf(c);
  const rows = q.shape?.[1];
  const kh = splitHeads(c, k, heads, headDim, 1, true);
  const vh = splitHeads(c, v, heads, headDim, 1, false);
  if (n.queryChunk > 0 && bias === null && typeof rows === 'number' && rows > n.queryChunk) {
    const parts: Value[] = [];
    for (let r = 0; r < rows; r += n.queryChunk) {
      const qc = c.P.op('Slice', [q, c.P.constI64([r]), c.P.constI64([Math.min(rows, r + n.queryChunk)]), c.P.constI64([1])]);
      parts.push(headsAttention(c, splitHeads(c, qc, heads, headDim, 1, false), kh, vh, heads, headDim, null, 1));
    }
    return c.P.op('Concat', parts, { axis: ai(1) });
  }
  return headsAttention(c, splitHeads(c, q, heads, headDim, 1, false), kh, vh, heads, headDim, bias, 1);
}

/** Bias entries below this are masked keys (the engine writes −1e9; real biases are small). */
const MASKED_BELOW = -5e8;
/** A Slice end past any axis (Slice clamps it). */
const TO_END = Number.MAX_SAFE_INTEGER;
/** Added to the score of a used key column (bandSelection); 2²³ + s is exact in float32 for s < 2²³. */
const USED = 2 ** 23;

/**
 * Attention of query frames over key frames under a [F, S] logit bias whose masked entries (−1e9 or
 * −Infinity) must get zero weight: q [N, F, h·d] with rows in frame order, k, v [N, S, h·d], key
 * columns in any order. Returns [N, F, h·d], the same as attentionCore(q, k, v, heads, headDim, bias):
 * a masked key's weight is exactly 0 in float32 either way (exp(−1e9) underflows), only summation
 * order differs.
 *
 * Banded (`temporalBlock` > 0): the query frames are cut into blocks of that many consecutive frames;
 * each block gathers only the K key columns its bias rows leave unmasked (K = the most any block
 * needs: its frames plus the local window each side, plus the global frames), so the logits are
 * [N, blocks, h, block, K] instead of [N, h, F, S]: linear in F. The row and column selections are
 * read off the bias once per graph (bandSelection) and shared by its attentions.
 */
export function maskedFrameAttention(c: Ctx, q: Value, k: Value, v: Value, heads: number, headDim: number, bias: Value): Value {
  const n = numericsOf(c);
  if (n.temporalBlock <= 0) return attentionCore(c, q, k, v, heads, headDim, bias);
  const P = c.P;
  const band = bandSelection(c, bias, n.temporalBlock);
  const inner = heads * headDim;
  const qb = P.op('Gather', [q, band.rows], { axis: ai(1) }); // [N, blocks, block, h·d]
  const kb = P.op('Gather', [k, band.columns], { axis: ai(1) }); // [N, blocks, K, h·d]
  const vb = P.op('Gather', [v, band.columns], { axis: ai(1) });
  const o = headsAttention(c, splitHeads(c, qb, heads, headDim, 2, false), splitHeads(c, kb, heads, headDim, 2, true), splitHeads(c, vb, heads, headDim, 2, false), heads, headDim, band.bias, 2);
  const rows = P.op('Reshape', [o, P.constI64([0, -1, inner])]); // [N, blocks·block, h·d]: frame f at row f, repeats of the last frame after F
  return P.op('Gather', [rows, band.frames], { axis: ai(1) });
}

interface BandSelection {
  /** [blocks, block] int64: the query frame of each block row; rows past the last frame repeat it. */
  rows: Value;
  /** [blocks, K] int64: the key columns of each block. */
  columns: Value;
  /** [blocks, 1, block, K]: the bias of those columns, per block row. */
  bias: Value;
  /** [F] int64: 0 … F − 1, the block rows that are real frames. */
  frames: Value;
}
const bands = new WeakMap<GraphDef, Map<string, BandSelection>>();

/**
 * The banded selection, computed on whichever device runs the graph. Every index is computed in
 * float32 (exact below 2²⁴) and cast to int64 only where a Gather takes it; no int64 tensor is an
 * operand of arithmetic, Concat, Unsqueeze or Expand, and no shape is computed from another: ORT's
 * WebGPU EP has no kernels for those on int64 and would run them on the CPU. The block count comes
 * from a strided Slice, K from TopK's data-valued k.
 */
function bandSelection(c: Ctx, bias: Value, block: number): BandSelection {
  const P = c.P;
  const graph = P.current.graph;
  let known = bands.get(graph);
  if (!known) bands.set(graph, (known = new Map()));
  const found = known.get(`${bias.name}/${block}`);
  if (found) return found;
  const i64 = (x: Value) => P.op('Cast', [x], { to: ai(ONNX_DTYPE.int64) });
  const f32 = (x: Value) => P.op('Cast', [x], { to: ai(ONNX_DTYPE.float32) });
  const seen = f32(P.op('Greater', [bias, P.constF32([MASKED_BELOW], [])])); // [F, S]: 1 where a frame sees a key
  // Frame numbers 0 … F − 1 as a [F, 1] column: a running sum of ones (any column of `seen`, times 0, plus 1).
  const ones = P.op('Add', [P.op('Mul', [P.op('Slice', [seen, P.constI64([0]), P.constI64([1]), P.constI64([1])]), P.constF32([0], [])]), P.constF32([1], [])]);
  const frame = P.op('Sub', [P.op('CumSum', [ones, P.constI64([0], [])]), P.constF32([1], [])]);
  const blockStart = P.op('Slice', [frame, P.constI64([0]), P.constI64([TO_END]), P.constI64([0]), P.constI64([block])]); // [blocks, 1]
  const last = P.op('ReduceMax', [frame], { keepdims: ai(1) }); // [1, 1]: F − 1
  const offsets = P.constF32(Array.from({ length: block }, (_, i) => i), [1, block]);
  const rows = i64(P.op('Min', [P.op('Add', [blockStart, offsets]), last])); // [blocks, block]
  const blockBias = P.op('Gather', [bias, rows], { axis: ai(0) }); // [blocks, block, S]
  const used = P.op('ReduceMax', [P.op('Gather', [seen, rows], { axis: ai(0) })], { axes: { ints: [1] }, keepdims: ai(0) }); // [blocks, S]: 1 where some row of the block sees the key
  const widest = P.op('ReduceMax', [P.op('ReduceSum', [used, P.constI64([1])], { keepdims: ai(0) })], { keepdims: ai(1) });
  const K = i64(widest);
  // Each key scored by its column number, plus USED where the block uses it: the K highest are every
  // used column (the unused ones that fill a narrower block are masked for all its rows), and a score
  // gives its column back exactly (USED + column is exact for columns below 2²³). TopK's values, not its
  // int64 indices, carry the columns: the WebGPU EP cannot cast int64 to float.
  const keyOnes = P.op('Add', [P.op('Mul', [P.op('Slice', [seen, P.constI64([0]), P.constI64([1]), P.constI64([0])]), P.constF32([0], [])]), P.constF32([1], [])]);
  const key = P.op('Sub', [P.op('CumSum', [keyOnes, P.constI64([1], [])]), P.constF32([1], [])]); // [1, S]: 0 … S − 1
  const score = P.op('Add', [P.op('Mul', [used, P.constF32([USED], [])]), key]);
  const top = P.opN('TopK', [score, K], { axis: ai(-1), largest: ai(1), sorted: ai(1) }, 2)[0]!; // [blocks, K]
  const picked = P.op('Sub', [top, P.op('Mul', [f32(P.op('Greater', [top, P.constF32([USED - 0.5], [])])), P.constF32([USED], [])])]);
  const perRow = i64(P.op('Expand', [P.op('Unsqueeze', [picked, P.constI64([1])]), P.constI64([1, block, 1])])); // [blocks, block, K]
  const sel = P.op('Unsqueeze', [P.op('GatherElements', [blockBias, perRow], { axis: ai(2) }), P.constI64([1])]);
  const out = { rows, columns: i64(picked), bias: sel, frames: i64(P.op('Reshape', [frame, P.constI64([-1])])) };
  known.set(`${bias.name}/${block}`, out);
  return out;
}

function numericsOf(c: Ctx): Numerics {
  const n = c.numerics ?? DEFAULT_NUMERICS;
  if (n.attention !== 'explicit') throw new Error(`internal: attention '${n.attention}' is not implemented`);
  const out = { ...n, queryChunk: n.queryChunk ?? DEFAULT_NUMERICS.queryChunk, temporalBlock: n.temporalBlock ?? DEFAULT_NUMERICS.temporalBlock };
  for (const k of ['queryChunk', 'temporalBlock'] as const) {
    if (!Number.isSafeInteger(out[k]) || out[k] < 0) throw new Error(`numerics: ${k} must be an integer >= 0, got ${out[k]}`);
  }
  return out;
}

/** x [...batch, L, h·d] → [...batch, h, L, d] (keys: [...batch, h, d, L]); `batchDims` leading batch axes. */
function splitHeads(c: Ctx, x: Value, heads: number, headDim: number, batchDims: number, keys: boolean): Value {
  const lead = Array.from({ length: batchDims }, (_, i) => i);
  const b = batchDims;
  const perm = keys ? [...lead, b + 1, b + 2, b] : [...lead, b + 1, b, b + 2];
  return c.P.op('Transpose', [c.P.op('Reshape', [x, c.P.constI64([...lead.map(() => 0), 0, heads, headDim])])], { perm: { ints: perm } });
}

/** softmax(qh·kh·scale + bias)·vh on split heads; returns [...batch, Lq, h·d]. */
function headsAttention(c: Ctx, qh: Value, kh: Value, vh: Value, heads: number, headDim: number, bias: Value | null, batchDims: number): Value {
  const P = c.P;
  const lead = Array.from({ length: batchDims }, (_, i) => i);
  const b = batchDims;
  let logits = P.op('Mul', [P.op('MatMul', [qh, kh]), P.constF32([1 / Math.sqrt(headDim)], [])]);
  if (bias) logits = P.op('Add', [logits, bias]);
  const p = P.op('Softmax', [logits], { axis: ai(-1) });
  const o = P.op('Transpose', [P.op('MatMul', [p, vh])], { perm: { ints: [...lead, b + 1, b, b + 2] } }); // [...batch, Lq, h, d]
  return P.op('Reshape', [o, P.constI64([...lead.map(() => 0), 0, heads * headDim])]);
}
