// The attention forms of numerics.ts give the explicit form's results: the banded temporal attention
// (only the key columns a block of query frames leaves unmasked) against the dense masked matrix, and
// spatial attention in query-row chunks against all rows at once. Small graphs on onnxruntime-node
// with random q, k, v and the engine's real dual-scope bias (segmented column order: own frames,
// left window, right window, global frames).
//
// Tolerance 1e-5 (measured below 1e-6: the forms differ only in summation order). Negative controls:
// the same comparison against the dense form with one unmasked key dropped, or with the rows of one
// chunk shifted, is far above it.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_DUAL_SCOPE } from '../../engine/dual-scope.js';
import { attentionBiasForKeys, clipLayout, segmentedKeyColumns } from '../../engine/unet-call-inputs.js';
import { prng } from '../../testing/prng.js';
import type { Ctx } from './blocks/nn.js';
import { type GraphDef, ONNX_DTYPE, Program, type Value } from './graph.js';
import { DEFAULT_NUMERICS, type Numerics, attentionCore, maskedFrameAttention } from './numerics.js';
import { serializeGraph } from './onnx-writer.js';

const TOL = 1e-5;
const HEADS = 2;
const HEAD_DIM = 4;
const INNER = HEADS * HEAD_DIM;
const N = 3;

function random(n: number, seed: number): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

type Build = (c: Ctx, q: Value, k: Value, v: Value, bias: Value) => Value;

async function run(numerics: Numerics, build: Build, feeds: { q: Float32Array; k: Float32Array; v: Float32Array; bias: Float32Array }, dims: { lq: number | string; lk: number; f: number; s: number }): Promise<Float32Array> {
  const P = new Program('attn');
  const c = { P, W: undefined as never, batch: 1, numerics } satisfies Ctx;
  const q = P.callInput('q', 'float32', [N, dims.lq, INNER]);
  const k = P.callInput('k', 'float32', [N, dims.lk, INNER]);
  const v = P.callInput('v', 'float32', [N, dims.lk, INNER]);
  const bias = P.callInput('bias', 'float32', [dims.f, dims.s]);
  const out = P.op('Identity', [build(c, q, k, v, bias)], {}, 'out', [N, dims.lq, INNER]);
  P.output(out, 'result');
  const g = P.segments[0]!.graph;
  // Unused inputs are fine for ORT but the graph must declare what it reads.
  for (const x of [q, k, v, bias]) if (!g.inputs.some((i) => i.name === x.name)) g.inputs.push({ name: x.name, dtype: 'float32', shape: x.shape!, source: { kind: 'call' } });
  const session = await ort.InferenceSession.create(serializeGraph(g));
  const lq = feeds.q.length / (N * INNER);
  const all: Record<string, ort.Tensor> = {
    q: new ort.Tensor('float32', feeds.q, [N, lq, INNER]),
    k: new ort.Tensor('float32', feeds.k, [N, dims.lk, INNER]),
    v: new ort.Tensor('float32', feeds.v, [N, dims.lk, INNER]),
    bias: new ort.Tensor('float32', feeds.bias, [dims.f, dims.s]),
  };
  const res = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, all[n]!])));
  await session.release();
  return res.out!.data as Float32Array;
}

const maxDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

const dense: Numerics = { ...DEFAULT_NUMERICS, temporalBlock: 0, queryChunk: 0 };
const temporal: Build = (c, q, k, v, bias) => maskedFrameAttention(c, q, k, v, HEADS, HEAD_DIM, bias);

