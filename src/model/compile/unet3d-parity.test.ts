// Parity with the upstream implementation: diffusers' UNet3DConditionModel with Video-Infinity's
// VideoCrafter2 fps subclass (UNetVideoCrafter), on a narrow VC2-shaped config (4 levels, 2 layers per
// block, 1024-d cross-attention, fps, 8×16 latent). The goldens (training/golden/unet3d-narrow, written
// by training/write_unet3d_goldens.py from the upstream source) hold the published config, the
// checkpoint's key list, the inputs and the outputs at a global-phase and a local-phase timestep; the
// weights are regenerated from their seed (src/model/testing/seeded-weights.ts). The model is written
// as a sharded checkpoint in the published layout and goes through the importer, as a user's would.
//
// Upstream diffusers runs plain full temporal attention; the compiled graphs run dual-scope attention,
// set up here so that it is full attention:
// - whole graph: a window over the whole video and no global frames. The local phase adds +b to every
//   key (a constant shift, which softmax ignores); the global phase biases nothing. Exact in both phases.
// - segments: a clip's window cannot pass its neighbours, so instead every frame is a global frame and
//   the window is the frame itself, with +30 on the global keys at every timestep (phase threshold 0):
//   the duplicate of the frame itself weighs e^-30 ≈ 1e-13. Equal to full attention in float32.
// The local phase's dual-scope bias in segments (real window and global frames) is checked against the
// whole graph on this model too, with Video-Infinity's settings.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipExchange, type Exchanger } from '../../engine/clip-exchange.js';
import type { DualScopeParams } from '../../engine/dual-scope.js';
import { SegmentExecutor, WholeGraphExecutor } from '../../engine/segment-executor.js';
import { SessionRunner, type OrtModule } from '../../engine/session-runner.js';
import { fileReader } from '../../engine/testing/tiny-engine.js';
import { clipLayout, segmentedCallInputs, wholeCallInputs } from '../../engine/unet-call-inputs.js';
import { createInProcessCollectives } from '../../net/in-process-collective.js';
import { parseUNetConfig } from '../config.js';
import { type ExchangeKind, type KindTraffic, exchangeBytesPerCall } from '../plan-traffic.js';
import { SafetensorsFile } from '../safetensors.js';
import type { SegmentPlan } from '../segment-plan.js';
import { clipCallValues } from '../testing/clip-values.js';
import { type HostTensor, f32, maxAbsDiff, sliceAxis } from '../testing/host-tensor.js';
import { RecordingWeights } from '../testing/recording-weights.js';
import { seededTensor } from '../testing/seeded-weights.js';
import { writeCheckpoint } from './checkpoint-writer.js';
import { WholeScope } from './frame-scope.js';
import { Program } from './graph.js';
import { importModel } from './import-model.js';
import { DEFAULT_NUMERICS, type Numerics } from './numerics.js';
import { buildUNet } from './unet.js';

const goldenDir = join(resolve(import.meta.dirname, '..', '..', '..'), 'training', 'golden', 'unet3d-narrow');
const TOL = 1e-4;
/** float16 weights, float32 compute: measured up to 5.7e-3 (docs/model-package.md §fp16). */
const TOL_FP16 = 1e-2;
/** float16 compute (ONNX Runtime CPU EP, values rounded to float16 between ops): measured up to 7.7e-3. */
const TOL_FP16_COMPUTE = 2e-2;

interface GoldenMeta {
  source: Record<string, string>;
  unet_config: Record<string, unknown>;
  weight_seed: number;
  weights: [string, number[]][];
  frames: number;
  height: number;
  width: number;
  text_tokens: number;
  fps: number;
  calls: { phase: 'global' | 'local'; timestep: number; output: string }[];
}

const meta: GoldenMeta = JSON.parse(readFileSync(join(goldenDir, 'unet_calls.json'), 'utf8'));
const fx = SafetensorsFile.parse(new Uint8Array(readFileSync(join(goldenDir, 'unet_calls.safetensors'))), 'unet_calls.safetensors');
const get = (n: string): HostTensor => f32(fx.float32(n), [...fx.entry(n).shape]);
const N = meta.frames;
/** Whole graph: window over the whole video, no global frames (full attention in both phases). */
const FULL: DualScopeParams = { window: N, topK: 0, phaseTimestep: 800, phaseBias: 10 };
/** Segments: all frames global, window 0, globals biased at every t (full attention up to e^-30). */
const FULL_SEGMENTED: DualScopeParams = { window: 0, topK: N, phaseTimestep: 0, phaseBias: 30 };
/** Video-Infinity's own settings, scaled to the clip: window 4, 8 global frames, T_phase 800, b 10. */
const DUAL_SCOPE: DualScopeParams = { window: 4, topK: 8, phaseTimestep: 800, phaseBias: 10 };
const RANKS = [[[0, N]], [[0, 6], [6, N]], [[0, 4], [4, 9], [9, N]]];

