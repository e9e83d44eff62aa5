// SegmentRunner over ONNX Runtime sessions (onnxruntime-node in vitest, onnxruntime-web in the
// Playwright page). Takes the runtime's `Tensor` constructor so it never imports a runtime itself.
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { HostTensor } from './host-tensor.js';
import type { SegmentRunner } from './stand-in-executor.js';

export type TensorCtor = new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => Tensor;

export function toOrt(T: TensorCtor, h: HostTensor): Tensor {
  return new T(h.dtype, h.data, h.dims);
}

export async function fromOrt(t: Tensor): Promise<HostTensor> {
  const data = t.location === 'cpu' ? t.data : await t.getData();
  return { dtype: t.type === 'int64' ? 'int64' : 'float32', dims: [...t.dims], data: data as Float32Array | BigInt64Array };
}

const isHost = (x: unknown): x is HostTensor => typeof x === 'object' && x !== null && 'dims' in x && !('location' in x);

export class OrtSegmentRunner implements SegmentRunner<Tensor> {
  readonly timings: number[][];
  constructor(private readonly T: TensorCtor, private readonly sessions: InferenceSession[]) {
    this.timings = sessions.map(() => []);
  }

  async run(index: number, feeds: Record<string, Tensor | HostTensor>): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = isHost(v) ? toOrt(this.T, v) : v;
    const t0 = performance.now();
    const out = await this.sessions[index].run(ortFeeds);
    this.timings[index].push(performance.now() - t0);
    return out as Record<string, Tensor>;
  }

  read(t: Tensor): Promise<HostTensor> {
    return fromOrt(t);
  }

  release(t: Tensor): void {
    if (t.location === 'gpu-buffer') t.dispose();
  }
}
