// Browser side of scripts/bench-load-real.ts, bundled with esbuild; onnxruntime-web is the page's
// window.ort (e2e/model-fixtures/harness-server.ts). Loads a package's UNet through the engine's own
// executors (SessionRunner, WholeGraphExecutor or SegmentExecutor: each session is given the shards
// its graph points into, each read once and let go after the last session that needs it; with
// `allShards`, the plan's per-graph lists are dropped, so every session gets every shard and all are
// held for the whole load, as before they existed) and, for the whole graph, runs one call on F
// frames of seeded inputs. Reports times and the first error as text: the caller prints it.
import { type ModelFileReader, SegmentExecutor, WholeGraphExecutor } from '../../src/engine/segment-executor.js';
import { type OrtModule, SessionRunner } from '../../src/engine/session-runner.js';
import { wholeCallInputs } from '../../src/engine/unet-call-inputs.js';
import type { SegmentPlan } from '../../src/model/segment-plan.js';

// window.ort is declared by the harness page's own script (e2e/model-fixtures/parity-harness.ts).
type PageOrt = OrtModule & { env: { wasm: { numThreads?: number } } };
const pageOrt = () => (window as unknown as { ort: PageOrt }).ort;

export interface LoadRealConfig {
  ep: 'wasm' | 'webgpu';
  pkg: string;
  graph: 'whole' | 'segments';
  frames: number;
  call: boolean;
  window: number;
  topK: number;
  /** Ignore the plan's per-graph shard lists (every session gets every shard): the comparison run. */
  allShards: boolean;
  /** Force a garbage collection after loading (needs Chromium's --js-flags=--expose-gc): a diagnostic. */
  gcAfterLoad: boolean;
}

export interface LoadRealResult {
  stage: 'loaded' | 'called' | 'failed';
  adapter?: Record<string, unknown>;
  loadMs?: number;
  callMs?: number;
  outDims?: number[];
  nonFinite?: number;
  error?: string;
  failedAt?: string;
}

async function adapterFacts(): Promise<Record<string, unknown> | undefined> {
  const a = await navigator.gpu?.requestAdapter();
  if (!a) return undefined;
  return {
    name: `${a.info.vendor} ${a.info.architecture}`, fallback: (a.info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    shaderF16: a.features.has('shader-f16'), maxBufferSize: a.limits.maxBufferSize, maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
  };
}

async function loadReal(cfg: LoadRealConfig): Promise<LoadRealResult> {
  const out: LoadRealResult = { stage: 'failed', adapter: await adapterFacts() };
  const read: ModelFileReader = async (file) => {
    const r = await fetch(`${cfg.pkg}/${file}`);
    if (!r.ok) throw new Error(`GET ${file}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  try {
    out.failedAt = 'load';
    const planned = JSON.parse(new TextDecoder().decode(await read('onnx/segment-plan.json'))) as SegmentPlan;
    const plan: SegmentPlan = !cfg.allShards ? planned : {
      ...planned,
      segments: planned.segments.map(({ shards: _all, ...s }) => s),
      whole: (({ shards: _all, ...w }) => w)(planned.whole),
    };
    pageOrt().env.wasm.numThreads = 2;
    const runner = new SessionRunner(pageOrt(), { executionProviders: [cfg.ep], sessionOptions: { graphOptimizationLevel: 'all' } });
    const t0 = performance.now();
    const whole = cfg.graph === 'whole' ? await WholeGraphExecutor.load(runner, plan, read) : undefined;
    if (cfg.graph === 'segments') await SegmentExecutor.load(runner, plan, read);
    out.loadMs = performance.now() - t0;
    // Diagnostic: the shards the renderer let go are freed only when V8 collects them.
    if (cfg.gcAfterLoad) (globalThis as unknown as { gc?: () => void }).gc?.();
    out.stage = 'loaded';
    (window as unknown as { loadRealStage?: string }).loadRealStage = 'loaded'; // the script samples memory here
    if (!cfg.call || !whole) return { ...out, failedAt: undefined };
    out.failedAt = 'call';
    const { channels: C, height: H, width: W } = plan.latent;
    const B = plan.batch;
    const F = cfg.frames;
    const ehs = plan.whole.inputs.find((i) => i.name === 'encoder_hidden_states')!.shape;
    const L = Number(ehs[1]);
    const D = Number(ehs[2]);
    const inputs = wholeCallInputs(plan, F, { window: cfg.window, topK: cfg.topK, phaseTimestep: 800, phaseBias: 10 }, {
      sample: Float32Array.from({ length: B * C * F * H * W }, (_, i) => Math.sin(i)),
      timestep: 999, fps: 24,
      encoderHiddenStates: Float32Array.from({ length: B * F * L * D }, (_, i) => 0.5 * Math.cos(i)),
    });
    const t1 = performance.now();
    const r = await whole.call(inputs);
    out.callMs = performance.now() - t1;
    out.outDims = [B, plan.latent.channels, F, H, W];
    if (r.noisePred.length !== B * C * F * H * W) throw new Error(`noise_pred has ${r.noisePred.length} values, expected ${B * C * F * H * W}`);
    out.nonFinite = r.noisePred.reduce((n, v) => n + (Number.isFinite(v) ? 0 : 1), 0);
    return { ...out, stage: 'called', failedAt: undefined };
  } catch (e) {
    return { ...out, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

(window as unknown as { loadReal: typeof loadReal }).loadReal = loadReal;
