// The guidance split through the whole denoising loop of the tiny random-weight model
// (onnxruntime-node CPU, in-process ranks): a clip's two branches on two ranks with the package's
// batch-1 graphs render what one rank renders with the batch of two, both ranks of a pair hold the
// same latents, and each rank sends half the bytes.
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import type { Collective, MessageTag, WireTensor } from './collective.js';
import { denoise, type ClipResult } from './denoise.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { loadBranchModel, type EngineModel } from './engine-model.js';
import { BranchCollective, GUIDANCE_SWAP_POINT, splitPlace } from './guidance-split.js';
import { parseJobParams } from './job-params.js';
import { videoIdentity, type JobParams } from './job-state.js';
import type { OrtModule } from './session-runner.js';
import { fileReader, openTinyEngine, tinyPackageDir } from './testing/tiny-engine.js';
import { parseManifest, runtimeFiles } from '../model/manifest.js';

const PER_FRAME = 48 * 8 * 8;
const o = ort as unknown as OrtModule;

let batch2: EngineModel;
let batch1: EngineModel;
beforeAll(async () => {
  batch2 = await openTinyEngine(o, ['segmented']);
  batch1 = await loadBranchModel(batch2, fileReader(tinyPackageDir()));
});

/** 12 frames, 3 DPM steps (the local phase starts at step 1), guidance 7.5. */
function job(extra: Partial<JobParams> = {}): JobParams {
  return {
    jobId: 5, totalFrames: 12, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle moving right' }, { fromFrame: 6, prompt: 'a blue square' }] }, seed: 31, steps: 3,
    guidanceScale: 7.5, sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null, ...extra,
  };
}

interface Render {
  results: ClipResult[];
  /** The video's latents, from the first rank holding each clip. */
  latents: Float32Array;
  bytesPerRank: number[];
}

