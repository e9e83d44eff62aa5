// Browser side of e2e/model-parity.spec.ts and scripts/bench-segments.ts, bundled with esbuild and
// served by the spec's own static server. onnxruntime-web is loaded by the page (window.ort); this
// file uses only the onnxruntime-common API through the test utilities in src/model/testing/.
import type { InferenceSession } from 'onnxruntime-common';
import { SafetensorsFile } from '../../src/model/safetensors.js';
import type { SegmentPlan } from '../../src/model/segment-plan.js';
import { type DualScope, clipGeometry } from '../../src/model/testing/clip-inputs.js';
import { type PointCheck, fixtureExchange } from '../../src/model/testing/fixture-exchange.js';
import { type HostTensor, f32, maxAbsDiff, sliceAxis } from '../../src/model/testing/host-tensor.js';
import { OrtSegmentRunner, type TensorCtor, fromOrt, toOrt } from '../../src/model/testing/ort-runner.js';
import { clipCallInputs, multiRankExchange, runSegmentedCall, wholeCallInputs } from '../../src/model/testing/stand-in-executor.js';

interface OrtModule {
  Tensor: TensorCtor;
  InferenceSession: { create(bytes: Uint8Array, opts: InferenceSession.SessionOptions): Promise<InferenceSession> };
  env: { logLevel?: string; wasm: { numThreads?: number } };
}
declare global {
  interface Window {
    ort: OrtModule;
    modelParity: typeof api;
  }
}

async function bytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function sessionOptions(ep: 'wasm' | 'webgpu', keepOnGpu: string[] = []): InferenceSession.SessionOptions {
  const opts: InferenceSession.SessionOptions = { executionProviders: [ep], graphOptimizationLevel: 'all' };
  if (ep === 'webgpu' && keepOnGpu.length) {
    opts.preferredOutputLocation = Object.fromEntries(keepOnGpu.map((n) => [n, 'gpu-buffer' as const]));
  }
  return opts;
}

/** Per-(clip frame range) comparison of noise_pred [B, C, N, H, W] against its [start, end) slice. */
function diffClip(out: HostTensor, ref: HostTensor, start: number, end: number): number {
  return maxAbsDiff(out, sliceAxis(ref, 2, start, end));
}