/** Largest |difference| between per-clip outputs and slices of a whole-video tensor. */
function worstOverClips(clips: Float32Array[], ranges: number[][], want: HostTensor): number {
  return Math.max(...clips.map((c, r) => {
    const w = sliceAxis(want, 2, ranges[r]![0]!, ranges[r]![1]!);
    return maxAbsDiff(f32(c, w.dims), w);
  }));
}

/** encoder_hidden_states [B, L, D] (one prompt per batch row, as diffusers takes it) → per frame [B·N, L, D]. */
function perFrame(ehs: HostTensor): HostTensor {
  const [B, L, D] = ehs.dims as [number, number, number];
  const out = new Float32Array(B * N * L * D);
  const src = ehs.data as Float32Array;
  for (let b = 0; b < B; b++) for (let f = 0; f < N; f++) out.set(src.subarray(b * L * D, (b + 1) * L * D), (b * N + f) * L * D);
  return f32(out, [B * N, L, D]);
}

/** Write the published layout (sharded) with seeded weights, perturbing one value if asked, and import it. */
function importNarrow(dir: string, precision: Numerics['precision'], perturb?: { key: string; delta: number }): SegmentPlan {
  const unetDir = join(dir, 'src', 'unet');
  const tensors = meta.weights.map(([name, shape]) => ({
    name, shape, values: () => {
      const v = seededTensor(meta.weight_seed, name, shape);
      if (perturb?.key === name) v[0]! += perturb.delta;
      return v;
    },
  }));
  writeCheckpoint(unetDir, 'diffusion_pytorch_model', tensors, 512 * 1024);
  // config.json exactly as upstream's save_pretrained wrote it.
  writeFileSync(join(unetDir, 'config.json'), JSON.stringify(meta.unet_config));
  const out = join(dir, 'pkg');
  importModel({ unet: unetDir }, { out, height: 8 * meta.height, width: 8 * meta.width, textTokens: meta.text_tokens, numerics: { ...DEFAULT_NUMERICS, precision } });
  return JSON.parse(readFileSync(join(out, 'onnx', 'segment-plan.json'), 'utf8'));
}

let runner: SessionRunner;
let sample: HostTensor;
let ehs: HostTensor;

beforeAll(() => {
  runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
  sample = get('sample');
  ehs = perFrame(get('encoder_hidden_states'));
});
afterAll(() => NarrowPackage.removeAll());

/** An imported narrow package and the calls the tests make on it; sessions are loaded once (the slow part). */
class NarrowPackage {
  readonly plan: SegmentPlan;
  private segments?: SegmentExecutor;
  private whole?: WholeGraphExecutor;

  /** Imported packages by precision and perturbation: a float16 one carries both compute sets, so both cases share it. */
  private static readonly imported = new Map<string, string>();

  constructor(precision: Numerics['precision'], perturb?: { key: string; delta: number }, compute: 'float32' | 'float16' = 'float32') {
    const key = `${precision} ${JSON.stringify(perturb ?? null)}`;
    let dir = NarrowPackage.imported.get(key);
    if (!dir) {
      dir = mkdtempSync(join(tmpdir(), 'vi-unet3d-'));
      importNarrow(dir, precision, perturb);
      NarrowPackage.imported.set(key, dir);
    }
    this.dir = dir;
    // float16 compute: the package's second graph set, same plan apart from the files.
    this.plan = JSON.parse(readFileSync(join(this.dir, 'pkg', 'onnx', compute === 'float16' ? 'segment-plan-f16.json' : 'segment-plan.json'), 'utf8'));
  }

  readonly dir: string;

  static removeAll(): void {
    for (const dir of NarrowPackage.imported.values()) rmSync(dir, { recursive: true, force: true });
    NarrowPackage.imported.clear();
  }

