// Weights stored in half precision (numerics.ts): the conversion is src/model/float16.ts; a weight
// that does not fit is an error here rather than a silent Infinity.
import { FLOAT16_MAX, float16Bits } from '../float16.js';
import { CompileError } from './graph.js';

/**
 * `data` as float16 bits. A finite value beyond ±FLOAT16_MAX is an error naming the tensor: a weight
 * that does not fit half precision must not silently become Infinity.
 */
export function toFloat16(data: Float32Array, label: string): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (Math.abs(v) > FLOAT16_MAX && Number.isFinite(v)) {
      throw new CompileError(`'${label}': value ${v} at index ${i} is outside float16's range (±${FLOAT16_MAX}); compile it in float32`);
    }
    out[i] = float16Bits(v);
  }
  return out;
}