const api = {
  /** Random-model parity: text encoder, whole UNet and a segmented multi-rank call against Node ORT-CPU references. */
  async random(cfg: { ep: 'wasm' | 'webgpu'; pkg: string; ref: string; ranges: number[][]; ds: DualScope; t: number }) {
    const ort = window.ort;
    const T = ort.Tensor;
    const ref = SafetensorsFile.parse(await bytes(cfg.ref), 'ref');
    const get = (n: string) => f32(ref.float32(n), [...ref.entry(n).shape]);
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const N = ref.entry('sample').shape[2];
    const res: Record<string, number> = {};

    const te = await ort.InferenceSession.create(await bytes(`${cfg.pkg}/onnx/text_encoder.onnx`), sessionOptions(cfg.ep));
    const ids = ref.int64('input_ids');
    const teOut = await te.run({ input_ids: new T('int64', ids, ref.entry('input_ids').shape) });
    res.text_encoder = maxAbsDiff(await fromOrt(teOut.last_hidden_state), get('last_hidden_state'));

    const whole = await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${plan.whole.file}`), sessionOptions(cfg.ep));
    const feeds = wholeCallInputs(cfg.ds, N, cfg.t, 8, get('sample'), get('encoder_hidden_states'));
    const wOut = await whole.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(T, v)])));
    const wholeOut = await fromOrt(wOut.noise_pred);
    res.unet_whole = maxAbsDiff(wholeOut, get('noise_pred'));

    const sessions: InferenceSession[] = [];
    for (const s of plan.segments) {
      const keep = s.outputs.filter((o) => o.role === 'keep').map((o) => o.name);
      sessions.push(await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${s.file}`), sessionOptions(cfg.ep, keep)));
    }
    const geos = cfg.ranges.map(([s, e]) => clipGeometry(s, e, N, cfg.ds));
    const runner = new OrtSegmentRunner(T, sessions);
    const outs = await runSegmentedCall(plan, runner, geos.map((g) => clipCallInputs(plan, g, cfg.ds, cfg.t, 8, get('sample'), get('encoder_hidden_states'))), multiRankExchange(plan, geos, cfg.ds));
    res.unet_segmented = Math.max(...outs.map((o, r) => diffClip(o, get('noise_pred'), cfg.ranges[r][0], cfg.ranges[r][1])));
    return res;
  },

  /** Golden parity (training/golden): text encoder, whole UNet, and single-rank segmented clips answered from the fixture. */
  async golden(cfg: { ep: 'wasm' | 'webgpu'; pkg: string; golden: string; clips: number[][]; p: number; topK: number; tPhase: number; b: number; t: number; fps: number }) {
    const ort = window.ort;
    const T = ort.Tensor;
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const res: Record<string, number> = {};
    const te = await ort.InferenceSession.create(await bytes(`${cfg.pkg}/onnx/text_encoder.onnx`), sessionOptions(cfg.ep));
    const tfx = SafetensorsFile.parse(await bytes(`${cfg.golden}/text_encoder.safetensors`), 'text_encoder.safetensors');
    const teOut = await te.run({ input_ids: new T('int64', tfx.int64('input_ids'), tfx.entry('input_ids').shape) });
    res.text_encoder = maxAbsDiff(await fromOrt(teOut.last_hidden_state), f32(tfx.float32('last_hidden_state'), [...tfx.entry('last_hidden_state').shape]));

    const fx = SafetensorsFile.parse(await bytes(`${cfg.golden}/unet_call.safetensors`), 'unet_call.safetensors');
    const get = (n: string) => f32(fx.float32(n), [...fx.entry(n).shape]);
    const N = fx.entry('sample').shape[2];
    const ds: DualScope = { p: cfg.p, topK: cfg.topK, tPhase: cfg.tPhase, b: cfg.b };
    const whole = await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${plan.whole.file}`), sessionOptions(cfg.ep));
    const feeds = wholeCallInputs(ds, N, cfg.t, cfg.fps, get('sample'), get('encoder_hidden_states'));
    const wOut = await whole.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(T, v)])));
    res.unet_whole = maxAbsDiff(await fromOrt(wOut.noise_pred), get('noise_pred'));

    const sessions: InferenceSession[] = [];
    for (const s of plan.segments) {
      const keep = s.outputs.filter((o) => o.role === 'keep').map((o) => o.name);
      sessions.push(await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${s.file}`), sessionOptions(cfg.ep, keep)));
    }
    for (const [s, e] of cfg.clips) {
      const geo = clipGeometry(s, e, N, ds);
      const checks: PointCheck[] = [];
      const [out] = await runSegmentedCall(plan, new OrtSegmentRunner(T, sessions), [clipCallInputs(plan, geo, ds, cfg.t, cfg.fps, get('sample'), get('encoder_hidden_states'))], fixtureExchange(fx, plan, geo, cfg.p, checks));
      res[`unet_clip_${s}_${e}`] = diffClip(out, get('noise_pred'), s, e);
      res[`unet_clip_${s}_${e}_worst_send`] = Math.max(0, ...checks.map((c) => c.sendDiff).filter((d) => !Number.isNaN(d)));
    }
    return res;
  },

  /** Per-segment session.run timings for one rank's clip (scripts/bench-segments.ts). */
  async bench(cfg: { ep: 'wasm' | 'webgpu'; pkg: string; frames: number; repeats: number; ds: DualScope }) {
    const ort = window.ort;
    const T = ort.Tensor;
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const N = 3 * cfg.frames; // the middle clip of three: interior halos on both sides
    const B = plan.batch;
    const { channels: C, height: H, width: W } = plan.latent;
    const sample = f32(Float32Array.from({ length: B * C * N * H * W }, (_, i) => Math.sin(i)), [B, C, N, H, W]);
    const ehs = f32(Float32Array.from({ length: B * N * 16 * 64 }, (_, i) => Math.cos(i)), [B * N, 16, 64]);
    const sessions: InferenceSession[] = [];
    for (const s of plan.segments) {
      const keep = s.outputs.filter((o) => o.role === 'keep').map((o) => o.name);
      sessions.push(await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${s.file}`), sessionOptions(cfg.ep, keep)));
    }
    const whole = await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${plan.whole.file}`), sessionOptions(cfg.ep));
    const geos = [clipGeometry(0, cfg.frames, N, cfg.ds), clipGeometry(cfg.frames, 2 * cfg.frames, N, cfg.ds), clipGeometry(2 * cfg.frames, N, N, cfg.ds)];
    const inputs = geos.map((g) => clipCallInputs(plan, g, cfg.ds, 500, 8, sample, ehs));
    // Only the middle rank is timed: run ranks 0 and 2 through the same sessions but drop their timings.
    const calls: { segmentsMs: number[]; callMs: number }[] = [];
    for (let rep = 0; rep <= cfg.repeats; rep++) {
      const runner = new OrtSegmentRunner(T, sessions);
      const midTimes: number[] = plan.segments.map(() => 0);
      const timed = { ...runner, run: runner.run.bind(runner), read: runner.read.bind(runner), release: runner.release.bind(runner) };
      let rank = 0;
      const wrapped = {
        run: async (i: number, f: Parameters<typeof runner.run>[1]) => {
          const t0 = performance.now();
          const out = await timed.run(i, f);
          if (rank === 1) midTimes[i] += performance.now() - t0;
          rank = (rank + 1) % 3;
          return out;
        },
        read: timed.read,
        release: timed.release,
      };
      const t0 = performance.now();
      await runSegmentedCall(plan, wrapped, inputs, multiRankExchange(plan, geos, cfg.ds));
      if (rep > 0) calls.push({ segmentsMs: midTimes, callMs: performance.now() - t0 });
    }
    // Whole graph on one clip-sized video (same F) for the compute-only reference.
    const wf = wholeCallInputs(cfg.ds, cfg.frames, 500, 8, sliceAxis(sample, 2, 0, cfg.frames), sliceAxis(ehs, 0, 0, B * cfg.frames));
    const wholeFeeds = Object.fromEntries(Object.entries(wf).map(([k, v]) => [k, toOrt(T, v)]));
    await whole.run(wholeFeeds);
    const wholeMs: number[] = [];
    for (let rep = 0; rep < cfg.repeats; rep++) {
      const t0 = performance.now();
      const o = await whole.run(wholeFeeds);
      await fromOrt(o.noise_pred);
      wholeMs.push(performance.now() - t0);
    }
    // An empty-ish segment measures pure session.run overhead: the smallest segment by op count.
    return { calls, wholeMs, opCounts: plan.segments.map((s) => Object.values(s.opCounts).reduce((a, b) => a + b, 0)) };
  },
};

window.modelParity = api;
