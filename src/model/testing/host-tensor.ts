// Plain CPU tensors for the test executors (no ORT types): row-major data plus dims.
export interface HostTensor {
  dtype: 'float32' | 'int64';
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export const f32 = (data: Float32Array | number[], dims: number[]): HostTensor => ({
  dtype: 'float32', dims, data: data instanceof Float32Array ? data : Float32Array.from(data),
});
export const i64 = (data: number[], dims: number[] = [data.length]): HostTensor => ({
  dtype: 'int64', dims, data: BigInt64Array.from(data.map((x) => BigInt(x))),
});
export const zeros = (dims: number[]): HostTensor => f32(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);

const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** t[..., start:end, ...] along `axis`. */
export function sliceAxis(t: HostTensor, axis: number, start: number, end: number): HostTensor {
  const outer = size(t.dims.slice(0, axis));
  const inner = size(t.dims.slice(axis + 1));
  const n = t.dims[axis];
  if (start < 0 || end > n || start > end) throw new Error(`sliceAxis: [${start}, ${end}) outside axis ${axis} of [${t.dims}]`);
  const len = end - start;
  const out = new Float32Array(outer * len * inner);
  const src = t.data as Float32Array;
  for (let o = 0; o < outer; o++) out.set(src.subarray((o * n + start) * inner, (o * n + end) * inner), o * len * inner);
  const dims = [...t.dims];
  dims[axis] = len;
  return f32(out, dims);
}

/** Concatenate float32 tensors along `axis` (other dims must agree). */
export function concatAxis(ts: HostTensor[], axis: number): HostTensor {
  const base = ts[0].dims;
  const outer = size(base.slice(0, axis));
  const inner = size(base.slice(axis + 1));
  const total = ts.reduce((a, t) => a + t.dims[axis], 0);
  const out = new Float32Array(outer * total * inner);
  for (let o = 0; o < outer; o++) {
    let off = 0;
    for (const t of ts) {
      const n = t.dims[axis];
      out.set((t.data as Float32Array).subarray(o * n * inner, (o + 1) * n * inner), (o * total + off) * inner);
      off += n;
    }
  }
  const dims = [...base];
  dims[axis] = total;
  return f32(out, dims);
}

/** Pick indices along `axis`. */
export function gatherAxis(t: HostTensor, axis: number, idx: number[]): HostTensor {
  return concatAxis(idx.map((i) => sliceAxis(t, axis, i, i + 1)), axis);
}

export function maxAbsDiff(a: HostTensor, b: HostTensor): number {
  if (a.dims.join() !== b.dims.join()) throw new Error(`maxAbsDiff: dims [${a.dims}] vs [${b.dims}]`);
  let m = 0;
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
