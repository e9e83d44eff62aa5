// A weight source that makes up a tensor for every key the compiler asks for and records the key and
// its checkpoint shape. Running the compiler's own block code against it yields the exact key list of
// a config, so test models never keep a second, hand-written list of names that could drift.
import type { LazyTensor } from '../compile/graph.js';
import { type Weights, transposeLinear } from '../compile/weights.js';

/** Makes the values of one tensor, in checkpoint layout. */
export type TensorFill = (key: string, shape: readonly number[]) => Float32Array;

/**
 * How a Transformer2DModel's proj_in/proj_out is stored: 'linear' [o, i] as diffusers'
 * UNet3DConditionModel builds it, 'conv1x1' [o, i, 1, 1] as the embedded model does.
 */
export type ProjectionLayout = 'linear' | 'conv1x1';

export class RecordingWeights implements Weights {
  /** Checkpoint key → shape, in the order the compiler asked. */
  readonly shapes = new Map<string, number[]>();
  private readonly cache = new Map<string, Float32Array>();
  /** Keep made values (small models, whose graphs read them twice); a full-size model streams them instead. */
  keepValues = true;

  constructor(
    private readonly fill: TensorFill,
    private readonly projection: ProjectionLayout = 'conv1x1',
  ) {}

  /** The values of `key` in checkpoint layout, made once. */
  values(key: string): Float32Array {
    const shape = this.shapes.get(key);
    if (!shape) throw new Error(`internal: weight '${key}' was never asked for`);
    let v = this.cache.get(key);
    if (!v) {
      v = this.fill(key, shape);
      if (this.keepValues) this.cache.set(key, v);
    }
    return v;
  }

  private record(key: string, shape: readonly number[]): LazyTensor {
    const have = this.shapes.get(key);
    if (have && have.join() !== shape.join()) throw new Error(`internal: weight '${key}' asked as [${shape}] and [${have}]`);
    this.shapes.set(key, [...shape]);
    return { length: shape.reduce((a, b) => a * b, 1), load: () => this.values(key) };
  }

  take(key: string, shape: readonly number[]): LazyTensor {
    return this.record(key, shape);
  }

  takeLinear(key: string, outF: number, inF: number): LazyTensor {
    const w = this.record(key, [outF, inF]);
    return { length: w.length, load: () => transposeLinear(w.load(), outF, inF) };
  }

  takeProjection(key: string, outF: number, inF: number): LazyTensor {
    return this.record(key, this.projection === 'linear' ? [outF, inF] : [outF, inF, 1, 1]);
  }

  has(key: string): boolean {
    return this.shapes.has(key);
  }

  ignoreBuffer(): void {}
}
