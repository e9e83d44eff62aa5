/**
 * The engine inside its module Worker: owns the `SessionRunner` (every ONNX session of the tab),
 * the loaded `EngineModel`, and at most one render at a time (ORT, its run queue and the tensor maths
 * stay off the UI thread, and concurrent session runs cannot collide). The worker
 * entry (src/app/job/engine.worker.ts) injects the ORT module and the package reader, so this file
 * imports engine code only; the network arrives through `CollectiveProxy`.
 *
 * The UNet graph set (float32 or float16 compute) is chosen here, where ORT creates its WebGPU
 * device: float16 when WebGPU is asked for first and this worker's adapter has shader-f16
 * (adapter-features.ts), or as LoadModelIn.compute says; only that set is downloaded.
 *
 * Lifecycle: idle → loading → ready (or failed); a second load while loading, or a render before
 * ready, is an error answer (code 'bad-state'), never a crash. A speed measurement needs a ready
 * engine and no render running (it would time the render, and delay it); a render that arrives
 * during a measurement simply queues behind it in the runner.
 */
import { denoise, type ClipResult } from '../denoise.js';
import { chooseUNetCompute, loadBranchModel, loadEngineModel, loadPromptEncoder, type EngineModel, type UNetCompute } from '../engine-model.js';
import { splitPlace } from '../guidance-split.js';
import { EngineError } from '../errors.js';
import { parseManifest, runtimeFiles, type ModelManifest } from '../../model/manifest.js';
import { encodeSchedulePrompts, parsePromptEmbeddings, serializePromptEmbeddings, type PromptEncoder } from '../prompt-embeddings.js';
import { decodeClipState, encodeClipState, type ClipState } from '../job-state.js';
import type { ModelFileReader } from '../segment-executor.js';
import { SessionRunner, type OrtModule } from '../session-runner.js';
import { CollectiveProxy } from './collective-proxy.js';
import { toErrorData, type EngineEvent, type EngineRequests, type EncodePromptsIn, type EncodePromptsOut, type LoadModelIn, type LoadModelOut, type MainToWorker, type MeasureSpeedIn, type MeasureSpeedOut, type PortLike, type RenderIn, type RenderOut } from './protocol.js';
import { measureUnetSpeed } from './speed-benchmark.js';
import { adapterHasShaderF16 } from './adapter-features.js';
import { shortestClip } from '../partition.js';

export interface PackageReader {
  /**
   * Reads verified files of the package at `url` (sha256 checked by the reader): those `files`
   * picks from its manifest (runtimeFiles of the part the worker runs), and nothing else.
   */
  open(url: string, files: (manifest: ModelManifest) => readonly string[], onProgress: (loadedBytes: number, totalBytes: number, file: string) => void): Promise<{
    read: ModelFileReader;
    cachedFiles: number;
    fetchedFiles: number;
    warnings: readonly string[];
  }>;
}

export interface EngineWorkerDeps {
  readonly ort: OrtModule;
  readonly packages: PackageReader;
  /** Extra session options (e.g. wasm threads off). */
  readonly sessionOptions?: ConstructorParameters<typeof SessionRunner>[1]['sessionOptions'];
  /** Whether ORT's WebGPU device in this worker will have shader-f16 (default: this worker's adapter, adapter-features.ts). */
  readonly shaderF16?: () => Promise<boolean>;
}

const DEFAULT_PROVIDERS: readonly string[] = ['webgpu', 'wasm'];

type EngineState = 'idle' | 'loading' | 'ready' | 'failed';

class StateError extends Error {
  readonly code = 'bad-state';
}

export class EngineWorker {
  private state: EngineState = 'idle';
  private model: EngineModel | null = null;
  private render: { abort: AbortController; proxy: CollectiveProxy | null } | null = null;
  /**
   * Graphs that have already run in this worker (the join-time speed benchmark or a render): their
   * kernels and shaders exist, so a render's warm-up call would only cost time (~50 s per tab on
   * WebGPU/SwiftShader). Kernels do not depend on the clip length (speed-benchmark.ts).
   */
  private readonly warmGraphs = new Set<'segmented' | 'whole' | 'branch'>();
  /** The package's reader, for graphs loaded after the model (a guidance split's batch-1 set). */
  private read: ModelFileReader | null = null;
  /** The batch-1 model of guidance-split jobs, loaded on the first one. */
  private branchModel: Promise<EngineModel> | null = null;
  /**
   * Session creations run one at a time: ORT-web mounts a session's external data in one global
   * table while it creates the session and clears it after, so a text encoder created during the
   * UNet's load made the UNet fail ("Module.MountedFiles is not available").
   */
  private creating: Promise<unknown> = Promise.resolve();
  /** Text encoders by package URL (the host's; ranks get embeddings instead). */
  private readonly promptEncoders = new Map<string, Promise<{ encode: PromptEncoder; length: number; width: number }>>();

