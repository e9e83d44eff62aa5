// HostTensor <-> ONNX Runtime tensors for tests that run a session directly (the text encoder, the
// Node reference of e2e/model-parity.spec.ts). Takes the runtime's `Tensor` constructor so it never
// imports a runtime itself. The UNet runs through the engine's SessionRunner instead.
import type { Tensor } from 'onnxruntime-common';
import type { HostTensor } from './host-tensor.js';

export type TensorCtor = new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => Tensor;

export function toOrt(T: TensorCtor, h: HostTensor): Tensor {
  return new T(h.dtype, h.data, h.dims);
}

export async function fromOrt(t: Tensor): Promise<HostTensor> {
  const data = t.location === 'cpu' ? t.data : await t.getData();
  return { dtype: t.type === 'int64' ? 'int64' : 'float32', dims: [...t.dims], data: data as Float32Array | BigInt64Array };
}
