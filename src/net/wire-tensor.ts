/**
 * WireTensor helpers shared by every Collective implementation: dtype sizes, validation, copies,
 * byte views and tag keys. Knows nothing of UNets or of any transport.
 */
import { CollectiveError, EXCHANGE_KINDS, type MessageTag, type WireDType, type WireTensor, type WireTypedArrayMap } from '../engine/collective.js';

/** Fixed on the wire (framing.ts): append, never renumber. */
export const WIRE_DTYPES = ['float32', 'float64', 'float16', 'int32', 'uint8'] as const satisfies readonly WireDType[];

export const DTYPE_BYTES: Readonly<Record<WireDType, number>> = { float32: 4, float64: 8, float16: 2, int32: 4, uint8: 1 };

const ARRAY_CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int32: Int32Array,
  uint8: Uint8Array,
} as const;

/** The largest number of dimensions a tensor may have (wire header limit). */
export const MAX_DIMS = 8;

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws invalid-argument unless dtype, shape and data agree. */
export function checkTensor(t: WireTensor, what: string): void {
  if (!(t.dtype in DTYPE_BYTES)) throw new CollectiveError('invalid-argument', `${what}: unknown dtype ${String(t.dtype)}`);
  if (!Array.isArray(t.shape) || t.shape.length > MAX_DIMS || t.shape.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff)) {
    throw new CollectiveError('invalid-argument', `${what}: shape ${JSON.stringify(t.shape)} must be at most ${MAX_DIMS} non-negative uint32 dims`);
  }
  const ctor = ARRAY_CTORS[t.dtype];
  if (!(t.data instanceof ctor)) throw new CollectiveError('invalid-argument', `${what}: dtype ${t.dtype} needs a ${ctor.name}, got ${t.data?.constructor?.name}`);
  const n = elementCount(t.shape);
  if (t.data.length !== n) throw new CollectiveError('invalid-argument', `${what}: shape ${JSON.stringify(t.shape)} has ${n} elements but data has ${t.data.length}`);
}

/** The tensor's bytes as a view (no copy). */
export function tensorBytes(t: WireTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Builds a tensor over a fresh, aligned copy of `bytes` (the caller has checked the length). */
export function tensorFromBytes<D extends WireDType>(dtype: D, shape: readonly number[], bytes: Uint8Array): WireTensor<D> {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return tensorOverBuffer(dtype, shape, copy.buffer);
}

/** Builds a tensor that takes ownership of `buffer` (no copy; the caller must not keep it). */
export function tensorOverBuffer<D extends WireDType>(dtype: D, shape: readonly number[], buffer: ArrayBuffer): WireTensor<D> {
  const data = new ARRAY_CTORS[dtype](buffer) as WireTypedArrayMap[D];
  return { dtype, shape: Object.freeze([...shape]), data };
}

/** A deep copy: no aliasing between sender and receiver. */
export function copyTensor<D extends WireDType>(t: WireTensor<D>): WireTensor<D> {
  return tensorFromBytes(t.dtype, t.shape, tensorBytes(t));
}

export function checkTag(tag: MessageTag): void {
  for (const f of ['jobId', 'step', 'pointId'] as const) {
    const v = tag[f];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new CollectiveError('invalid-argument', `tag.${f} must be a uint32, got ${String(v)}`);
  }
  if (!EXCHANGE_KINDS.includes(tag.kind)) throw new CollectiveError('invalid-argument', `tag.kind ${String(tag.kind)} is not one of ${EXCHANGE_KINDS.join(', ')}`);
}

export function tagKey(tag: MessageTag): string {
  return `${tag.jobId}/${tag.step}/${tag.pointId}/${tag.kind}`;
}

export function describeTag(tag: MessageTag): string {
  return `job ${tag.jobId} step ${tag.step} point ${tag.pointId} ${tag.kind}`;
}
