// Parity with PyTorch (training/write_goldens.py fixtures, docs/exchange-points.md) of the committed
// compiled package on onnxruntime-node CPU: the text encoder, the whole-graph UNet, and single-rank
// segmented clips run by the engine's own executors (src/engine/segment-executor.ts) with every
// exchange answered from the fixture (src/engine/fixture-exchange.ts) and every sent tensor checked
// against it, so a mismatch is located at the first exchange point where it appears.
// Tolerance 1e-4 in fp32. The fixtures and the compiled embedded package are committed; a missing file fails the test.
// VI_GOLDEN_DIR / VI_GOLDEN_PKG point it at another fixture set and package (e.g. goldens written from a random-weight package).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DualScopeParams } from '../../engine/dual-scope.js';
import type { FixtureLookup } from '../../engine/fixture-exchange.js';
import { SegmentExecutor, WholeGraphExecutor } from '../../engine/segment-executor.js';
import { SessionRunner, type OrtModule } from '../../engine/session-runner.js';
import { fileReader } from '../../engine/testing/tiny-engine.js';
import { clipLayout, segmentedCallInputs, wholeCallInputs } from '../../engine/unet-call-inputs.js';
import { SafetensorsFile } from '../safetensors.js';
import type { SegmentPlan } from '../segment-plan.js';
import { checkedFixtureExchanger, type PointCheck } from '../testing/checked-fixture-exchanger.js';
import { clipCallValues } from '../testing/clip-values.js';
import { f32, maxAbsDiff, sliceAxis } from '../testing/host-tensor.js';
import { fromOrt } from '../testing/ort-runner.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
const goldenDir = process.env.VI_GOLDEN_DIR ?? join(root, 'training', 'golden');
const pkg = process.env.VI_GOLDEN_PKG ?? join(root, 'public', 'models', 'vi-shapes-tiny');
const TOL = 1e-4;

describe('text encoder golden', () => {
  it('matches PyTorch last_hidden_state', async () => {
    const fx = SafetensorsFile.parse(new Uint8Array(readFileSync(join(goldenDir, 'text_encoder.safetensors'))));
    const s = await ort.InferenceSession.create(join(pkg, 'onnx', 'text_encoder.onnx'));
    const out = await s.run({ input_ids: new ort.Tensor('int64', fx.int64('input_ids'), fx.entry('input_ids').shape) });
    const diff = maxAbsDiff(await fromOrt(out.last_hidden_state as never), f32(fx.float32('last_hidden_state'), [...fx.entry('last_hidden_state').shape]));
    console.log(`text encoder vs PyTorch: max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(TOL);
  });
});


describe('UNet call golden', () => {
  let meta: { timestep: number; fps: number; p: number; top_k: number; t_phase: number; phase_bias: number };
  let fx: SafetensorsFile;
  let params: DualScopeParams;
  let plan: SegmentPlan;
  let runner: SessionRunner;
  let N: number;
  const get = (n: string) => f32(fx.float32(n), [...fx.entry(n).shape]);

  beforeAll(() => {
    meta = JSON.parse(readFileSync(join(goldenDir, 'unet_call.json'), 'utf8'));
    fx = SafetensorsFile.parse(new Uint8Array(readFileSync(join(goldenDir, 'unet_call.safetensors'))), 'unet_call.safetensors');
    params = { window: meta.p, topK: meta.top_k, phaseTimestep: meta.t_phase, phaseBias: meta.phase_bias };
    plan = JSON.parse(readFileSync(join(pkg, 'onnx', 'segment-plan.json'), 'utf8'));
    runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
    N = fx.entry('sample').shape[2]!;
  });

  it('whole-graph UNet (WholeGraphExecutor) matches noise_pred', async () => {
    const whole = await WholeGraphExecutor.load(runner, plan, fileReader(pkg));
    const inputs = wholeCallInputs(plan, N, params, clipCallValues(get('sample'), get('encoder_hidden_states'), { start: 0, end: N }, meta.timestep, meta.fps));
    expect([...fx.int64('global_frame_indices')].map(Number)).toEqual([...(inputs.global_frame_indices!.data as BigInt64Array)].map(Number));
    const out = await whole.call(inputs);
    const diff = maxAbsDiff(f32(out.noisePred, [...fx.entry('noise_pred').shape]), get('noise_pred'));
    console.log(`whole UNet vs PyTorch: max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(TOL);
  });

  it('segments (SegmentExecutor) with fixture exchanges match noise_pred and send what the fixture holds, for a start, a middle and an end clip', async () => {
    const segments = await SegmentExecutor.load(runner, plan, fileReader(pkg));
    const lookup: FixtureLookup = (name) => (fx.has(name) ? (name.endsWith('/mean') || name.endsWith('/var') ? fx.float64(name) : fx.float32(name)) : undefined);
    for (const [start, end] of [[0, 12], [12, 28], [28, N]] as const) {
      const layout = clipLayout({ start, end }, N, params, plan.tconvHalo);
      const checks: PointCheck[] = [];
      const inputs = segmentedCallInputs(plan, layout, clipCallValues(get('sample'), get('encoder_hidden_states'), layout.range, meta.timestep, meta.fps));
      const out = await segments.call(inputs, checkedFixtureExchanger(layout, plan, fx, lookup, checks), 0);
      const want = sliceAxis(get('noise_pred'), 2, start, end);
      const diff = maxAbsDiff(f32(out.noisePred, want.dims), want);
      expect(checks.map((c) => c.id)).toEqual(plan.exchangePoints.map((p) => p.id));
      const worst = checks.filter((c) => !Number.isNaN(c.sendDiff)).reduce((a, c) => (c.sendDiff > a.sendDiff ? c : a));
      console.log(`clip [${start}, ${end}) vs PyTorch: max abs diff ${diff.toExponential(2)}; worst sent tensor ${worst.id} ${worst.sendDiff.toExponential(2)}`);
      for (const c of checks) if (!Number.isNaN(c.sendDiff)) expect(c.sendDiff, `sent at ${c.id}`).toBeLessThanOrEqual(TOL);
      expect(diff).toBeLessThanOrEqual(TOL);
    }
  });
});
