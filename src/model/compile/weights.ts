// Weight access for the compiler, nanoGPT-loader style (STYLE rule 18): every safetensors key is
// consumed exactly once per compiled graph family, every shape is asserted against the config, and
// the only layout changes sit in one table (TRANSFORMS) with their reasons.
import { SafetensorsFile } from '../safetensors.js';

export class WeightError extends Error {
  readonly code = 'bad-weights';
}

/** The layout changes the compiler makes, each with its reason. Nothing else is renamed or reshaped. */
export const TRANSFORMS = {
  /** nn.Linear stores [out, in]; ONNX MatMul computes x·W, so the initializer is W transposed, [in, out]. */
  linear: 'transpose [out, in] -> [in, out]',
  /** Conv3d (3,1,1) runs as Conv2d (3,1) over a [B, C, F, H*W] view: weight [o, i, 3, 1, 1] -> [o, i, 3, 1] (same bytes). */
  conv3dAsConv2d: 'reshape [o, i, 3, 1, 1] -> [o, i, 3, 1]',
} as const;

/** What block code asks of a weight source (WeightStore here; a recording source in tests). */
export interface Weights {
  /** The tensor `key` as float32 [shape], asserting the shape. */
  take(key: string, shape: readonly number[]): Float32Array;
  /** Linear weight [out, in], returned transposed as [in, out] (TRANSFORMS.linear). */
  takeLinear(key: string, outF: number, inF: number): Float32Array;
  has(key: string): boolean;
  /** Mark a non-weight buffer consumed without reading it (IGNORED_BUFFERS). */
  ignoreBuffer(key: string): void;
}

/** Buffers some checkpoints carry that are not weights; consumed (if present) and not used. */
export const IGNORED_BUFFERS: Record<string, string> = {
  'text_model.embeddings.position_ids': 'constant arange(L) saved by older transformers versions',
};

export class WeightStore implements Weights {
  private readonly consumed = new Set<string>();

  constructor(readonly file: SafetensorsFile) {}

  /** The tensor `key` as float32, asserting its shape. Marks the key consumed. */
  take(key: string, shape: readonly number[]): Float32Array {
    if (!this.file.has(key)) throw new WeightError(`${this.file.label}: missing weight '${key}' (expected shape [${shape}])`);
    const e = this.file.entry(key);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new WeightError(`${this.file.label}: weight '${key}' has shape [${e.shape}], the config implies [${shape}]`);
    }
    this.consumed.add(key);
    return this.file.float32(key);
  }

  /** Linear weight [out, in], returned transposed as [in, out] (TRANSFORMS.linear). */
  takeLinear(key: string, outF: number, inF: number): Float32Array {
    return transposeLinear(this.take(key, [outF, inF]), outF, inF);
  }

  has(key: string): boolean {
    return this.file.has(key);
  }

  ignoreBuffer(key: string): void {
    if (!(key in IGNORED_BUFFERS)) throw new WeightError(`internal: '${key}' is not a known ignorable buffer`);
    if (this.file.has(key)) this.consumed.add(key);
  }

  /** Throws if any key of the file was never consumed (an unknown key means a config/weights mismatch). */
  assertAllConsumed(): void {
    const extra = [...this.file.entries.keys()].filter((k) => !this.consumed.has(k));
    if (extra.length) {
      const shown = extra.slice(0, 8).map((k) => `'${k}' [${this.file.entry(k).shape}]`).join(', ');
      throw new WeightError(`${this.file.label}: ${extra.length} unknown weight(s) not used by the config: ${shown}${extra.length > 8 ? ', ...' : ''}`);
    }
  }
}

export function transposeLinear(w: Float32Array, outF: number, inF: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) t[i * outF + o] = w[o * inF + i];
  return t;
}
