// Compiler tests on a random-weight package written by the test itself (issue 4 §5): the package
// compiles, the plan is consistent, segmented execution on 1, 2 and 3 ranks (uneven splits, both
// attention phases; run by the engine's executors) equals the whole-video graph, and mismatched
// configs/weights are rejected with errors that name the key and shape.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipExchange } from '../../engine/clip-exchange.js';
import type { DualScopeParams } from '../../engine/dual-scope.js';
import { SegmentExecutor, WholeGraphExecutor } from '../../engine/segment-executor.js';
import { SessionRunner, type OrtModule } from '../../engine/session-runner.js';
import { fileReader } from '../../engine/testing/tiny-engine.js';
import { clipLayout, segmentedCallInputs, wholeCallInputs } from '../../engine/unet-call-inputs.js';
import { createInProcessCollectives } from '../../net/in-process-collective.js';
import { prng } from '../../testing/prng.js';
import { parseManifest, verifyFile } from '../manifest.js';
import { SafetensorsFile, writeSafetensors } from '../safetensors.js';
import { type SegmentPlan, validateSegmentPlan } from '../segment-plan.js';
import { clipCallValues } from '../testing/clip-values.js';
import { type HostTensor, f32, maxAbsDiff, sliceAxis } from '../testing/host-tensor.js';
import { TINY_UNET_CONFIG, writeTinyPackage } from '../testing/tiny-model.js';
import { PACKAGE_FILES, compileModelPackage } from './compile-model.js';
import { planSummary } from './plan-summary.js';

