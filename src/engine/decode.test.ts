import { describe, expect, it } from 'vitest';
import { decodeLatents, latentToByte, previewFrameIndices } from './decode.js';
import { recutStates, type ClipState, type JobParams } from './job-state.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';

const GEOM = { channels: 48, height: 8, width: 8, factor: 4 };

describe('decode (pixel_shuffle 4, docs/model-architecture.md §4)', () => {
  it('channel c·16 + i·4 + j holds pixel (c, 4y + i, 4x + j)', () => {
    const lat = new Float32Array(2 * 48 * 64).fill(-1); // black
    // frame 1, colour 2 (blue), i = 1, j = 3, y = 5, x = 6 → pixel (row 21, col 27) fully blue
    lat[1 * 3072 + (2 * 16 + 1 * 4 + 3) * 64 + 5 * 8 + 6] = 1;
    const rgb = decodeLatents(lat, GEOM);
    expect([rgb.frames, rgb.height, rgb.width]).toEqual([2, 32, 32]);
    const at = (f: number, y: number, x: number, c: number) => rgb.data[((f * 32 + y) * 32 + x) * 3 + c];
    expect(at(1, 21, 27, 2)).toBe(255);
    let lit = 0;
    for (const v of rgb.data) lit += v;
    expect(lit).toBe(255);
  });

  it('decodes non-square latents (3×5, factor 2 → 6×10): rows and columns are not swapped', () => {
    const geom = { channels: 12, height: 3, width: 5, factor: 2 };
    const lat = new Float32Array(12 * 15).fill(-1);
    // colour 0 (red), i = 1, j = 0, y = 2, x = 4 → pixel (row 5, col 8)
    lat[(0 * 4 + 1 * 2 + 0) * 15 + 2 * 5 + 4] = 1;
    const rgb = decodeLatents(lat, geom);
    expect([rgb.frames, rgb.height, rgb.width]).toEqual([1, 6, 10]);
    expect(rgb.data[(5 * 10 + 8) * 3 + 0]).toBe(255);
    expect(rgb.data.reduce((a, v) => a + v, 0)).toBe(255);
  });

  it('rounds like torch: clamp((x + 1) / 2) · 255 in float32, ties to even', () => {
    expect(latentToByte(-2)).toBe(0);
    expect(latentToByte(3)).toBe(255);
    expect(latentToByte(0)).toBe(128); // 127.5 → 128 (even)
    expect(latentToByte(-0.4941176176071167)).toBe(64); // float32 gives exactly 64.5 → 64 (even; Math.round would say 65)
    expect(latentToByte(-0.4784313440322876)).toBe(66); // 66.5 → 66
  });

  it('decodes only the requested frames; preview picks evenly spaced frames', () => {
    expect(previewFrameIndices(5, 8)).toEqual([0, 1, 2, 3, 4]);
    expect(previewFrameIndices(32, 4)).toEqual([0, 10, 21, 31]);
    const lat = new Float32Array(3 * 3072).map((_, i) => (i < 3072 ? -1 : 1));
    const rgb = decodeLatents(lat, GEOM, [0, 2]);
    expect(rgb.frames).toBe(2);
    expect(rgb.data[0]).toBe(0);
    expect(rgb.data[32 * 32 * 3]).toBe(255);
  });
});

describe('recutStates', () => {
  const job: JobParams = {
    jobId: 1, totalFrames: 6, promptSchedule: { entries: [{ fromFrame: 0, prompt: '' }] }, seed: 1, steps: 3, guidanceScale: 1,
    sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
  };
  const state = (start: number, end: number): ClipState => ({
    format: 'vi-clip-state', version: 1, job, range: { start, end }, nextStep: 1,
    latents: Float32Array.from({ length: end - start }, (_, i) => start + i),
    scheduler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++', config: { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', predictionType: 'epsilon' }, numInferenceSteps: 3, stepIndex: 1, lowerOrderNums: 1, lastModelOutput: Float32Array.from({ length: end - start }, (_, i) => -(start + i)) },
  });

  it('re-cuts frame-major latents and sampler history for new ranges', () => {
    const out = recutStates([state(3, 6), state(0, 3)], [{ start: 0, end: 2 }, { start: 2, end: 6 }], 1);
    expect([...out[1]!.latents]).toEqual([2, 3, 4, 5]);
    const s = out[1]!.scheduler;
    expect(s.kind === 'dpm-solver++-2m' ? [...s.lastModelOutput!] : null).toEqual([-2, -3, -4, -5]);
  });

  it('refuses gaps and mixed steps', () => {
    expect(() => recutStates([state(0, 2), state(3, 6)], [{ start: 0, end: 6 }], 1)).toThrow(/contiguously/);
    expect(() => recutStates([state(0, 3), { ...state(3, 6), nextStep: 2 }], [{ start: 0, end: 6 }], 1)).toThrow(/different steps/);
  });
});
