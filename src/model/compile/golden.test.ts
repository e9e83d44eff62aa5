// Parity with PyTorch (training/write_goldens.py fixtures, docs/exchange-points.md) on
// onnxruntime-node CPU: the text encoder, the whole-graph UNet, and single-rank segmented clips whose
// exchanges are answered from the fixture (the stand-in executor). Tolerance 1e-4 in fp32.
// The fixtures and the compiled embedded package are committed; a missing file fails the test.
// VI_GOLDEN_DIR / VI_GOLDEN_PKG point it at another fixture set and package (e.g. goldens written from a random-weight package).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../safetensors.js';
import type { SegmentPlan } from '../segment-plan.js';
import { type DualScope, clipGeometry } from '../testing/clip-inputs.js';
import { type PointCheck, fixtureExchange } from '../testing/fixture-exchange.js';
import { f32, maxAbsDiff, sliceAxis } from '../testing/host-tensor.js';
import { OrtSegmentRunner, type TensorCtor, fromOrt, toOrt } from '../testing/ort-runner.js';
import { clipCallInputs, runSegmentedCall, wholeCallInputs } from '../testing/stand-in-executor.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
const goldenDir = process.env.VI_GOLDEN_DIR ?? join(root, 'training', 'golden');
const pkg = process.env.VI_GOLDEN_PKG ?? join(root, 'public', 'models', 'vi-shapes-tiny');
const TOL = 1e-4;
const T = ort.Tensor as unknown as TensorCtor;

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
  const load = () => {
    const meta = JSON.parse(readFileSync(join(goldenDir, 'unet_call.json'), 'utf8'));
    const fx = SafetensorsFile.parse(new Uint8Array(readFileSync(join(goldenDir, 'unet_call.safetensors'))), 'unet_call.safetensors');
    const ds: DualScope = { p: meta.p, topK: meta.top_k, tPhase: meta.t_phase, b: meta.phase_bias };
    const get = (n: string) => f32(fx.float32(n), [...fx.entry(n).shape]);
    return { meta, fx, ds, get, N: fx.entry('sample').shape[2] };
  };

  it('whole-graph UNet matches noise_pred', async () => {
    const { meta, ds, get, N, fx } = load();
    expect([...fx.int64('global_frame_indices')].map(Number)).toEqual(clipGeometry(0, N, N, ds).globals);
    const s = await ort.InferenceSession.create(join(pkg, 'onnx', 'unet.onnx'));
    const feeds = wholeCallInputs(ds, N, meta.timestep, meta.fps, get('sample'), get('encoder_hidden_states'));
    const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(T, v)])));
    const diff = maxAbsDiff(await fromOrt(out.noise_pred as never), get('noise_pred'));
    console.log(`whole UNet vs PyTorch: max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(TOL);
  });

  it('segments with fixture exchanges match noise_pred for a start, a middle and an end clip', async () => {
    const { meta, fx, ds, get, N } = load();
    const plan: SegmentPlan = JSON.parse(readFileSync(join(pkg, 'onnx', 'segment-plan.json'), 'utf8'));
    const sessions = await Promise.all(plan.segments.map((s) => ort.InferenceSession.create(join(pkg, s.file), { intraOpNumThreads: 1 })));
    for (const [start, end] of [[0, 12], [12, 28], [28, N]]) {
      const geo = clipGeometry(start, end, N, ds);
      const checks: PointCheck[] = [];
      const inputs = clipCallInputs(plan, geo, ds, meta.timestep, meta.fps, get('sample'), get('encoder_hidden_states'));
      const [out] = await runSegmentedCall(plan, new OrtSegmentRunner(T, sessions), [inputs], fixtureExchange(fx, plan, geo, ds.p, checks));
      const diff = maxAbsDiff(out, sliceAxis(get('noise_pred'), 2, start, end));
      const worst = checks.filter((c) => !Number.isNaN(c.sendDiff)).reduce((a, c) => (c.sendDiff > a.sendDiff ? c : a));
      console.log(`clip [${start}, ${end}) vs PyTorch: max abs diff ${diff.toExponential(2)}; worst sent tensor ${worst.id} ${worst.sendDiff.toExponential(2)}`);
      for (const c of checks) if (!Number.isNaN(c.sendDiff)) expect(c.sendDiff, `sent at ${c.id}`).toBeLessThanOrEqual(TOL);
      expect(diff).toBeLessThanOrEqual(TOL);
    }
  });
});
