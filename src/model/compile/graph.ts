// The compiler's in-memory ONNX program: a list of segment graphs built in forward order.
//
// Owns: values, nodes, initializers, and the cut into segments (each cut = one exchange step).
// A value made in segment j and used in a later segment k is imported automatically: it becomes an
// output of j ("keep", consumed by k) and an input of k. So block code never lists live tensors;
// liveness (skip connections, residuals, the time embedding) falls out of use.
// Must not import onnxruntime or protobufjs (serialisation lives in onnx-writer.ts).

/** 'float16' only inside graphs (half-precision weights and compute); graph I/O stays float32/int64. */
export type DType = 'float32' | 'float16' | 'int64';
/** ONNX TensorProto.DataType of each DType (the `to` of a Cast). */
export const ONNX_DTYPE: Record<DType, number> = { float32: 1, float16: 10, int64: 7 };
/** A dimension: a number, or a symbolic expression such as 'B*F' or 'F+8' (documentation only). */
export type Dim = number | string;

export type AttrValue = { i: number } | { f: number } | { ints: number[] } | { s: string };

export interface NodeDef {
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

/**
 * A weight read only when its graph is serialised: a full-size UNet (5.6 GB fp32) must never be in
 * memory at once, so the compiler holds these and reads each tensor while writing it out.
 */
export interface LazyTensor {
  readonly length: number;
  load(): Float32Array;
}

export type TensorData = Float32Array | BigInt64Array | LazyTensor;

export interface Initializer {
  name: string;
  dtype: DType;
  dims: number[];
  data: TensorData;
}

/** The values of an initializer, reading a lazy one now. */
export function loadTensorData(data: TensorData): Float32Array | BigInt64Array {
  return data instanceof Float32Array || data instanceof BigInt64Array ? data : data.load();
}

export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: Dim[];
}

/** Where a segment input comes from (mirrors SegmentInput.source in ../segment-plan.ts). */
export type InputSource =
  | { kind: 'call' }
  | { kind: 'tensor'; segment: number }
  | { kind: 'exchange'; point: string };

export class GraphDef {
  readonly nodes: NodeDef[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: (ValueInfo & { source: InputSource })[] = [];
  readonly outputs: (ValueInfo & { role: 'keep' | 'send' | 'result'; point?: string; consumers: number[] })[] = [];
  readonly initializerNames = new Set<string>();
  constructor(readonly name: string) {}
}

/** Origin of a value: a call-level input, a tensor made by a segment, or a received exchange payload. */
type Origin = { kind: 'call' } | { kind: 'segment'; segment: number } | { kind: 'exchange'; point: string; segment: number };

export class Value {
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly origin: Origin,
    public shape?: Dim[],
  ) {}
}

export class CompileError extends Error {
  readonly code = 'compile-error';
}

export interface SegmentBuild {
  index: number;
  graph: GraphDef;
  /** Exchange points performed after this segment, before the next one runs. */
  exchangesAfter: string[];
}

export class Program {
  readonly segments: SegmentBuild[] = [];
  private readonly callInputs = new Map<string, ValueInfo>();
  private readonly usedNames = new Set<string>();
  private counter = 0;

  constructor(private readonly graphNamePrefix: string) {
    this.openSegment();
  }

  get current(): SegmentBuild {
    return this.segments[this.segments.length - 1];
  }

  private openSegment(): SegmentBuild {
    const index = this.segments.length;
    const seg: SegmentBuild = { index, graph: new GraphDef(`${this.graphNamePrefix}${index}`), exchangesAfter: [] };
    this.segments.push(seg);
    return seg;
  }

  /** A fresh, globally unique tensor name derived from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    if (this.usedNames.has(name)) name = `${hint}~${++this.counter}`;
    this.usedNames.add(name);
    return name;
  }

  /** An input supplied by the caller for a whole UNet call (sample, timestep, bias, ...). */
  callInput(name: string, dtype: DType, shape: Dim[]): Value {
    if (this.callInputs.has(name)) throw new CompileError(`call input '${name}' declared twice`);
    this.callInputs.set(name, { name, dtype, shape });
    this.usedNames.add(name);
    return new Value(name, dtype, { kind: 'call' }, shape);
  }

