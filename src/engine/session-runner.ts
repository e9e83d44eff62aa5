/**
 * The engine's one door to ONNX Runtime (so the rest of the engine runs without ORT, concurrent runs
 * cannot collide, and the provider actually in use is recorded). Owns session creation with
 * execution-provider fallback, the single run queue, device-resident outputs and readback, and
 * run timings. Every other engine file sees only `HostTensor` (plain typed arrays) and the opaque
 * `RunnerTensor`; none of them imports the ORT API.
 *
 * The concrete ORT module (onnxruntime-node, onnxruntime-web, onnxruntime-web/webgpu) is injected
 * at construction, typed by onnxruntime-common; this file imports only types from it.
 *
 * - Providers: `executionProviders` lists what to try, in order. The first session tries each until
 *   one creates it; that provider is then pinned for every later session (one tab, one backend).
 *   Each failure is recorded (`failedAttempts`) and, if none works, the error lists them all.
 * - One queue: all `run` and device readback calls are chained, so runs never overlap (web
 *   sessions reject concurrent runs; ranks sharing a runner in one process interleave at runs).
 * - Device outputs: a session loaded with `deviceOutputs` asks for those outputs as 'gpu-buffer'
 *   when the pinned provider is WebGPU; everything else, and every output on CPU/WASM, is 'cpu'.
 * - Warm-up runs (`{ warmUp: true }`) are counted apart and left out of the timings.
 *
 * Must not import anything from src/net, src/app, peerjs or lit.
 */

import type * as Ort from 'onnxruntime-common';

/** One external-data file of a graph: its bytes, under the name the graph records. */
export interface ExternalData {
  readonly path: string;
  readonly data: Uint8Array;
}

/**
 * The external-data files a manifest lists for a graph (package paths beside the graph, e.g.
 * `onnx/vae_decoder_weights_000.bin`), read, under the file name the graph records.
 */
export function readExternalData(paths: readonly string[], file: (path: string) => Promise<Uint8Array>): Promise<ExternalData[]> {
  return Promise.all(paths.map(async (path) => ({ path: path.slice(path.lastIndexOf('/') + 1), data: await file(path) })));
}

/** The part of an ORT module the runner uses (onnxruntime-node's or -web's module namespace fits). */
export interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array | string, options?: Ort.InferenceSession.SessionOptions): Promise<Ort.InferenceSession> };
  readonly Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => Ort.Tensor;
}

/** A tensor in host memory, as the engine builds and reads them. */
export type HostTensor =
  | { readonly dtype: 'float32'; readonly dims: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'int64'; readonly dims: readonly number[]; readonly data: BigInt64Array };

export function floatTensor(data: Float32Array, dims: readonly number[]): HostTensor {
  return { dtype: 'float32', dims, data };
}