async function render(model: EngineModel, j: JobParams, worldSize: number): Promise<Render> {
  const cols = createInProcessCollectives(worldSize);
  const results = await Promise.all(cols.map((c) => denoise(model, j, c)));
  const latents = new Float32Array(j.totalFrames * PER_FRAME);
  for (const r of [...results].reverse()) latents.set(r.latents, r.range.start * PER_FRAME);
  return { results, latents, bytesPerRank: cols.map((c) => c.stats().bytesSent) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}


describe('guidance split: two ranks per clip, one branch each', () => {
  let exact2: Render;
  beforeAll(async () => {
    exact2 = await render(batch2, job(), 2);
  });

  it('4 split ranks render the 2-clip video of 2 batched ranks; both ranks of a pair hold the same latents', async () => {
    const split = await render(batch1, job({ cfgSplit: true }), 4);
    expect(split.results.map((r) => r.range)).toEqual([exact2.results[0]!.range, exact2.results[0]!.range, exact2.results[1]!.range, exact2.results[1]!.range]);
    for (const pair of [0, 2]) expect(maxAbsDiff(split.results[pair]!.latents, split.results[pair + 1]!.latents)).toBe(0);
    // On ORT-node CPU the batch-1 and batch-2 kernels round alike: bit for bit (the video identity still
    // names the split, since GPU kernels need not).
    expect(maxAbsDiff(split.latents, exact2.latents)).toBe(0);
    // Control: the comparison sees guidance (7.4 instead of 7.5 changes the video).
    expect(maxAbsDiff((await render(batch2, job({ guidanceScale: 7.4 }), 2)).latents, exact2.latents)).toBeGreaterThan(1e-3);
  });

  it('a pair renders the 1-rank video; a split rank sends the batched rank\'s bytes over two, plus the noise-prediction swap', async () => {
    const one = await render(batch2, job(), 1);
    const pair = await render(batch1, job({ cfgSplit: true }), 2);
    expect(maxAbsDiff(pair.latents, one.latents)).toBe(0);
    const swapBytes = 3 * 12 * PER_FRAME * 4; // 3 steps of [1, C, F, H, W] float32
    expect(pair.bytesPerRank).toEqual([swapBytes, swapBytes]);

    const split = await render(batch1, job({ cfgSplit: true }), 4);
    const swap6 = 3 * 6 * PER_FRAME * 4;
    // Every exchanged tensor has the batch axis first, so a batch-1 rank sends exactly half the bytes of
    // the batch-2 rank holding the same clip.
    expect(split.bytesPerRank.map((b) => b - swap6)).toEqual([0, 0, 1, 1].map((k) => exact2.bytesPerRank[k]! / 2));
  });

  it('is deterministic under the default exchange mode with float16 on the wire', async () => {
    const j = job({ cfgSplit: true, exchangeMode: 'sparse-global', exchangeOptions: { globalEvery: 2, float16Wire: true } });
    const a = await render(batch1, j, 4);
    const b = await render(batch1, j, 4);
    expect(maxAbsDiff(a.latents, b.latents)).toBe(0);
    expect(maxAbsDiff(a.latents, exact2.latents)).toBeGreaterThan(0);
  });

  it('refuses what cannot be split, naming the rule', async () => {
    await expect(render(batch1, job({ cfgSplit: true }), 3)).rejects.toThrow(/world size must be even.*got 3/);
    await expect(render(batch2, job({ cfgSplit: true }), 2)).rejects.toThrow(/model.plan.batch must be 1 .*batch-1 graphs.*got 2/);
    await expect(render(batch1, job(), 2)).rejects.toThrow(/model.plan.batch must be 2 .*\[uncond, cond\] batch.*got 1/);
    await expect(render(batch1, job({ cfgSplit: true, partition: { totalFrames: 12, ranges: [{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8, end: 12 }] } }), 4)).rejects.toThrow(/ranges.length.*half the world size/);
    expect(() => parseJobParams({ ...job(), cfgSplit: 'yes' })).toThrow(/job.cfgSplit/);
  });

  it('is part of the video identity only when on (older saved renders keep theirs)', () => {
    expect(videoIdentity(job({ cfgSplit: true }))).not.toBe(videoIdentity(job()));
    expect(videoIdentity(job({ cfgSplit: false }))).toBe(videoIdentity(job()));
    expect(parseJobParams({ ...job(), cfgSplit: false })).not.toHaveProperty('cfgSplit');
  });
});

describe('BranchCollective', () => {
  it('makes each branch a room of its own: group ranks map to parent ranks 2c + branch', async () => {
    const cols = createInProcessCollectives(6);
    const groups = cols.map((c) => new BranchCollective(c, splitPlace(c.rank, 6).branch));
    expect(groups.map((g) => [g.rank, g.worldSize])).toEqual([[0, 3], [0, 3], [1, 3], [1, 3], [2, 3], [2, 3]]);
    const tag: MessageTag = { jobId: 1, step: 0, pointId: 3, kind: 'global-gather' };
    const mine = (c: Collective): WireTensor => ({ dtype: 'int32', shape: [1], data: Int32Array.of(c.rank) });
    // Same tag in both branches at once: each gathers only its own branch's parent ranks.
    const gathered = await Promise.all(groups.map((g, k) => g.allGather(tag, mine(cols[k]!))));
    expect(gathered.map((parts) => parts.map((p) => p.data[0]))).toEqual([[0, 2, 4], [1, 3, 5], [0, 2, 4], [1, 3, 5], [0, 2, 4], [1, 3, 5]]);
    const halo = await Promise.all(groups.map((g, k) => g.exchangeHalo(tag, g.rank > 0 ? mine(cols[k]!) : null, g.rank < 2 ? mine(cols[k]!) : null)));
    expect(halo.map((h) => [h.fromLeft?.data[0] ?? null, h.fromRight?.data[0] ?? null])).toEqual([[null, 2], [null, 3], [0, 4], [1, 5], [2, null], [3, null]]);
    expect(() => new BranchCollective(cols[1]!, 0)).toThrow(/branch/);
    expect(GUIDANCE_SWAP_POINT).toBe(0xffffffff);
  });
});

describe('the batch-1 graph set in a package', () => {
  it('is compiled beside the batch-2 set, shares its weight shards, and tabs download its segments only', async () => {
    const read = fileReader(tinyPackageDir());
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await read('manifest.json'))));
    expect(manifest.unet.cfg_split).toEqual({ onnx_whole: 'onnx/unet_b1.onnx', segment_plan: 'onnx/segment-plan-b1.json' });
    expect(batch1.plan.batch).toBe(1);
    expect(batch1.plan.weights).toEqual(batch2.plan.weights);
    expect(batch1.plan.segments.map((s) => s.shards)).toEqual(batch2.plan.segments.map((s) => s.shards));
    const files = runtimeFiles(manifest, 'compute');
    expect(files).toContain('onnx/segment-plan-b1.json');
    for (const s of batch1.plan.segments) expect(files).toContain(s.file);
    expect(files).not.toContain('onnx/unet_b1.onnx'); // a split has two ranks: nobody runs its whole graph
    const without = { ...manifest, unet: { ...manifest.unet, cfg_split: undefined } };
    await expect(loadBranchModel({ ...batch2, manifest: without }, read)).rejects.toThrow(/no batch-1 graphs for a guidance split/);
  });
});