  /** The name of `v` inside the current graph, importing it as a graph input if it lives elsewhere. */
  use(v: Value): string {
    const seg = this.current;
    const g = seg.graph;
    const o = v.origin;
    if (o.kind === 'segment' && o.segment === seg.index) return v.name;
    if (o.kind === 'exchange' && o.segment === seg.index) return v.name;
    if (g.inputs.some((i) => i.name === v.name)) return v.name;
    if (!v.shape) throw new CompileError(`value '${v.name}' crosses a segment boundary but has no shape annotation`);
    if (o.kind === 'call') {
      g.inputs.push({ name: v.name, dtype: v.dtype, shape: v.shape, source: { kind: 'call' } });
    } else if (o.kind === 'exchange') {
      g.inputs.push({ name: v.name, dtype: v.dtype, shape: v.shape, source: { kind: 'exchange', point: o.point } });
    } else {
      const producer = this.segments[o.segment].graph;
      let out = producer.outputs.find((x) => x.name === v.name);
      if (!out) {
        out = { name: v.name, dtype: v.dtype, shape: v.shape, role: 'keep', consumers: [] };
        producer.outputs.push(out);
      }
      if (!out.consumers.includes(seg.index)) out.consumers.push(seg.index);
      g.inputs.push({ name: v.name, dtype: v.dtype, shape: v.shape, source: { kind: 'tensor', segment: o.segment } });
    }
    return v.name;
  }

  /** Add a node with one output. `name` is a hint for the output tensor's name. */
  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrValue> = {}, name?: string, shape?: Dim[]): Value {
    return this.opN(opType, inputs, attrs, 1, name, shape)[0];
  }

  opN(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrValue>, outputs: number, name?: string, shape?: Dim[]): Value[] {
    const seg = this.current;
    const ins = inputs.map((v) => (v === null ? '' : this.use(v)));
    const outs: Value[] = [];
    for (let k = 0; k < outputs; k++) {
      const n = this.fresh(name ? (outputs > 1 ? `${name}.${k}` : name) : `${opType.toLowerCase()}_${++this.counter}`);
      const to = opType === 'Cast' ? attrs.to : undefined;
      const castTo = to && 'i' in to ? (Object.keys(ONNX_DTYPE) as DType[]).find((d) => ONNX_DTYPE[d] === to.i) : undefined;
      const dtype: DType = castTo ?? (opType === 'Shape' ? 'int64' : inputs.find((x) => x)?.dtype ?? 'float32');
      outs.push(new Value(n, dtype, { kind: 'segment', segment: seg.index }, shape));
    }
    seg.graph.nodes.push({ opType, inputs: ins, outputs: outs.map((o) => o.name), attrs });
    return outs;
  }

  /** An initializer in the current graph (weights); reused if the same key is asked twice. float16 data is given as float32 values and rounded when written. */
  initializer(key: string, dims: number[], data: TensorData, dtype: DType = 'float32'): Value {
    const g = this.current.graph;
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new CompileError(`initializer '${key}': ${data.length} values for dims [${dims}]`);
    if (!g.initializerNames.has(key)) {
      g.initializers.push({ name: key, dtype, dims, data });
      g.initializerNames.add(key);
    }
    return new Value(key, dtype, { kind: 'segment', segment: this.current.index }, dims);
  }

  constI64(values: number[], dims: number[] = [values.length]): Value {
    const key = `const_i64[${dims}]:${values.join(',')}`;
    return this.initializer(key, dims, BigInt64Array.from(values.map((x) => BigInt(x))), 'int64');
  }

  constF32(values: number[], dims: number[] = [values.length]): Value {
    const key = `const_f32[${dims}]:${values.map((x) => (Object.is(x, -0) ? '-0' : String(x))).join(',')}`;
    return this.initializer(key, dims, Float32Array.from(values));
  }

  /** Mark `v` (made in the current segment) as an output of it with the given role. */
  output(v: Value, role: 'send' | 'result', point?: string): void {
    const g = this.current.graph;
    if (!(v.origin.kind === 'segment' && v.origin.segment === this.current.index)) {
      throw new CompileError(`output '${v.name}' was not made in segment ${this.current.index}`);
    }
    if (!v.shape) throw new CompileError(`output '${v.name}' has no shape annotation`);
    g.outputs.push({ name: v.name, dtype: v.dtype, shape: v.shape, role, point, consumers: [] });
  }

  /**
   * Close the current segment after the exchange points `points`, open the next one, and declare what it
   * receives from those exchanges as its inputs.
   */
  cut(points: string[], received: { point: string; name: string; dtype: DType; shape: Dim[] }[]): Value[] {
    this.current.exchangesAfter.push(...points);
    const seg = this.openSegment();
    return received.map((r) => {
      const name = this.fresh(r.name);
      seg.graph.inputs.push({ name, dtype: r.dtype, shape: r.shape, source: { kind: 'exchange', point: r.point } });
      return new Value(name, r.dtype, { kind: 'exchange', point: r.point, segment: seg.index }, r.shape);
    });
  }

  callInputInfo(): ValueInfo[] {
    return [...this.callInputs.values()];
  }
}

// Attribute helpers.
export const ai = (i: number): AttrValue => ({ i });
export const af = (f: number): AttrValue => ({ f });
export const aints = (ints: number[]): AttrValue => ({ ints });
export const as = (s: string): AttrValue => ({ s });