describe('banded temporal attention = the dense masked matrix', () => {
  // Clips of a 64-frame video: interior, at each end, the whole video (no halos), one shorter than a block.
  const cases = [
    { range: { start: 20, end: 57 }, t: 999, block: 16 },
    { range: { start: 0, end: 24 }, t: 500, block: 16 },
    { range: { start: 40, end: 64 }, t: 999, block: 5 },
    { range: { start: 0, end: 64 }, t: 999, block: 16 },
    { range: { start: 30, end: 39 }, t: 500, block: 16 },
    // Masks written as −Infinity instead of −1e9 (the plan allows either).
    { range: { start: 20, end: 57 }, t: 999, block: 16, infinite: true },
  ];
  for (const { range, t, block, infinite } of cases) {
    it(`clip [${range.start}, ${range.end}) of 64, t = ${t}, block ${block}${infinite ? ', −Infinity masks' : ''}`, async () => {
      const layout = clipLayout(range, 64, EMBEDDED_DUAL_SCOPE, 4);
      const keys = segmentedKeyColumns(layout);
      const bias = attentionBiasForKeys(range, keys, EMBEDDED_DUAL_SCOPE, t).map((x) => (infinite && x <= -1e9 ? -Infinity : x));
      const f = layout.frames;
      const s = keys.length;
      const feeds = { q: random(N * f * INNER, 1), k: random(N * s * INNER, 2), v: random(N * s * INNER, 3), bias };
      const dims = { lq: 'F', lk: s, f, s };
      const want = await run(dense, temporal, feeds, dims);
      const got = await run({ ...DEFAULT_NUMERICS, temporalBlock: block }, temporal, feeds, dims);
      const diff = maxDiff(got, want);
      console.log(`banded (block ${block}) vs dense, ${f} frames × ${s} keys: max abs diff ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(TOL);

      // Negative control: the dense form without one key the last query frame favours (largest bias) is far off.
      const dropped = bias.slice();
      const row = (f - 1) * s;
      const rowBias = [...dropped.subarray(row, row + s)];
      const col = rowBias.indexOf(Math.max(...rowBias));
      dropped[row + col] = -1e9;
      const wrong = await run(dense, temporal, { ...feeds, bias: dropped }, dims);
      console.log(`  negative control, one key dropped: ${maxDiff(got, wrong).toExponential(2)}`);
      expect(maxDiff(got, wrong)).toBeGreaterThan(100 * TOL);
    });
  }
});

/**
 * Runtime int64 values of a graph (outputs of Shape, of Casts to int64, TopK's indices) that some
 * node uses other than as an index (Gather, GatherElements indices) or TopK's k: "Op (input)" each.
 * ORT's WebGPU EP has no int64 kernels for arithmetic, Concat, Unsqueeze, Expand, so it runs such
 * nodes on the CPU (e2e/model-parity.spec.ts checks the placement itself in Chromium).
 */
function int64Misuses(g: GraphDef): string[] {
  const int64 = new Set<string>();
  for (const n of g.nodes) {
    if (n.opType === 'Shape' || (n.opType === 'Cast' && n.attrs.to && 'i' in n.attrs.to && n.attrs.to.i === ONNX_DTYPE.int64)) int64.add(n.outputs[0]!);
    if (n.opType === 'TopK') int64.add(n.outputs[1]!);
  }
  const asIndex = (op: string, i: number) => ((op === 'Gather' || op === 'GatherElements' || op === 'TopK') && i === 1);
  return g.nodes.flatMap((n) => n.inputs.flatMap((x, i) => (int64.has(x) && !asIndex(n.opType, i) ? [`${n.opType} (${x})`] : [])));
}

describe('banded temporal attention keeps int64 to indices', () => {
  const graphOf = (numerics: Numerics) => {
    const P = new Program('attn');
    const c = { P, W: undefined as never, batch: 1, numerics } satisfies Ctx;
    const q = P.callInput('q', 'float32', [N, 'F', INNER]);
    const kv = P.callInput('k', 'float32', [N, 'S', INNER]);
    const bias = P.callInput('bias', 'float32', ['F', 'S']);
    P.output(P.op('Identity', [temporal(c, q, kv, kv, bias)], {}, 'out', [N, 'F', INNER]), 'result');
    return P.segments[0]!.graph;
  };
  it('no int64 value of the banded graph is computed with', () => {
    expect(int64Misuses(graphOf({ ...DEFAULT_NUMERICS, temporalBlock: 16 }))).toEqual([]);
  });
  it('negative control: a Shape fed to Mod is found', () => {
    const P = new Program('probe');
    const x = P.callInput('x', 'float32', ['F']);
    P.output(P.op('Identity', [P.op('Mod', [P.op('Shape', [x]), P.constI64([16])])], {}, 'out', [1]), 'result');
    expect(int64Misuses(P.segments[0]!.graph)).toHaveLength(1);
  });
});

describe('spatial attention in query-row chunks = all rows at once', () => {
  const spatial: Build = (c, q, k, v) => attentionCore(c, q, k, v, HEADS, HEAD_DIM, null);
  it('12 query rows in chunks of 5 (5 + 5 + 2)', async () => {
    const lq = 12;
    const lk = 12;
    const feeds = { q: random(N * lq * INNER, 4), k: random(N * lk * INNER, 5), v: random(N * lk * INNER, 6), bias: new Float32Array(1) };
    const dims = { lq, lk, f: 1, s: 1 };
    const want = await run(dense, spatial, feeds, dims);
    const got = await run({ ...DEFAULT_NUMERICS, queryChunk: 5 }, spatial, feeds, dims);
    expect(maxDiff(got, want)).toBeLessThanOrEqual(TOL);
    // Negative control: the second chunk's rows shifted by one.
    const shifted = got.slice();
    for (let n = 0; n < N; n++) shifted.copyWithin((n * lq + 5) * INNER, (n * lq + 6) * INNER, (n * lq + 10) * INNER);
    expect(maxDiff(shifted, want)).toBeGreaterThan(100 * TOL);
  });
});
