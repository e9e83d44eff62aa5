import { describe, expect, it } from 'vitest';
import { cfgBatch, cfgEncoderHiddenStates, combineGuidance } from './guidance.js';

describe('classifier-free guidance', () => {
  it('combines u + s·(c − u) over the [uncond, cond] halves', () => {
    const out = Float32Array.from([1, 2, 3, 5, 2, 7]); // u = [1, 2, 3], c = [5, 2, 7]
    expect(Array.from(combineGuidance(out, 7.5))).toEqual([31, 2, 33]);
    expect(Array.from(combineGuidance(out, 1))).toEqual([5, 2, 7]);
    expect(Array.from(combineGuidance(out, 0))).toEqual([1, 2, 3]);
  });
  it('duplicates the latent and lays out text rows b·F + f', () => {
    expect(Array.from(cfgBatch(Float32Array.from([1, 2])))).toEqual([1, 2, 1, 2]);
    const e = cfgEncoderHiddenStates(Float32Array.from([0, 0]), [Float32Array.from([1, 1]), Float32Array.from([2, 2])]);
    expect(Array.from(e)).toEqual([0, 0, 0, 0, 1, 1, 2, 2]);
  });
  it('rejects odd batches, bad scales and mismatched embeddings', () => {
    expect(() => combineGuidance(new Float32Array(3), 2)).toThrow(/modelOutput.length must be even/);
    expect(() => combineGuidance(new Float32Array(4), Number.NaN)).toThrow(/guidanceScale must be a finite number, got NaN/);
    expect(() => cfgEncoderHiddenStates(new Float32Array(2), [new Float32Array(3)])).toThrow(/condPerFrame\[0\]\.length/);
  });
});