  constructor(
    private readonly port: PortLike,
    private readonly deps: EngineWorkerDeps,
  ) {
    port.addEventListener('message', (e: MessageEvent) => this.onMessage(e.data as MainToWorker));
  }

  private onMessage(m: MainToWorker): void {
    if (m.kind !== 'request') {
      this.render?.proxy?.accept(m);
      return;
    }
    const answer = (p: Promise<unknown>, transfer: (out: unknown) => Transferable[] = () => []) =>
      void p.then(
        (out) => this.port.postMessage({ kind: 'result', id: m.id, out }, transfer(out)),
        (e: unknown) => this.port.postMessage({ kind: 'error', id: m.id, error: toErrorData(e) }),
      );
    switch (m.type) {
      case 'load-model':
        return answer(this.loadModel(m.in));
      case 'render':
        return answer(this.renderClip(m.in), (out) => ((out as RenderOut).frames ? [(out as RenderOut).frames!.data.buffer as ArrayBuffer] : []));
      case 'measure-speed':
        return answer(this.measureSpeed(m.in));
      case 'encode-prompts':
        return answer(this.encodePrompts(m.in), (out) => [(out as EncodePromptsOut).bytes.buffer as ArrayBuffer]);
      case 'cancel': {
        const r = this.render;
        r?.abort.abort(Object.assign(new Error(`render cancelled: ${m.in.reason}`), { code: 'aborted' }));
        r?.proxy?.close(m.in.reason);
        return answer(Promise.resolve<EngineRequests['cancel']['out']>({ cancelled: r !== null }));
      }
    }
  }

  private event(event: EngineEvent, transfer: Transferable[] = []): void {
    this.port.postMessage({ kind: 'event', event }, transfer);
  }

