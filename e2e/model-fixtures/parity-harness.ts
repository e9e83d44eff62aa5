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

  /**
   * Timings for scripts/bench-segments.ts: one UNet call of the middle rank of three (interior halos on
   * both sides), per segment session.run wall time (median over repeats, warm-up excluded); the whole
   * graph on the same F frames; and an Identity graph's run time as the fixed cost of one session.run.
   */
  async bench(cfg: { ep: 'wasm' | 'webgpu'; pkg: string; frames: number; repeats: number; ds: DualScope; emptyModel: string }) {
    const ort = window.ort;
    const T = ort.Tensor;
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const F = cfg.frames;
    const N = 3 * F;
    const B = plan.batch;
    const { channels: C, height: H, width: W } = plan.latent;
    const sample = f32(Float32Array.from({ length: B * C * N * H * W }, (_, i) => Math.sin(i)), [B, C, N, H, W]);
    const ehs = f32(Float32Array.from({ length: B * N * 16 * 64 }, (_, i) => Math.cos(i) * 0.5), [B * N, 16, 64]);
    const sessions: InferenceSession[] = [];
    for (const s of plan.segments) {
      const keep = s.outputs.filter((o) => o.role === 'keep').map((o) => o.name);
      sessions.push(await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${s.file}`), sessionOptions(cfg.ep, keep)));
    }
    const geos = [0, 1, 2].map((r) => clipGeometry(r * F, (r + 1) * F, N, cfg.ds));
    const inputs = geos.map((g) => clipCallInputs(plan, g, cfg.ds, 500, 8, sample, ehs));
    const perSegment: number[][] = plan.segments.map(() => []);
    const readMs: number[] = [];
    for (let rep = 0; rep <= cfg.repeats; rep++) {
      const runner = new OrtSegmentRunner(T, sessions);
      let readTotal = 0;
      const timedRead = async (t: Parameters<typeof runner.read>[0]) => {
        const t0 = performance.now();
        const h = await runner.read(t);
        readTotal += performance.now() - t0;
        return h;
      };
      await runSegmentedCall(plan, { run: runner.run.bind(runner), read: timedRead, release: runner.release.bind(runner) }, inputs, multiRankExchange(plan, geos, cfg.ds));
      if (rep === 0) continue; // warm-up (WebGPU compiles its pipelines on the first run)
      runner.timings.forEach((t, i) => perSegment[i].push(t[1])); // runs per segment: ranks 0, 1, 2 -> the middle one
      readMs.push(readTotal / 3);
    }
    const whole = await ort.InferenceSession.create(await bytes(`${cfg.pkg}/${plan.whole.file}`), sessionOptions(cfg.ep));
    const wf = wholeCallInputs(cfg.ds, F, 500, 8, sliceAxis(sample, 2, 0, F), sliceAxis(ehs, 0, 0, B * F));
    const wholeFeeds = Object.fromEntries(Object.entries(wf).map(([k, v]) => [k, toOrt(T, v)]));
    const wholeMs: number[] = [];
    for (let rep = 0; rep <= cfg.repeats; rep++) {
      const t0 = performance.now();
      await fromOrt((await whole.run(wholeFeeds)).noise_pred);
      if (rep > 0) wholeMs.push(performance.now() - t0);
    }
    const empty = await ort.InferenceSession.create(await bytes(cfg.emptyModel), sessionOptions(cfg.ep));
    const x = new T('float32', new Float32Array(16), [16]);
    const emptyMs: number[] = [];
    for (let rep = 0; rep <= 5 * cfg.repeats; rep++) {
      const t0 = performance.now();
      await fromOrt((await empty.run({ x })).y);
      if (rep > 0) emptyMs.push(performance.now() - t0);
    }
    return {
      perSegment, readMs, wholeMs, emptyMs,
      ops: plan.segments.map((s) => Object.values(s.opCounts).reduce((a, b) => a + b, 0)),
      sends: plan.segments.map((s) => s.exchangesAfter.join(' + ')),
    };
  },
};

window.modelParity = api;