let dir: string;
let plan: SegmentPlan;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vi-tiny-'));
  writeTinyPackage(dir);
  compileModelPackage(dir);
  plan = JSON.parse(readFileSync(join(dir, PACKAGE_FILES.segmentPlan), 'utf8'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('compiled package', () => {
  it('writes a manifest whose files all verify', async () => {
    const m = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
    expect(m.defaults.local_window_p).toBe(4);
    expect(m.latent.decode).toEqual({ kind: 'pixel_shuffle', factor: 4, value_range: [-1, 1] });
    for (const path of Object.keys(m.files)) await verifyFile(m, path, new Uint8Array(readFileSync(join(dir, path))));
    await expect(verifyFile(m, m.unet.onnx_whole, new Uint8Array(readFileSync(join(dir, m.text_encoder.onnx))))).rejects.toThrow(/bytes|sha256/);
  });

  it('uses only ops checked on the WebGPU and WASM EPs (e2e/model-parity.spec.ts)', () => {
    // Sin/Cos are excluded on purpose (imprecise on WebGPU/SwiftShader), GroupNormalization has no WebGPU kernel.
    // Cast … Unsqueeze below: the banded temporal attention's selection (numerics.ts bandSelection).
    const allowed = new Set(['Add', 'Concat', 'Conv', 'Div', 'Erf', 'Exp', 'Expand', 'Floor', 'Gather', 'Identity', 'LayerNormalization',
      'MatMul', 'Mul', 'ReduceMean', 'ReduceSumSquare', 'Reshape', 'Sigmoid', 'Slice', 'Softmax', 'Sqrt', 'Sub', 'Transpose',
      'Cast', 'CumSum', 'GatherElements', 'Greater', 'Min', 'ReduceMax', 'ReduceSum', 'TopK', 'Unsqueeze']);
    const used = new Set([plan.whole, ...plan.segments].flatMap((g) => Object.keys(g.opCounts)));
    expect([...used].filter((op) => !allowed.has(op))).toEqual([]);
  });

  it('stores every UNet weight once, in the shared external-data shard, not in the graphs', () => {
    expect(plan.weights).toEqual([{ file: 'onnx/unet_weights_000.bin', location: 'unet_weights_000.bin' }]);
    const size = (p: string) => statSync(join(dir, p)).size;
    const weights = size(plan.weights![0]!.file);
    const safetensors = size(PACKAGE_FILES.unetWeights);
    const graphs = [plan.whole.file, ...plan.segments.map((s) => s.file)].reduce((a, f) => a + size(f), 0);
    // Inline, the whole graph and the segments would each carry all weights: graphs ≈ 2 × safetensors.
    expect(weights).toBeGreaterThan(0.9 * safetensors);
    expect(weights).toBeLessThan(1.05 * safetensors);
    expect(graphs).toBeLessThan(0.25 * safetensors);
    // A graph opened without the file fails, naming it (the engine passes it: SegmentExecutor/WholeGraphExecutor.load).
    return expect(ort.InferenceSession.create(readFileSync(join(dir, plan.whole.file)))).rejects.toThrow(/unet_weights_000\.bin|external/i);
  });

  it('cuts the weights into shards of at most shardBytes, and the graphs give the same output from them', async () => {
    const sharded = mkdtempSync(join(tmpdir(), 'vi-shards-'));
    try {
      writeTinyPackage(sharded);
      compileModelPackage(sharded, { shardBytes: 512 * 1024 });
      const plan2 = JSON.parse(readFileSync(join(sharded, PACKAGE_FILES.segmentPlan), 'utf8')) as SegmentPlan;
      validateSegmentPlan(plan2);
      const sizes = plan2.weights!.map((w) => statSync(join(sharded, w.file)).size);
      console.log(`shards of <= 512 KiB: ${sizes.length} (${sizes.reduce((a, b) => a + b, 0)} bytes; one shard: ${statSync(join(dir, plan.weights![0]!.file)).size})`);
      expect(sizes.length).toBeGreaterThan(3);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(512 * 1024); // its largest tensor is 288 KiB
      const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
      const N = 5;
      const x = randomInputs(N, 3);
      const params: DualScopeParams = { window: 4, topK: 8, phaseTimestep: 800, phaseBias: 1 };
      const call = async (p: SegmentPlan, d: string) =>
        (await (await WholeGraphExecutor.load(runner, p, fileReader(d))).call(wholeCallInputs(p, N, params, clipCallValues(x.sample, x.ehs, { start: 0, end: N }, 700, 8)))).noisePred;
      expect(await call(plan2, sharded)).toEqual(await call(plan, dir));
    } finally {
      rmSync(sharded, { recursive: true, force: true });
    }
  });

  it('has a consistent segment plan (process replay summary)', async () => {
    validateSegmentPlan(plan);
    expect(plan.exchangePoints.length).toBe(55);
    await expect(planSummary(plan)).toMatchFileSnapshot('./plan-summary.tiny.txt');
  });
});

function randomInputs(N: number, seed: number): { sample: HostTensor; ehs: HostTensor } {
  const r = prng(seed);
  const sample = f32(Float32Array.from({ length: 2 * 48 * N * 64 }, () => 2 * r() - 1), [2, 48, N, 8, 8]);
  const ehs = f32(Float32Array.from({ length: 2 * N * 16 * 64 }, () => 2 * r() - 1), [2 * N, 16, 64]);
  return { sample, ehs };
}

// The compiled graphs run by the engine's executors: one SegmentExecutor per rank, each exchanging
// with the others through ClipExchange over the in-process collective (what a W-tab job does over
// WebRTC), against the whole-video graph on the same inputs.
describe('segmented execution equals the whole-video graph', () => {
  const params: DualScopeParams = { window: 4, topK: 8, phaseTimestep: 800, phaseBias: 1 };
  const N = 13;
  let segments: SegmentExecutor;
  let whole: WholeGraphExecutor;
  beforeAll(async () => {
    const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
    segments = await SegmentExecutor.load(runner, plan, fileReader(dir));
    whole = await WholeGraphExecutor.load(runner, plan, fileReader(dir));
  });

  const cases: [number, number[][]][] = [
    [999, [[0, 13]]],
    [999, [[0, 6], [6, 13]]],
    [500, [[0, 4], [4, 9], [9, 13]]],
  ];
  for (const [t, ranges] of cases) {
    it(`t=${t}, clips ${JSON.stringify(ranges)}`, async () => {
      const x = randomInputs(N, 11);
      const ref = f32((await whole.call(wholeCallInputs(plan, N, params, clipCallValues(x.sample, x.ehs, { start: 0, end: N }, t, 8)))).noisePred, [2, 48, N, 8, 8]);
      const collectives = createInProcessCollectives(ranges.length);
      const outs = await Promise.all(ranges.map(([s, e], r) => {
        const layout = clipLayout({ start: s!, end: e! }, N, params, plan.tconvHalo);
        return segments.call(segmentedCallInputs(plan, layout, clipCallValues(x.sample, x.ehs, layout.range, t, 8)), new ClipExchange(collectives[r]!, layout, plan, 1), 0);
      }));
      let worst = 0;
      outs.forEach((o, r) => {
        const want = sliceAxis(ref, 2, ranges[r]![0]!, ranges[r]![1]!);
        worst = Math.max(worst, maxAbsDiff(f32(o.noisePred, want.dims), want));
      });
      console.log(`segmented vs whole, t=${t}, clips ${JSON.stringify(ranges)}: max abs diff ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-4);
    });
  }
});

describe('rejects packages that do not match', () => {
  let bad: string;
  beforeAll(() => {
    bad = mkdtempSync(join(tmpdir(), 'vi-bad-'));
  });
  afterAll(() => rmSync(bad, { recursive: true, force: true }));

  const withWeights = (edit: (t: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>) => void) => {
    writeTinyPackage(bad);
    const path = join(bad, PACKAGE_FILES.unetWeights);
    const f = SafetensorsFile.parse(new Uint8Array(readFileSync(path)));
    const tensors = Object.fromEntries([...f.entries.values()].map((e) => [e.name, { dtype: 'F32' as const, shape: e.shape, data: f.float32(e.name) }]));
    edit(tensors);
    writeFileSync(path, writeSafetensors(tensors));
  };

  it('missing key', () => {
    withWeights((t) => delete t['mid_block.temp_convs.1.conv3.3.weight']);
    expect(() => compileModelPackage(bad)).toThrow(/missing weight 'mid_block\.temp_convs\.1\.conv3\.3\.weight' \(expected shape \[64,64,3,1,1\]\)/);
  });
  it('wrong shape', () => {
    withWeights((t) => (t['down_blocks.0.resnets.0.conv1.weight'] = { dtype: 'F32', shape: [64, 64, 1, 1], data: new Float32Array(64 * 64) }));
    expect(() => compileModelPackage(bad)).toThrow(/'down_blocks\.0\.resnets\.0\.conv1\.weight' has shape \[64,64,1,1\], the config implies \[64,64,3,3\]/);
  });
  it('unknown key', () => {
    withWeights((t) => (t['down_blocks.0.extra.weight'] = { dtype: 'F32', shape: [3], data: new Float32Array(3) }));
    expect(() => compileModelPackage(bad)).toThrow(/unknown weight\(s\) not used by the config: 'down_blocks\.0\.extra\.weight' \[3\]/);
  });
  it('corrupt (truncated) file', () => {
    writeTinyPackage(bad);
    const path = join(bad, PACKAGE_FILES.unetWeights);
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.byteLength - 100));
    expect(() => compileModelPackage(bad)).toThrow(/unet\/diffusion_pytorch_model\.safetensors: tensor '.*': data_offsets .* run past the data section/);
    writeFileSync(path, Buffer.from('not a safetensors file at all'));
    expect(() => compileModelPackage(bad)).toThrow(/header length .* does not fit/);
  });
  it('config that does not match the weights', () => {
    writeTinyPackage(bad);
    writeFileSync(join(bad, PACKAGE_FILES.unetConfig), JSON.stringify({ ...TINY_UNET_CONFIG, block_out_channels: [64, 96] }));
    expect(() => compileModelPackage(bad)).toThrow(/has shape \[64.*\], the config implies \[96/);
    writeFileSync(join(bad, PACKAGE_FILES.unetConfig), JSON.stringify({ ...TINY_UNET_CONFIG, use_linear_projection: true }));
    expect(() => compileModelPackage(bad)).toThrow(/unet\/config\.json: unknown key\(s\) 'use_linear_projection'/);
    writeFileSync(join(bad, PACKAGE_FILES.unetConfig), JSON.stringify({ ...TINY_UNET_CONFIG, norm_num_groups: 5 }));
    expect(() => compileModelPackage(bad)).toThrow(/'norm_num_groups' = 5 must divide every block_out_channels entry/);
  });
});
