// Half-precision compute: a graph variant derived from a float16-weight graph (numerics.ts) whose
// matmuls, convolutions and activations run in float16, for adapters with `shader-f16`.
//
// What stays float32, and why:
// - statistics: ReduceMean / ReduceSum / ReduceSumSquare (GroupNorm mean and variance, the (mean, M2) a
//   segment sends for the frame-spanning norms), LayerNormalization, Softmax. A variance in float16
//   overflows past 65504 and loses the small differences a norm divides by; softmax sums many terms.
//   Everything between such an op and the next MatMul/Conv (the normalisation, its affine, the
//   activation) follows it in float32, so a norm's output is rounded to float16 once, at the matmul.
// - everything computed from the call inputs before the first MatMul/Conv: the timestep embedding's
//   argument reaches ~1000 (float16 keeps 3 significant digits there), the attention bias holds
//   −1e9 masks.
// - the graph's inputs and outputs, so the engine, the plan and the exchanges see float32 at every
//   precision: a tab computing in float16 exchanges with a tab computing in float32. The (count,
//   mean, M2) combination stays float64 in the engine.
//
// The rule per node: MatMul and Conv compute in float16 (their float inputs are cast down); the
// statistics ops above compute in float32 (inputs cast up); any other op computes in float32 if any
// of its non-constant float inputs is float32, else in float16. Constants and weights adapt to the
// op that uses them (a float16 weight is used as is, or through its Cast where a float32 op needs it).
//
// ONNX Runtime's CPU EP (x86) has no float16 MatMul, Conv or Add kernels; it runs those in float32
// between Casts it inserts (and may drop a float32→float16→float32 pair), so on CPU these graphs show
// the error of float16 weights and of some float16 rounding of activations, a lower bound of a GPU's.
import { type DType, GraphDef, type Initializer, type NodeDef, ONNX_DTYPE } from './graph.js';
import { UPCAST_SUFFIX } from './numerics.js';

/** Precision of a value; 'i64' stands for any non-float tensor (int64 indices and shapes, booleans). */
type Prec = 'f32' | 'f16' | 'i64';