  private async loadModel(input: LoadModelIn): Promise<LoadModelOut> {
    if (this.state === 'loading' || this.state === 'ready') throw new StateError(`load-model: the engine is already ${this.state}`);
    this.state = 'loading';
    const t0 = performance.now();
    try {
      const providers = input.executionProviders ?? DEFAULT_PROVIDERS;
      // The graph set is chosen before the first session exists, so by the provider asked for first:
      // should WebGPU then fail, the float16 graphs run on WASM (correct, slower; LoadModelOut says so).
      const shaderF16 = providers[0] === 'webgpu' ? await (this.deps.shaderF16 ?? adapterHasShaderF16)() : null;
      let compute: UNetCompute = 'float32';
      const pkg = await this.deps.packages.open(
        input.packageUrl,
        (manifest) => runtimeFiles(manifest, 'compute', (compute = pickCompute(manifest, input.compute, providers[0] ?? null, shaderF16 ?? false))),
        (loadedBytes, totalBytes, file) => this.event({ type: 'load-progress', loadedBytes, totalBytes, file }),
      );
      const runner = new SessionRunner(this.deps.ort, { executionProviders: providers, sessionOptions: this.deps.sessionOptions });
      // The reader verified every file's sha256 already. Prompts come encoded from the host.
      const model = await this.oneCreationAtATime(() => loadEngineModel(runner, pkg.read, { graphs: input.graphs, verify: false, textEncoder: false, compute }));
      this.model = model;
      this.read = pkg.read;
      this.state = 'ready';
      const f = model.geometry.factor;
      return {
        name: model.manifest.name,
        version: model.manifest.version,
        provider: runner.provider ?? 'none',
        failedProviders: runner.failedAttempts.map((a) => ({ provider: a.provider, message: a.message })),
        compute,
        shaderF16,
        loadMs: performance.now() - t0,
        cachedFiles: pkg.cachedFiles,
        fetchedFiles: pkg.fetchedFiles,
        cacheWarnings: pkg.warnings,
        defaults: { ...model.manifest.defaults },
        frameRate: model.manifest.frame_rate,
        frameSize: { width: model.geometry.width * f, height: model.geometry.height * f },
        minClipFrames: shortestClip(model.manifest.defaults.local_window_p, model.plan.tconvHalo),
      };
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  /** Encodes a job's prompts with the package's text encoder, loaded on first use and kept per package. */
  private async encodePrompts(input: EncodePromptsIn): Promise<EncodePromptsOut> {
    let encoder = this.promptEncoders.get(input.packageUrl);
    if (!encoder) {
      encoder = this.loadPromptEncoder(input);
      this.promptEncoders.set(input.packageUrl, encoder);
      encoder.catch(() => this.promptEncoders.delete(input.packageUrl)); // a failed load may be retried
    }
    const { encode, length, width } = await encoder;
    return { bytes: serializePromptEmbeddings(await encodeSchedulePrompts(encode, input.schedule, length, width)) };
  }

  private async loadPromptEncoder(input: EncodePromptsIn): Promise<{ encode: PromptEncoder; length: number; width: number }> {
    const pkg = await this.deps.packages.open(input.packageUrl, (m) => runtimeFiles(m, 'text-encoder'), () => undefined);
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await pkg.read('manifest.json'))));
    const runner = new SessionRunner(this.deps.ort, { executionProviders: input.executionProviders ?? DEFAULT_PROVIDERS, sessionOptions: this.deps.sessionOptions });
    const encode = await this.oneCreationAtATime(() => loadPromptEncoder(runner, manifest, pkg.read));
    return { encode, length: manifest.text_encoder.max_length, width: manifest.text_encoder.hidden_size };
  }

  private oneCreationAtATime<T>(create: () => Promise<T>): Promise<T> {
    const run = this.creating.then(create, create);
    this.creating = run.catch(() => undefined);
    return run;
  }

  private async measureSpeed(input: MeasureSpeedIn): Promise<MeasureSpeedOut> {
    const model = this.model;
    if (this.state !== 'ready' || !model) throw new StateError(`measure-speed: the engine is ${this.state}; load a model first`);
    if (this.render) throw new StateError('measure-speed: a render is running in this tab');
    const speed = await measureUnetSpeed(model, input.frames);
    this.warmGraphs.add(speed.graph);
    return speed;
  }

  /** The batch-1 graphs for guidance-split jobs: loaded once, on the first (sessions one at a time, as always). */
  private branchGraphs(model: EngineModel): Promise<EngineModel> {
    const read = this.read!;
    this.branchModel ??= this.oneCreationAtATime(() => loadBranchModel(model, read));
    this.branchModel.catch(() => (this.branchModel = null)); // a failed load may be retried
    return this.branchModel;
  }

  private async renderClip(input: RenderIn): Promise<RenderOut> {
    const base = this.model;
    if (this.state !== 'ready' || !base) throw new StateError(`render: the engine is ${this.state}; load a model first`);
    if (this.render) throw new StateError('render: a render is already running in this tab');
    const abort = new AbortController();
    const proxy = input.mode === 'collective' ? new CollectiveProxy(this.port, input.rank, input.worldSize) : null;
    this.render = { abort, proxy };
    const t0 = performance.now();
    const warm0 = base.runner.timings().warmUpMs;
    let graph: 'segmented' | 'whole' | 'branch' = input.mode === 'alone' ? 'whole' : 'segmented';
    try {
      // Inside the try: a bad placement (an odd world) must not leave this.render set.
      const split = input.job.cfgSplit === true && input.mode === 'collective' ? splitPlace(input.rank, input.worldSize) : null;
      if (split) graph = 'branch';
      const model = split ? await this.branchGraphs(base) : base;
      const job = input.mode === 'alone' ? { ...input.job, partition: null } : input.job;
      const { channels, height, width } = model.geometry;
      const result: ClipResult = await denoise(model, job, proxy, {
        graph: graph === 'whole' ? 'whole' : 'segmented',
        ...(input.resume && { resume: decodeClipState(input.resume, job, channels * height * width) }),
        promptEmbeddings: parsePromptEmbeddings(input.promptEmbeddings, { length: model.manifest.text_encoder.max_length, width: model.manifest.text_encoder.hidden_size }),
        ...(input.checkpoints && {
          onCheckpoint: (state: ClipState) => {
            const bytes = encodeClipState(state);
            this.event({ type: 'checkpoint', rank: input.rank, nextStep: state.nextStep, bytes }, [bytes.buffer as ArrayBuffer]);
          },
        }),
        warmUp: input.warmUp && !this.warmGraphs.has(graph),
        decode: split === null || split.branch === 0,
        previewMaxFrames: input.previewMaxFrames ?? 4,
        signal: abort.signal,
        onProgress: (progress) => this.event({ type: 'progress', progress }),
      });
      if (result.state.nextStep !== job.steps) throw new StateError('render: the clip stopped before its last step');
      this.warmGraphs.add(graph);
      return { rank: result.rank, range: result.range, frames: result.frames, renderMs: performance.now() - t0, warmUpMs: model.runner.timings().warmUpMs - warm0 };
    } finally {
      proxy?.close('render finished');
      this.render = null;
    }
  }
}

/** The graph set a tab runs: the one asked for (refused when the package lacks it), else chooseUNetCompute's. */
export function pickCompute(manifest: ModelManifest, asked: UNetCompute | undefined, provider: string | null, shaderF16: boolean): UNetCompute {
  if (asked !== undefined && asked !== 'float32' && asked !== 'float16') throw new EngineError('invalid-argument', `compute ${JSON.stringify(asked)}: float32 or float16`);
  if (asked === 'float16' && !manifest.unet.float16_compute) {
    throw new EngineError('invalid-argument', `float16 compute was asked for, but ${manifest.name} has no float16-compute graphs (compile it with --precision fp16)`);
  }
  return asked ?? chooseUNetCompute(manifest, provider, shaderF16);
}