  /** One UNet call split over clips, each rank exchanging through ClipExchange over the in-process collective; noise_pred per clip. */
  async segmentedCall(ranges: number[][], params: DualScopeParams, t: number, wrap = (x: Exchanger, _rank: number): Exchanger => x): Promise<Float32Array[]> {
    const plan = this.plan;
    this.segments ??= await SegmentExecutor.load(runner, plan, fileReader(join(this.dir, 'pkg')));
    const executor = this.segments;
    const collectives = createInProcessCollectives(ranges.length);
    const outs = await Promise.all(ranges.map(([s, e], r) => {
      const layout = clipLayout({ start: s!, end: e! }, N, params, plan.tconvHalo);
      const exchanger = wrap(new ClipExchange(collectives[r]!, layout, plan, 1), r);
      return executor.call(segmentedCallInputs(plan, layout, clipCallValues(sample, ehs, layout.range, t, meta.fps)), exchanger, 0);
    }));
    return outs.map((o) => o.noisePred);
  }

  async wholeCall(params: DualScopeParams, t: number): Promise<HostTensor> {
    this.whole ??= await WholeGraphExecutor.load(runner, this.plan, fileReader(join(this.dir, 'pkg')));
    const out = await this.whole.call(wholeCallInputs(this.plan, N, params, clipCallValues(sample, ehs, { start: 0, end: N }, t, meta.fps)));
    return f32(out.noisePred, [2, this.plan.latent.channels, N, this.plan.latent.height, this.plan.latent.width]);
  }

}

it('asks for exactly the checkpoint keys and shapes of upstream UNetVideoCrafter', () => {
  const cfg = parseUNetConfig(meta.unet_config);
  expect(cfg.fpsConditioning).toBe(true);
  const rec = new RecordingWeights(() => new Float32Array(0), 'linear');
  const c = { P: new Program('record'), W: rec, batch: 2 };
  buildUNet(c, new WholeScope(c, 'F'), cfg, { height: meta.height, width: meta.width, textTokens: meta.text_tokens });
  const ours = [...rec.shapes].map(([k, s]) => `${k} [${s}]`).sort();
  const upstream = meta.weights.map(([k, s]) => `${k} [${s}]`).sort();
  expect(ours).toEqual(upstream);
  console.log(`upstream ${meta.source.diffusers} + ${meta.source.video_infinity}: ${upstream.length} weights, all matched`);
});

/**
 * One case per weight precision. float32 runs every partition; float16 weights (float32 compute)
 * run the 3-rank split, which exercises every exchange kind, to keep the suite fast.
 */
const PRECISIONS: { name: string; precision: Numerics['precision']; compute: 'float32' | 'float16'; tol: number; ranks: number[][][] }[] = [
  { name: 'float32', precision: 'float32', compute: 'float32', tol: TOL, ranks: RANKS },
  { name: 'float16 weights', precision: 'float16', compute: 'float32', tol: TOL_FP16, ranks: [RANKS[2]!] },
  { name: 'float16 compute', precision: 'float16', compute: 'float16', tol: TOL_FP16_COMPUTE, ranks: [RANKS[2]!] },
];

