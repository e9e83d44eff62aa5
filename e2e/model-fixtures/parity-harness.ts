// Browser side of e2e/model-parity.spec.ts and scripts/bench-segments.ts, bundled with esbuild and
// served by the spec's own static server. onnxruntime-web is loaded by the page (window.ort). The UNet
// runs through the engine's own executors, as in src/model/compile/golden.test.ts: SessionRunner,
// WholeGraphExecutor / SegmentExecutor, call inputs from unet-call-inputs.ts, and exchanges by
// ClipExchange over the in-process collective (several ranks in one page) or by the engine's
// FixtureExchanger (single-rank golden clips, every sent tensor checked against the fixture).
import type * as Ort from 'onnxruntime-common';
import { ClipExchange } from '../../src/engine/clip-exchange.js';
import type { DualScopeParams } from '../../src/engine/dual-scope.js';
import type { FixtureLookup } from '../../src/engine/fixture-exchange.js';
import { type ModelFileReader, SegmentExecutor, WholeGraphExecutor } from '../../src/engine/segment-executor.js';
import { type HostTensor as EngineTensor, type LoadedSession, type OrtModule, type RunnerTensor, SessionRunner } from '../../src/engine/session-runner.js';
import { type ClipLayout, clipLayout, segmentedCallInputs, wholeCallInputs } from '../../src/engine/unet-call-inputs.js';
import type { SegmentPlan } from '../../src/model/segment-plan.js';
import { SafetensorsFile } from '../../src/model/safetensors.js';
import { checkedFixtureExchanger, type PointCheck } from '../../src/model/testing/checked-fixture-exchanger.js';
import { clipCallValues } from '../../src/model/testing/clip-values.js';
import { type HostTensor, f32, maxAbsDiff, sliceAxis } from '../../src/model/testing/host-tensor.js';
import { fromOrt } from '../../src/model/testing/ort-runner.js';
import { createInProcessCollectives } from '../../src/net/in-process-collective.js';

type HarnessOrt = OrtModule & { env: { logLevel?: string; wasm: { numThreads?: number } } };
declare global {
  interface Window {
    ort: HarnessOrt;
    modelParity: typeof api;
  }
}

async function bytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

const packageReader = (pkg: string): ModelFileReader => (file) => bytes(`${pkg}/${file}`);

