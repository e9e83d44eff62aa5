/**
 * Deterministic pseudo-random numbers for tests and test payloads (mulberry32): small, seedable,
 * identical in Node and in the browser. Not for anything but tests: product code (the engine's
 * noise, src/engine/rng.ts) must not depend on this file (src/testing/prng.test.ts checks who
 * imports it).
 */

/** mulberry32: the next unsigned 32-bit word on every call. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The same stream as floats in [0, 1) (word / 2^32). */
export function prng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}