describe.each(PRECISIONS)('narrow VideoCrafter2 config vs upstream diffusers, $name', ({ name, precision, compute, tol, ranks: rankCases }) => {
  let pkg: NarrowPackage;
  beforeAll(() => {
    pkg = new NarrowPackage(precision, undefined, compute);
  });

  it(`the package records its weight precision, and the shards are ${precision === 'float16' ? 'half' : 'all'} of float32's bytes`, () => {
    const rec = JSON.parse(readFileSync(join(pkg.dir, 'pkg', 'import.json'), 'utf8'));
    expect(rec.unet.precision).toBe(precision);
    const shardBytes = Object.entries(rec.files as Record<string, { bytes: number }>).filter(([p]) => p.endsWith('.bin')).reduce((a, [, e]) => a + e.bytes, 0);
    const fp32Bytes = 4 * rec.unet.parameters;
    console.log(`${precision} weight shards: ${shardBytes} bytes for ${rec.unet.parameters} parameters`);
    // Small tensors (< 1 KiB) stay inline in the graphs, and shards pad to 64 bytes, hence the margins.
    const [lo, hi] = precision === 'float16' ? [0.45, 0.51] : [0.9, 1.01];
    expect(shardBytes / fp32Bytes).toBeGreaterThan(lo);
    expect(shardBytes / fp32Bytes).toBeLessThan(hi);
  });

  for (const call of meta.calls) {
    it(`whole graph matches at t=${call.timestep} (${call.phase} phase)`, async () => {
      const diff = maxAbsDiff(await pkg.wholeCall(FULL, call.timestep), get(call.output));
      console.log(`${name}, whole vs upstream, t=${call.timestep}: max abs diff ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(tol);
    });

    for (const ranges of rankCases) {
      it(`segments on ${ranges.length} rank(s) ${JSON.stringify(ranges)} match at t=${call.timestep} (${call.phase} phase)`, async () => {
        const worst = worstOverClips(await pkg.segmentedCall(ranges, FULL_SEGMENTED, call.timestep), ranges, get(call.output));
        console.log(`${name}, segmented (${ranges.length} ranks) vs upstream, t=${call.timestep}: max abs diff ${worst.toExponential(2)}`);
        expect(worst).toBeLessThanOrEqual(tol);
      });
    }

    it(`with Video-Infinity's dual-scope settings, segments on 3 ranks equal the whole graph at t=${call.timestep} (${call.phase} phase)`, async () => {
      const ranges = RANKS[2]!;
      const worst = worstOverClips(await pkg.segmentedCall(ranges, DUAL_SCOPE, call.timestep), ranges, await pkg.wholeCall(DUAL_SCOPE, call.timestep));
      const vsFull = maxAbsDiff(await pkg.wholeCall(DUAL_SCOPE, call.timestep), get(call.output));
      console.log(`${name}, dual-scope, t=${call.timestep}: segmented vs whole ${worst.toExponential(2)}; dual-scope differs from full attention by ${vsFull.toExponential(2)}`);
      // Same weights on both sides: segments equal the whole graph to float32 rounding with float32
      // compute; with float16 compute a tensor kept across a cut is float32, inside the whole graph float16.
      expect(worst).toBeLessThanOrEqual(compute === 'float16' ? tol : TOL);
      expect(vsFull).toBeGreaterThan(tol); // the setting is really not full attention
    });
  }

  // Traffic does not depend on the weights' precision (the exchanged tensors are float32 at both).
  if (name === 'float32') it('the exchange-bytes arithmetic (plan-traffic.ts, docs/real-model.md figures) equals what a middle rank really sends and receives', async () => {
    const ranges = RANKS[2]!;
    const seen: Record<ExchangeKind, KindTraffic> = {
      stats: { points: 0, sentBytes: 0, receivedBytes: 0 }, halo: { points: 0, sentBytes: 0, receivedBytes: 0 }, attention: { points: 0, sentBytes: 0, receivedBytes: 0 },
    };
    const counting = (inner: Exchanger, rank: number): Exchanger => (rank !== 1 ? inner : {
      layout: inner.layout,
      async exchange(point, index, sent, step) {
        const got = await inner.exchange(point, index, sent, step);
        const k = seen[point.kind];
        k.points++;
        k.sentBytes += (sent.data as Float32Array).byteLength;
        k.receivedBytes += (got.data as Float32Array).byteLength;
        return got;
      },
    });
    await pkg.segmentedCall(ranges, DUAL_SCOPE, 900, counting);
    const layout = clipLayout({ start: ranges[1]![0]!, end: ranges[1]![1]! }, N, DUAL_SCOPE, pkg.plan.tconvHalo);
    const predicted = exchangeBytesPerCall(pkg.plan, { nSend: layout.sendLocalFrames.length, contextRows: layout.contextColumns.length });
    console.log(`middle rank per call: ${JSON.stringify(seen)}`);
    expect(predicted).toEqual(seen);
  });

  it(`negative control: one weight off by 3 × ${tol} (conv_out.bias[0]) breaks the tolerance`, async () => {
    const bad = new NarrowPackage(precision, { key: 'conv_out.bias', delta: 3 * tol }, compute);
    const call = meta.calls[0]!;
    const diff = maxAbsDiff(await bad.wholeCall(FULL, call.timestep), get(call.output));
    console.log(`${name}, perturbed model vs upstream: max abs diff ${diff.toExponential(2)} (must exceed ${tol})`);
    expect(diff).toBeGreaterThan(tol);
  });
});
