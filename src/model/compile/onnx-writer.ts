// Serialise a GraphDef to ONNX ModelProto bytes with protobufjs and the vendored schema (onnx.proto).
// Opset 17, IR version 8, default domain only (no com.microsoft ops): what onnxruntime-web's WebGPU
// and WASM EPs run (../../../docs/model-package.md §Ops).
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { EXTERNAL_MIN_BYTES, type ExternalData } from './external-data.js';
import { type AttrValue, type Dim, type DType, type GraphDef, ONNX_DTYPE, loadTensorData } from './graph.js';
import { toFloat16 } from './float16.js';

export const OPSET = 17;
export const IR_VERSION = 8;
const PRODUCER = 'vi-compile-model';

const ELEM_TYPE = ONNX_DTYPE;
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

let modelType: protobuf.Type | undefined;
function ModelProto(): protobuf.Type {
  if (!modelType) {
    const text = readFileSync(new URL('./onnx.proto', import.meta.url), 'utf8');
    modelType = protobuf.parse(text, { keepCase: true }).root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

function attr(name: string, v: AttrValue): object {
  if ('i' in v) return { name, type: ATTR_TYPE.INT, i: v.i };
  if ('f' in v) return { name, type: ATTR_TYPE.FLOAT, f: v.f };
  if ('ints' in v) return { name, type: ATTR_TYPE.INTS, ints: v.ints };
  return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(v.s) };
}

function valueInfo(name: string, dtype: DType, shape: Dim[]): object {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: ELEM_TYPE[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/**
 * `external`: initializers of at least EXTERNAL_MIN_BYTES go to those shared files (ONNX external
 * data) instead of the graph; the session then needs the files' bytes (SessionOptions.externalData).
 */
export function serializeGraph(g: GraphDef, docString = '', external?: ExternalData): Uint8Array {
  const graph = {
    name: g.name,
    node: g.nodes.map((n, k) => ({
      name: `${n.opType}_${k}`,
      op_type: n.opType,
      input: n.inputs,
      output: n.outputs,
      attribute: Object.entries(n.attrs).map(([name, v]) => attr(name, v)),
    })),
    initializer: g.initializers.map((t) => {
      const values = loadTensorData(t.data); // a lazy weight is read here, written out, and dropped
      // float16 initializers hold float32 values until here, so one weight source serves both precisions.
      const data = t.dtype === 'float16' ? toFloat16(values as Float32Array, t.name) : values;
      const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const head = { name: t.name, dims: t.dims, data_type: ELEM_TYPE[t.dtype] };
      if (!external || raw.byteLength < EXTERNAL_MIN_BYTES) return { ...head, raw_data: raw };
      const ref = external.place(raw);
      const entries = { location: ref.location, offset: String(ref.offset), length: String(ref.length) };
      return { ...head, data_location: 1 /* EXTERNAL */, external_data: Object.entries(entries).map(([key, value]) => ({ key, value })) };
    }),
    input: g.inputs.map((i) => valueInfo(i.name, i.dtype, i.shape)),
    output: g.outputs.map((o) => valueInfo(o.name, o.dtype, o.shape)),
  };
  const T = ModelProto();
  const model = {
    ir_version: IR_VERSION,
    producer_name: PRODUCER,
    producer_version: '1',
    doc_string: docString,
    opset_import: [{ domain: '', version: OPSET }],
    graph,
  };
  const err = T.verify(model);
  if (err) throw new Error(`ONNX model '${g.name}' does not match the schema: ${err}`);
  return T.encode(T.fromObject(model)).finish();
}

/** Op types used by a graph, with counts (for the plan summary / process replay). */
export function opCounts(g: GraphDef): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of g.nodes) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return Object.fromEntries(Object.entries(c).sort(([a], [b]) => a.localeCompare(b)));
}