export function int64Tensor(values: readonly number[]): HostTensor {
  return { dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

/** An output of a run, possibly still on the GPU. Read it back with `runner.read`, free it with `runner.release`. */
export class RunnerTensor {
  /** @internal */
  constructor(readonly tensor: Ort.Tensor) {}
  get dims(): readonly number[] {
    return this.tensor.dims;
  }
  get onDevice(): boolean {
    return this.tensor.location !== 'cpu' && this.tensor.location !== 'cpu-pinned';
  }
}

export type RunnerState = 'idle' | 'initializing' | 'ready' | 'failed';

export interface FailedAttempt {
  readonly provider: string;
  readonly session: string;
  readonly message: string;
}

export interface RunnerTimings {
  runs: number;
  runMs: number;
  readbacks: number;
  readbackMs: number;
  warmUpRuns: number;
  warmUpMs: number;
}

export interface SessionRunnerOptions {
  /** Execution providers to try, in order (e.g. ['webgpu', 'wasm'] in a browser, ['cpu'] in Node). */
  readonly executionProviders: readonly string[];
  /** Extra session options (graphOptimizationLevel, intraOpNumThreads, …); providers are set by the runner. */
  readonly sessionOptions?: Omit<Ort.InferenceSession.SessionOptions, 'executionProviders' | 'preferredOutputLocation'>;
}

export type SessionRunnerErrorCode = 'no-provider' | 'session-failed' | 'run-failed' | 'bad-state' | 'bad-feed';

export class SessionRunnerError extends Error {
  override readonly name = 'SessionRunnerError';
  constructor(
    readonly code: SessionRunnerErrorCode,
    message: string,
    readonly attempts: readonly FailedAttempt[] = [],
  ) {
    super(message);
  }
  toData(): { code: SessionRunnerErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** A loaded model. Only the runner that loaded it can run it. */
export interface LoadedSession {
  readonly name: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Outputs that stay on the device (empty unless the provider is WebGPU). */
  readonly deviceOutputs: readonly string[];
}

const GPU_PROVIDERS = new Set(['webgpu']);

/**
 * Session options every session gets unless `sessionOptions` overrides them. A UNet call runs ~50
 * segment sessions one after another; with ORT's per-session CPU arena each session keeps the peak
 * of its own intermediates after its run, so the segmented path held the sum of all those peaks
 * (7–8× the whole graph's on the embedded model). Without the arena a session frees its
 * intermediates when its run ends and the next one reuses the process heap.
 */
export const MEMORY_DEFAULTS = Object.freeze({ enableCpuMemArena: false, enableMemPattern: false });

export class SessionRunner {
  private stateValue: RunnerState = 'idle';
  private pinned: string | null = null;
  private readonly attempts: FailedAttempt[] = [];
  private readonly sessions = new Map<LoadedSession, Ort.InferenceSession>();
  private queue: Promise<unknown> = Promise.resolve();
  private times: RunnerTimings = { runs: 0, runMs: 0, readbacks: 0, readbackMs: 0, warmUpRuns: 0, warmUpMs: 0 };

  constructor(
    private readonly ort: OrtModule,
    private readonly options: SessionRunnerOptions,
  ) {
    if (!Array.isArray(options.executionProviders) || options.executionProviders.length === 0) {
      throw new SessionRunnerError('bad-state', `SessionRunner: executionProviders must be a non-empty list, got ${JSON.stringify(options.executionProviders)}`);
    }
  }

  get state(): RunnerState {
    return this.stateValue;
  }
  /** The execution provider actually in use (null before the first session is created). */
  get provider(): string | null {
    return this.pinned;
  }
  /** Every provider that failed to create a session, in order. */
  get failedAttempts(): readonly FailedAttempt[] {
    return this.attempts;
  }
  get keepsOutputsOnDevice(): boolean {
    return this.pinned !== null && GPU_PROVIDERS.has(this.pinned);
  }

  /**
   * Creates a session. The first call resolves the provider (see the header); later calls use the
   * pinned one. `deviceOutputs` are kept on the GPU where the provider allows it. `externalData`:
   * the files the graph's initializers point into (SegmentPlan.weights), `path` as the graph names it.
   */
  async load(name: string, model: Uint8Array | string, opts: { deviceOutputs?: readonly string[]; externalData?: readonly ExternalData[] } = {}): Promise<LoadedSession> {
    if (this.stateValue === 'failed') throw new SessionRunnerError('bad-state', `SessionRunner: cannot load '${name}': no execution provider worked earlier`, this.attempts);
    const first = this.pinned === null;
    if (first && this.stateValue === 'initializing') {
      await this.queue.catch(() => undefined); // another first load is resolving the provider
      return this.load(name, model, opts);
    }
    const candidates = first ? this.options.executionProviders : [this.pinned!];
    if (first) this.stateValue = 'initializing';
    const task = this.enqueue(async () => {
      for (const provider of candidates) {
        const device = GPU_PROVIDERS.has(provider) ? (opts.deviceOutputs ?? []) : [];
        const preferredOutputLocation = Object.fromEntries(device.map((o) => [o, 'gpu-buffer' as const]));
        try {
          const session = await this.ort.InferenceSession.create(model, {
            ...MEMORY_DEFAULTS,
            ...this.options.sessionOptions,
            executionProviders: [provider],
            ...(device.length ? { preferredOutputLocation } : {}),
            ...(opts.externalData?.length ? { externalData: opts.externalData } : {}),
          });
          this.pinned = provider;
          const handle: LoadedSession = Object.freeze({ name, inputNames: [...session.inputNames], outputNames: [...session.outputNames], deviceOutputs: [...device] });
          this.sessions.set(handle, session);
          return handle;
        } catch (e) {
          this.attempts.push({ provider, session: name, message: (e as Error)?.message ?? String(e) });
        }
      }
      const tried = this.attempts.map((a) => `${a.provider} (${a.session}): ${a.message}`).join('; ');
      throw new SessionRunnerError(first ? 'no-provider' : 'session-failed', `SessionRunner: could not create session '${name}' with ${candidates.join(', ')}. Tried: ${tried}`, this.attempts);
    });
    try {
      const handle = await task;
      this.stateValue = 'ready';
      return handle;
    } catch (e) {
      if (first) this.stateValue = 'failed';
      throw e;
    }
  }

  /** Runs a session (queued: never overlaps another run). Outputs in `deviceOutputs` may stay on the GPU. */
  run(handle: LoadedSession, feeds: Readonly<Record<string, HostTensor | RunnerTensor>>, opts: { warmUp?: boolean } = {}): Promise<Record<string, RunnerTensor>> {
    const session = this.sessions.get(handle);
    if (!session) return Promise.reject(new SessionRunnerError('bad-state', `SessionRunner: session '${handle.name}' was not loaded by this runner or was released`));
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const name of session.inputNames) {
      const f = feeds[name];
      if (f === undefined) return Promise.reject(new SessionRunnerError('bad-feed', `SessionRunner: session '${handle.name}' needs input '${name}', feeds have ${Object.keys(feeds).join(', ')}`));
      ortFeeds[name] = f instanceof RunnerTensor ? f.tensor : new this.ort.Tensor(f.dtype, f.data, f.dims);
    }
    return this.enqueue(async () => {
      const t0 = performance.now();
      let out: Ort.InferenceSession.ReturnType;
      try {
        out = await session.run(ortFeeds);
      } catch (e) {
        throw new SessionRunnerError('run-failed', `SessionRunner: run of '${handle.name}' failed on ${this.pinned}: ${(e as Error)?.message ?? String(e)}`);
      }
      const ms = performance.now() - t0;
      if (opts.warmUp) {
        this.times.warmUpRuns++;
        this.times.warmUpMs += ms;
      } else {
        this.times.runs++;
        this.times.runMs += ms;
      }
      const result: Record<string, RunnerTensor> = {};
      for (const [k, v] of Object.entries(out)) result[k] = new RunnerTensor(v as Ort.Tensor);
      return result;
    });
  }

  /** Reads a float32 output back to host memory (queued when it lives on the GPU). */
  async read(t: RunnerTensor): Promise<Float32Array> {
    if (t.tensor.type !== 'float32') throw new SessionRunnerError('bad-feed', `SessionRunner: read expects a float32 tensor, got ${t.tensor.type}`);
    if (!t.onDevice) return t.tensor.data as Float32Array;
    return this.enqueue(async () => {
      const t0 = performance.now();
      const data = (await t.tensor.getData()) as Float32Array;
      this.times.readbacks++;
      this.times.readbackMs += performance.now() - t0;
      return data;
    });
  }

  /** Frees an output (GPU buffers are not garbage-collected). */
  release(t: RunnerTensor): void {
    if (t.onDevice) t.tensor.dispose();
  }

  async releaseSession(handle: LoadedSession): Promise<void> {
    const s = this.sessions.get(handle);
    if (!s) return;
    this.sessions.delete(handle);
    await this.enqueue(() => s.release());
  }

  timings(): RunnerTimings {
    return { ...this.times };
  }
  resetTimings(): void {
    this.times = { runs: 0, runMs: 0, readbacks: 0, readbackMs: 0, warmUpRuns: 0, warmUpMs: 0 };
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