/** The engine's runner on one execution provider ('webgpu' keeps the plan's `keep` outputs on the GPU). */
function engineRunner(ort: OrtModule, ep: 'wasm' | 'webgpu'): SessionRunner {
  return new SessionRunner(ort, { executionProviders: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
}

/** Per-(clip frame range) comparison of noise_pred [B, C, N, H, W] against its [start, end) slice. */
function diffClip(out: Float32Array, ref: HostTensor, start: number, end: number): number {
  const want = sliceAxis(ref, 2, start, end);
  return maxAbsDiff(f32(out, want.dims), want);
}

/** Text encoder on raw ORT (not part of the UNet executors): max abs diff of last_hidden_state. */
async function textEncoderDiff(ort: OrtModule, ep: 'wasm' | 'webgpu', pkg: string, fx: SafetensorsFile): Promise<number> {
  const te = await ort.InferenceSession.create(await bytes(`${pkg}/onnx/text_encoder.onnx`), { executionProviders: [ep], graphOptimizationLevel: 'all' });
  const out = await te.run({ input_ids: new ort.Tensor('int64', fx.int64('input_ids'), fx.entry('input_ids').shape) });
  return maxAbsDiff(await fromOrt(out.last_hidden_state!), f32(fx.float32('last_hidden_state'), [...fx.entry('last_hidden_state').shape]));
}

/**
 * Several ranks of one job in this page: one SegmentExecutor call per clip, exchanging through
 * ClipExchange over the in-process collective (what a W-tab job does over WebRTC).
 */
function multiRankCall(segments: SegmentExecutor, plan: SegmentPlan, layouts: ClipLayout[], inputs: Record<string, EngineTensor>[]) {
  const collectives = createInProcessCollectives(layouts.length);
  return Promise.all(layouts.map((layout, r) => segments.call(inputs[r]!, new ClipExchange(collectives[r]!, layout, plan, 1), 0)));
}


/**
 * SessionRunner that records, for scripts/bench-segments.ts, the wall time of every session.run
 * (not the queue wait) by segment and rank, and the time spent reading outputs back. The rank of a
 * run is that of its feeds: call inputs are registered per rank, outputs inherit the rank of their run.
 */
class TimedRunner extends SessionRunner {
  /** runs[segment][rank]: ms of each session.run, in call order. */
  runs: number[][][] = [];
  readMs = 0;
  private readonly rankOf = new WeakMap<object, number>();
  private readonly runMs: WeakMap<object, number>;

  constructor(ort: OrtModule, ep: 'wasm' | 'webgpu') {
    // Times session.run itself; the time is found again through any output tensor of that run.
    const runMs = new WeakMap<object, number>();
    const timed: OrtModule = {
      Tensor: ort.Tensor,
      InferenceSession: {
        async create(model, options) {
          const s = await ort.InferenceSession.create(model, options);
          // The runner uses only these members of a session.
          const wrapped = {
            inputNames: s.inputNames,
            outputNames: s.outputNames,
            release: () => s.release(),
            async run(feeds: Ort.InferenceSession.FeedsType) {
              const t0 = performance.now();
              const out = await s.run(feeds);
              const ms = performance.now() - t0;
              for (const v of Object.values(out)) runMs.set(v, ms);
              return out;
            },
          };
          return wrapped as unknown as Ort.InferenceSession;
        },
      },
    };
    super(timed, { executionProviders: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
    this.runMs = runMs;
  }

  /** Registers rank r's call inputs. */
  owns(rank: number, inputs: Record<string, EngineTensor>): void {
    for (const v of Object.values(inputs)) this.rankOf.set(v, rank);
  }

  override async run(handle: LoadedSession, feeds: Readonly<Record<string, EngineTensor | RunnerTensor>>, opts: { warmUp?: boolean } = {}): Promise<Record<string, RunnerTensor>> {
    const ranks = new Set(Object.values(feeds).map((v) => this.rankOf.get(v)).filter((r) => r !== undefined));
    if (ranks.size !== 1) throw new Error(`TimedRunner: cannot tell the rank of a run of '${handle.name}' (feeds from ranks ${[...ranks].join(', ') || 'none'})`);
    const rank = [...ranks][0]!;
    const m = /^unet segment (\d+)$/.exec(handle.name);
    const out = await super.run(handle, feeds, opts);
    const first = Object.values(out)[0];
    if (m && first) {
      const seg = Number(m[1]);
      ((this.runs[seg] ??= [])[rank] ??= []).push(this.runMs.get(first.tensor) ?? NaN);
    }
    for (const v of Object.values(out)) this.rankOf.set(v, rank);
    return out;
  }

  override async read(t: RunnerTensor): Promise<Float32Array> {
    const t0 = performance.now();
    const data = await super.read(t);
    this.readMs += performance.now() - t0;
    return data;
  }
}

/**
 * An ORT module whose sessions are created with ORT's verbose log, which lists each node's execution
 * provider ("Node placements"); what the console gets while a session is created goes to `logs`
 * instead. ORT's wasm module keeps the console functions it finds when it starts (the first session),
 * so the recorder is installed before that and stays; between creations it passes lines through.
 */
function placementLoggingOrt(ort: HarnessOrt, logs: string[][]): OrtModule {
  let sink: string[] | null = null;
  for (const k of ['log', 'warn', 'error'] as const) {
    const original = console[k].bind(console);
    console[k] = (...a: unknown[]) => (sink ? void sink.push(a.map(String).join(' ')) : original(...a));
  }
  return {
    Tensor: ort.Tensor,
    InferenceSession: {
      async create(model, options) {
        const lines: string[] = [];
        sink = lines;
        try {
          return await ort.InferenceSession.create(model, { ...options, logSeverityLevel: 0, logVerbosityLevel: 0 });
        } finally {
          sink = null;
          logs.push(lines);
        }
      },
    },
  };
}

/** The nodes a verbose session log places on the CPU EP ("OpType (node name)"). */
function cpuPlacedNodes(lines: readonly string[]): string[] {
  const nodes: string[] = [];
  let onCpu = false;
  for (const line of lines) {
    const placed = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (placed) onCpu = placed[1] === 'CPUExecutionProvider';
    else if (/All nodes placed on/.test(line)) onCpu = false;
    else if (onCpu) {
      const node = /VerifyEachNodeIsAssignedToAnEp\]\s+(\S+ \(.*\))\s*$/.exec(line);
      if (node) nodes.push(node[1]!);
      else onCpu = false;
    }
  }
  return nodes;
}

const api = {
  /** Random-model parity: text encoder, whole UNet and a segmented multi-rank call against Node ORT-CPU references. */
  async random(cfg: { ep: 'wasm' | 'webgpu'; pkg: string; ref: string; ranges: number[][]; params: DualScopeParams; t: number }) {
    const ort = window.ort;
    const ref = SafetensorsFile.parse(await bytes(cfg.ref), 'ref');
    const get = (n: string) => f32(ref.float32(n), [...ref.entry(n).shape]);
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const N = ref.entry('sample').shape[2]!;
    const res: Record<string, number> = {};
    res.text_encoder = await textEncoderDiff(ort, cfg.ep, cfg.pkg, ref);

    const runner = engineRunner(ort, cfg.ep);
    const whole = await WholeGraphExecutor.load(runner, plan, packageReader(cfg.pkg));
    const wOut = await whole.call(wholeCallInputs(plan, N, cfg.params, clipCallValues(get('sample'), get('encoder_hidden_states'), { start: 0, end: N }, cfg.t, 8)));
    res.unet_whole = diffClip(wOut.noisePred, get('noise_pred'), 0, N);

    const segments = await SegmentExecutor.load(runner, plan, packageReader(cfg.pkg));
    const layouts = cfg.ranges.map(([s, e]) => clipLayout({ start: s!, end: e! }, N, cfg.params, plan.tconvHalo));
    const inputs = layouts.map((l) => segmentedCallInputs(plan, l, clipCallValues(get('sample'), get('encoder_hidden_states'), l.range, cfg.t, 8)));
    const outs = await multiRankCall(segments, plan, layouts, inputs);
    res.unet_segmented = Math.max(...outs.map((o, r) => diffClip(o.noisePred, get('noise_pred'), cfg.ranges[r]![0]!, cfg.ranges[r]![1]!)));
    return res;
  },

  /**
   * WebGPU node placement of a package's UNet graphs (every segment and the whole graph, created by
   * the engine's executors): per session that leaves nodes to the CPU EP, those nodes. Must run before
   * any other session of the page, so that ORT's log is set up verbose.
   */
  async cpuNodes(cfg: { pkg: string; extra: string[] }) {
    const ort = window.ort;
    ort.env.logLevel = 'verbose';
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const logs: string[][] = [];
    const runner = new SessionRunner(placementLoggingOrt(ort, logs), { executionProviders: ['webgpu'], sessionOptions: { graphOptimizationLevel: 'all' } });
    const names = [...plan.segments.map((s) => s.file), plan.whole.file, ...cfg.extra];
    await SegmentExecutor.load(runner, plan, packageReader(cfg.pkg));
    await WholeGraphExecutor.load(runner, plan, packageReader(cfg.pkg));
    for (const url of cfg.extra) await runner.load(url, await bytes(url));
    if (logs.length !== names.length) throw new Error(`cpuNodes: ${logs.length} sessions created for ${names.length} graphs`);
    const silent = names.filter((_, i) => !logs[i]!.some((x) => /Node placements/.test(x)));
    if (silent.length) throw new Error(`cpuNodes: no node placements logged for ${silent.join(', ')} (lines: ${logs.map((l) => l.length).join(' ')}; first: ${JSON.stringify(logs[0]!.slice(0, 3))})`);
    const res: Record<string, string[]> = {};
    logs.forEach((l, i) => {
      const cpu = cpuPlacedNodes(l);
      if (cpu.length) res[names[i]!] = cpu;
    });
    return res;
  },

  /** Golden parity (training/golden): text encoder, whole UNet, and single-rank segmented clips answered from the fixture. */
  async golden(cfg: { ep: 'wasm' | 'webgpu'; pkg: string; golden: string; clips: number[][]; p: number; topK: number; tPhase: number; b: number; t: number; fps: number }) {
    const ort = window.ort;
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const res: Record<string, number> = {};
    const tfx = SafetensorsFile.parse(await bytes(`${cfg.golden}/text_encoder.safetensors`), 'text_encoder.safetensors');
    res.text_encoder = await textEncoderDiff(ort, cfg.ep, cfg.pkg, tfx);

    const fx = SafetensorsFile.parse(await bytes(`${cfg.golden}/unet_call.safetensors`), 'unet_call.safetensors');
    const get = (n: string) => f32(fx.float32(n), [...fx.entry(n).shape]);
    const N = fx.entry('sample').shape[2]!;
    const params: DualScopeParams = { window: cfg.p, topK: cfg.topK, phaseTimestep: cfg.tPhase, phaseBias: cfg.b };
    const runner = engineRunner(ort, cfg.ep);
    const whole = await WholeGraphExecutor.load(runner, plan, packageReader(cfg.pkg));
    const wholeInputs = wholeCallInputs(plan, N, params, clipCallValues(get('sample'), get('encoder_hidden_states'), { start: 0, end: N }, cfg.t, cfg.fps));
    const fed = [...(wholeInputs.global_frame_indices!.data as BigInt64Array)].map(Number);
    const want = [...fx.int64('global_frame_indices')].map(Number);
    if (JSON.stringify(fed) !== JSON.stringify(want)) throw new Error(`global_frame_indices: the engine feeds ${JSON.stringify(fed)}, the fixture has ${JSON.stringify(want)}`);
    res.unet_whole = diffClip((await whole.call(wholeInputs)).noisePred, get('noise_pred'), 0, N);

    const segments = await SegmentExecutor.load(runner, plan, packageReader(cfg.pkg));
    const lookup: FixtureLookup = (name) => (fx.has(name) ? (name.endsWith('/mean') || name.endsWith('/var') ? fx.float64(name) : fx.float32(name)) : undefined);
    for (const [s, e] of cfg.clips) {
      const layout = clipLayout({ start: s!, end: e! }, N, params, plan.tconvHalo);
      const checks: PointCheck[] = [];
      const inputs = segmentedCallInputs(plan, layout, clipCallValues(get('sample'), get('encoder_hidden_states'), layout.range, cfg.t, cfg.fps));
      const out = await segments.call(inputs, checkedFixtureExchanger(layout, plan, fx, lookup, checks), 0);
      const visited = checks.map((c) => c.id).join(',');
      if (visited !== plan.exchangePoints.map((p) => p.id).join(',')) throw new Error(`clip [${s}, ${e}): exchange points visited out of plan order: ${visited}`);
      res[`unet_clip_${s}_${e}`] = diffClip(out.noisePred, get('noise_pred'), s!, e!);
      res[`unet_clip_${s}_${e}_worst_send`] = Math.max(0, ...checks.map((c) => c.sendDiff).filter((d) => !Number.isNaN(d)));
    }
    return res;
  },

  /**
   * Timings for scripts/bench-segments.ts: one UNet call of three ranks (ClipExchange over the
   * in-process collective) timed for the middle rank (interior halos on both sides), per segment
   * session.run wall time (median over repeats, warm-up excluded); the whole graph on the same F
   * frames; and an Identity graph's run time as the fixed cost of one session.run.
   */
  async bench(cfg: { ep: 'wasm' | 'webgpu'; pkg: string; frames: number; repeats: number; params: DualScopeParams; emptyModel: string }) {
    const ort = window.ort;
    const plan: SegmentPlan = JSON.parse(new TextDecoder().decode(await bytes(`${cfg.pkg}/onnx/segment-plan.json`)));
    const F = cfg.frames;
    const N = 3 * F;
    const B = plan.batch;
    const { channels: C, height: H, width: W } = plan.latent;
    const sample = f32(Float32Array.from({ length: B * C * N * H * W }, (_, i) => Math.sin(i)), [B, C, N, H, W]);
    const ehs = f32(Float32Array.from({ length: B * N * 16 * 64 }, (_, i) => Math.cos(i) * 0.5), [B * N, 16, 64]);
    const runner = new TimedRunner(ort, cfg.ep);
    const segments = await SegmentExecutor.load(runner, plan, packageReader(cfg.pkg));
    const layouts = [0, 1, 2].map((r) => clipLayout({ start: r * F, end: (r + 1) * F }, N, cfg.params, plan.tconvHalo));
    const inputs = layouts.map((l) => segmentedCallInputs(plan, l, clipCallValues(sample, ehs, l.range, 500, 8)));
    inputs.forEach((x, r) => runner.owns(r, x));
    const perSegment: number[][] = plan.segments.map(() => []);
    const readMs: number[] = [];
    for (let rep = 0; rep <= cfg.repeats; rep++) {
      runner.runs = [];
      runner.readMs = 0;
      await multiRankCall(segments, plan, layouts, inputs);
      if (rep === 0) continue; // warm-up (WebGPU compiles its pipelines on the first run)
      plan.segments.forEach((s) => perSegment[s.index]!.push(runner.runs[s.index]![1]![0]!)); // the middle rank
      readMs.push(runner.readMs / 3);
    }
    const whole = await WholeGraphExecutor.load(engineRunner(ort, cfg.ep), plan, packageReader(cfg.pkg));
    const wholeInputs = wholeCallInputs(plan, F, cfg.params, clipCallValues(sliceAxis(sample, 2, 0, F), sliceAxis(ehs, 0, 0, B * F), { start: 0, end: F }, 500, 8));
    const wholeMs: number[] = [];
    for (let rep = 0; rep <= cfg.repeats; rep++) {
      const t0 = performance.now();
      await whole.call(wholeInputs);
      if (rep > 0) wholeMs.push(performance.now() - t0);
    }
    const empty = await ort.InferenceSession.create(await bytes(cfg.emptyModel), { executionProviders: [cfg.ep], graphOptimizationLevel: 'all' });
    const x = new ort.Tensor('float32', new Float32Array(16), [16]);
    const emptyMs: number[] = [];
    for (let rep = 0; rep <= 5 * cfg.repeats; rep++) {
      const t0 = performance.now();
      await fromOrt((await empty.run({ x })).y!);
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
