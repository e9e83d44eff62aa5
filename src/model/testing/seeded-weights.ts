// Seeded test weights, bit-identical to training/seeded_weights.py (the formula is documented there
// and in docs/real-model.md). The narrow parity goldens store no weights: both sides regenerate them
// from (seed, tensor name, shape). Integer part in uint32 arithmetic, float part in float64 with one
// rounding to float32 at the end, so JavaScript and numpy agree exactly.

function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

export function fnv1a32(name: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** The float32 values of weight `name` of `shape` for `seed`. */
export function seededTensor(seed: number, name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const h = fnv1a32(name);
  const out = new Float32Array(n);
  const norm = shape.length === 1 && name.endsWith('.weight');
  const scale = shape.length === 1 ? 0.1 : Math.sqrt(3 / (n / shape[0]!));
  for (let i = 0; i < n; i++) {
    const word = lowbias32((lowbias32((i ^ h) >>> 0) + (seed >>> 0)) >>> 0);
    const r = 2 * (word / 4294967296) - 1;
    out[i] = shape.length === 1 ? (norm ? 1 + 0.1 * r : 0.1 * r) : r * scale;
  }
  return out;
}