/** Ops that always compute in float16 (the bulk of the arithmetic). */
const HALF_OPS = new Set(['MatMul', 'Conv']);
/** Ops that always compute in float32 (statistics; see the header). */
const FULL_OPS = new Set(['ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'LayerNormalization', 'Softmax']);
/** Outputs that are never float (indices, booleans), by op: every output, or the listed ones. */
const NON_FLOAT_OUTPUTS: Record<string, number[] | 'all'> = {
  Shape: 'all', Size: 'all', ArgMax: 'all', ArgMin: 'all', NonZero: 'all', Greater: 'all', GreaterOrEqual: 'all', Less: 'all',
  LessOrEqual: 'all', Equal: 'all', Not: 'all', And: 'all', Or: 'all', TopK: [1],
};
const nonFloatOutput = (op: string, k: number): boolean => {
  const r = NON_FLOAT_OUTPUTS[op];
  return r === 'all' || (r !== undefined && r.includes(k));
};

/**
 * The float16-compute version of `g`, which must be built with float16 weights (each a float16
 * initializer with a Cast named `<key>/float32`). Inputs and outputs keep their names and dtypes.
 */
export function toFloat16Compute(g: GraphDef, name = `${g.name}_f16`): GraphDef {
  const out = new GraphDef(name);
  out.inputs.push(...g.inputs);
  out.outputs.push(...g.outputs);

  /** Per value: its name at each precision it is available in. */
  const avail = new Map<string, Partial<Record<Prec, string>>>();
  /** Values that are constants (initializers, weight upcasts): they adapt and never decide an op's precision. */
  const constant = new Set<string>();
  const inits = new Map<string, Initializer>();
  /** Weight upcasts `<key>/float32` → the float16 initializer `<key>`, emitted only if a float32 op uses it. */
  const weightUpcast = new Map<string, string>();
  const isOutput = new Set(g.outputs.map((o) => o.name));
  let fresh = 0;

  const addInit = (t: Initializer) => {
    if (!out.initializerNames.has(t.name)) {
      out.initializers.push(t);
      out.initializerNames.add(t.name);
    }
  };
  const cast = (from: string, to: DType, hint: string): string => {
    const o = `${hint}~${++fresh}`;
    out.nodes.push({ opType: 'Cast', inputs: [from], outputs: [o], attrs: { to: { i: ONNX_DTYPE[to] } } });
    return o;
  };

  for (const i of g.inputs) avail.set(i.name, { [i.dtype === 'int64' ? 'i64' : 'f32']: i.name });
  for (const t of g.initializers) {
    inits.set(t.name, t);
    constant.add(t.name);
    if (t.dtype === 'int64') {
      addInit(t);
      avail.set(t.name, { i64: t.name });
    } else if (t.dtype === 'float16') {
      addInit(t); // a weight: float16 ops use it as is
      avail.set(t.name, { f16: t.name });
    } else {
      addInit(t);
      avail.set(t.name, { f32: t.name });
    }
  }

  /** `v` at precision `p`, casting (once) if it is not there yet. */
  const get = (v: string, p: Prec): string => {
    const a = avail.get(v);
    if (!a) throw new Error(`internal: float16 pass: '${v}' is used before it is made`);
    const have = a[p];
    if (have) return have;
    if (p === 'i64') throw new Error(`internal: float16 pass: '${v}' is not an integer tensor`);
    const up = weightUpcast.get(v);
    if (up !== undefined) {
      // A float16 weight's upcast: float16 ops take the weight itself, float32 ops its Cast (emitted once, where first needed).
      if (p === 'f16') return (a.f16 = up);
      a.f32 = `${up}${UPCAST_SUFFIX}`;
      out.nodes.push({ opType: 'Cast', inputs: [up], outputs: [a.f32], attrs: { to: { i: ONNX_DTYPE.float32 } } });
      return a.f32;
    }
    if (p === 'f16') return (a.f16 = cast(a.f32!, 'float16', `${v}/f16`));
    return (a.f32 = cast(a.f16!, 'float32', `${v}/f32`));
  };
  const native = (v: string): Prec | undefined => {
    const a = avail.get(v);
    if (!a) return undefined;
    return a.i64 ? 'i64' : a.f32 && !a.f16 ? 'f32' : a.f16 && !a.f32 ? 'f16' : a.f32 ? 'f32' : undefined;
  };
  /** The precision a value was produced in (f32 wins for values made by float32 ops and later cast down). */
  const producedIn = new Map<string, Prec>();
  const precOf = (v: string): Prec | undefined => producedIn.get(v) ?? native(v);

  for (const n of g.nodes) {
    if (n.opType === 'Cast' && n.outputs[0]!.endsWith(UPCAST_SUFFIX) && inits.get(n.inputs[0]!)?.dtype === 'float16') {
      weightUpcast.set(n.outputs[0]!, n.inputs[0]!);
      constant.add(n.outputs[0]!);
      avail.set(n.outputs[0]!, {});
      continue;
    }
    const floats = n.inputs.filter((v) => v !== '' && precOf(v) !== 'i64' && !(avail.get(v)?.i64));
    let p: Prec;
    if (n.opType === 'Cast') {
      const to = n.attrs.to;
      if (!to || !('i' in to)) throw new Error(`internal: float16 pass: Cast '${n.outputs[0]}' without 'to'`);
      p = to.i === ONNX_DTYPE.int64 ? 'i64' : to.i === ONNX_DTYPE.float16 ? 'f16' : 'f32';
    } else if (floats.length === 0) p = n.inputs.every((v) => v === '' || precOf(v) === 'i64') ? 'i64' : 'f32';
    else if (HALF_OPS.has(n.opType)) p = 'f16';
    else if (FULL_OPS.has(n.opType)) p = 'f32';
    else {
      const varying = floats.filter((v) => !constant.has(v));
      p = varying.length === 0 ? 'f32' : varying.some((v) => precOf(v) === 'f32') ? 'f32' : 'f16';
    }
    const inputs = n.inputs.map((v) => {
      if (v === '') return v;
      const vp = precOf(v);
      if (vp === 'i64' || avail.get(v)?.i64) return get(v, 'i64');
      if (n.opType === 'Cast') return get(v, vp === 'f16' ? 'f16' : 'f32');
      return get(v, p === 'i64' ? 'f32' : p);
    });
    // A graph output made in float16 is made under another name and cast to float32 under its own.
    const outputs = n.outputs.map((o, k) => (p === 'f16' && isOutput.has(o) && !nonFloatOutput(n.opType, k) ? `${o}/f16` : o));
    out.nodes.push({ ...n, inputs, outputs } satisfies NodeDef);
    n.outputs.forEach((o, k) => {
      if (nonFloatOutput(n.opType, k)) {
        // Indices and booleans pass through untouched ('i64' here means "not a float").
        producedIn.set(o, 'i64');
        avail.set(o, { i64: outputs[k]! });
        return;
      }
      producedIn.set(o, p);
      if (p !== 'f16') {
        avail.set(o, { [p]: o });
        return;
      }
      avail.set(o, { f16: outputs[k]! });
      if (isOutput.has(o)) {
        out.nodes.push({ opType: 'Cast', inputs: [outputs[k]!], outputs: [o], attrs: { to: { i: ONNX_DTYPE.float32 } } });
        avail.get(o)!.f32 = o;
      }
    });
  }
  return out;
}
