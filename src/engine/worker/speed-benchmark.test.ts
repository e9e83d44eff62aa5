/**
 * measureUnetSpeed on onnxruntime-node (CPU): the warm-up runs every segment once on a short clip
 * (the halo) and is left out; the timed call runs on the caller's clip; the figure is frames per
 * second of that call.
 */
import * as ortNode from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EngineModel } from '../engine-model.js';
import type { OrtModule } from '../session-runner.js';
import { openTinyEngine } from '../testing/tiny-engine.js';
import { measureUnetSpeed } from './speed-benchmark.js';

const ort = ortNode as unknown as OrtModule;
afterEach(() => vi.restoreAllMocks());

/** The clip length (frames axis of `sample`, [2, C, F, H, W]) of every UNet run, warm-up or not. */
function recordSampleFrames(model: EngineModel): { warmUp: number[]; timed: number[] } {
  const seen = { warmUp: [] as number[], timed: [] as number[] };
  const run = model.runner.run.bind(model.runner);
  vi.spyOn(model.runner, 'run').mockImplementation((handle, feeds, opts = {}) => {
    const sample = feeds.sample as { dims?: readonly number[] } | undefined;
    if (sample?.dims) (opts.warmUp ? seen.warmUp : seen.timed).push(sample.dims[2]!);
    return run(handle, feeds, opts);
  });
  return seen;
}

describe('measureUnetSpeed', () => {
  it('segmented graph: warm-up on the halo-long clip (left out), then one timed call on the requested clip', async () => {
    const model = await openTinyEngine(ort, ['segmented']);
    const seen = recordSampleFrames(model);
    const before = model.runner.timings();
    const m = await measureUnetSpeed(model, 8);
    const after = model.runner.timings();
    expect(m).toMatchObject({ graph: 'segmented', frames: 8 });
    expect(after.warmUpRuns - before.warmUpRuns).toBe(model.plan.segments.length); // every segment once
    expect(seen.warmUp.length).toBeGreaterThan(0);
    expect(new Set(seen.warmUp)).toEqual(new Set([model.plan.tconvHalo]));
    expect(new Set(seen.timed)).toEqual(new Set([8]));
    expect(m.warmUpMs).toBeGreaterThan(0);
    expect(m.warmUpMs).toBeCloseTo(after.warmUpMs - before.warmUpMs, 6);
    expect(m.unetMs).toBeGreaterThan(0);
    expect(m.framesPerSecond).toBeCloseTo(8 / (m.unetMs / 1000), 6);
  });

  it('a clip as short as the halo warms up and is timed on the same length; shorter clips are refused', async () => {
    const model = await openTinyEngine(ort, ['segmented']);
    const halo = model.plan.tconvHalo;
    const seen = recordSampleFrames(model);
    const m = await measureUnetSpeed(model, halo);
    expect(m.frames).toBe(halo);
    expect(new Set([...seen.warmUp, ...seen.timed])).toEqual(new Set([halo]));
    await expect(measureUnetSpeed(model, halo - 1)).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(measureUnetSpeed(model, 2.5)).rejects.toMatchObject({ code: 'invalid-argument' });
  });

  it('whole graph only: warm-up on min(frames, halo) frames, timed call on the requested clip', async () => {
    const model = await openTinyEngine(ort, ['whole']);
    const seen = recordSampleFrames(model);
    const m = await measureUnetSpeed(model, 6);
    expect(m).toMatchObject({ graph: 'whole', frames: 6 });
    expect(seen.warmUp).toEqual([model.plan.tconvHalo]);
    expect(seen.timed).toEqual([6]);
    vi.restoreAllMocks();
    const seenShort = recordSampleFrames(model);
    expect((await measureUnetSpeed(model, 2)).frames).toBe(2); // shorter than the halo: both calls on 2 frames
    expect(seenShort).toEqual({ warmUp: [2], timed: [2] });
  });
});
