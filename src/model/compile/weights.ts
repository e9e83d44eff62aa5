// Weight access for the compiler, nanoGPT-loader style (a wrong weight fails loudly): every
// safetensors key is consumed exactly once per compiled graph family, every shape is asserted
// against the config, and the only layout changes sit in one table (TRANSFORMS) with their reasons.
import type { TensorReader } from '../safetensors.js';
import type { LazyTensor } from './graph.js';

export class WeightError extends Error {
  readonly code = 'bad-weights';
}

/** The layout changes the compiler makes, each with its reason. Nothing else is renamed or reshaped. */
export const TRANSFORMS = {
  /** nn.Linear stores [out, in]; ONNX MatMul computes x·W, so the initializer is W transposed, [in, out]. */
  linear: 'transpose [out, in] -> [in, out]',
  /** Conv3d (3,1,1) runs as Conv2d (3,1) over a [B, C, F, H*W] view: weight [o, i, 3, 1, 1] -> [o, i, 3, 1] (same bytes). */
  conv3dAsConv2d: 'reshape [o, i, 3, 1, 1] -> [o, i, 3, 1]',
  /**
   * Transformer2DModel proj_in/proj_out: diffusers' UNet3DConditionModel builds them as nn.Linear [o, i]
   * (its get_down_block / get_up_block / UNetMidBlock3DCrossAttn default use_linear_projection=True);
   * the embedded model as a 1×1 Conv2d [o, i, 1, 1]. Both are the same per-pixel map, run as a 1×1 Conv.
   */
  projectionAsConv1x1: 'reshape [o, i] -> [o, i, 1, 1] (a [o, i, 1, 1] weight is taken as is)',
} as const;

/** A weight's values: read now (tests' generated weights) or when its graph is written (checkpoints). */
export type WeightData = Float32Array | LazyTensor;

/** What block code asks of a weight source (WeightStore here; a recording source in tests). */
export interface Weights {
  /** The tensor `key` as float32 [shape], asserting the shape. */
  take(key: string, shape: readonly number[]): WeightData;
  /** Linear weight [out, in], returned transposed as [in, out] (TRANSFORMS.linear). */
  takeLinear(key: string, outF: number, inF: number): WeightData;
  /** A spatial transformer's proj_in/proj_out weight, Linear [o, i] or Conv 1×1 [o, i, 1, 1], as [o, i, 1, 1] (TRANSFORMS.projectionAsConv1x1). */
  takeProjection(key: string, outF: number, inF: number): WeightData;
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

  constructor(readonly file: TensorReader) {}

  /** The tensor `key` as float32, asserting its shape now and reading it when its graph is written. Marks the key consumed. */
  take(key: string, shape: readonly number[]): LazyTensor {
    return this.takeAny(key, [shape]);
  }

  /** Linear weight [out, in], returned transposed as [in, out] (TRANSFORMS.linear). */
  takeLinear(key: string, outF: number, inF: number): LazyTensor {
    const w = this.take(key, [outF, inF]);
    return { length: w.length, load: () => transposeLinear(w.load(), outF, inF) };
  }

  takeProjection(key: string, outF: number, inF: number): LazyTensor {
    return this.takeAny(key, [[outF, inF], [outF, inF, 1, 1]]);
  }

  /** The tensor `key`, whose shape must be one of `shapes` (same element count: a pure view change). */
  private takeAny(key: string, shapes: readonly (readonly number[])[]): LazyTensor {
    const want = shapes.map((s) => `[${s}]`).join(' or ');
    if (!this.file.has(key)) throw new WeightError(`${this.file.label}: missing weight '${key}' (expected shape ${want})`);
    const e = this.file.entry(key);
    if (!shapes.some((s) => e.shape.length === s.length && e.shape.every((d, i) => d === s[i]))) {
      throw new WeightError(`${this.file.label}: weight '${key}' has shape [${e.shape}], the config implies ${want}`);
    }
    this.consumed.add(key);
    const file = this.file;
    return { length: e.shape.reduce((a, b) => a * b, 1), load: () => file.float32(key) };
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
      // The one mismatch a user of the VideoCrafter2 port can make by hand: weights with fps layers, a config without.
      const hint = extra.some((k) => k.startsWith('fps_embedding.'))
        ? " (fps_embedding.* are VideoCrafter2's fps layers: the config needs \"fps_cond\": true or \"_class_name\": \"UNetVideoCrafter\")"
        : '';
      throw new WeightError(`${this.file.label}: ${extra.length} unknown weight(s) not used by the config: ${shown}${extra.length > 8 ? ', ...' : ''}${hint}`);
    }
  }
}

export function transposeLinear(w: Float32Array, outF: number, inF: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) t[i * outF + o] = w[o * inF + i];
  return t;
}
