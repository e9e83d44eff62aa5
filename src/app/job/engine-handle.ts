/**
 * One engine per tab: the module Worker (engine.worker.ts) behind an EngineClient, created on first
 * use, with the model loaded once. A second package URL (or graph set) in the same tab is refused
 * (reload the tab). The backend is chosen here (backend-choice.ts), so the worker tab, the host and
 * their UIs all state the same reason when it is WASM.
 */
import { EngineClient } from '../../engine/worker/engine-client.js';
import type { PromptSchedule } from '../../engine/prompt-schedule.js';
import type { UNetCompute } from '../../engine/engine-model.js';
import type { LoadModelOut } from '../../engine/worker/protocol.js';
import type { AdapterReport } from '../protocol.js';
import { probeAdapter } from '../services/adapter-probe.js';
import { chooseBackend, describeFallback } from './backend-choice.js';

export type UnetGraph = 'segmented' | 'whole';

export interface LoadedEngine {
  readonly info: LoadModelOut;
  /** Why this tab computes on WASM, in words for the UI; undefined on WebGPU. */
  readonly fallbackReason?: string;
}

export class EngineHandle {
  private client: EngineClient | null = null;
  private loaded: { url: string; graphs: string; done: Promise<LoadedEngine> } | null = null;

  /**
   * `pinned`: providers from `?ep=` (providersFromUrl); undefined lets backend-choice.ts decide
   * from the adapter (`probe`, by default this tab's WebGPU adapter). `compute`: the UNet graph set
   * from `?compute=` (computeFromUrl); undefined lets the engine worker choose (float16 where ORT's
   * WebGPU device there has shader-f16 and the package carries the set).
   */
  constructor(
    private readonly pinned?: readonly string[],
    private readonly probe: () => Promise<AdapterReport> = probeAdapter,
    private readonly compute: string | undefined = computeFromUrl(),
  ) {}

  get engine(): EngineClient {
    this.client ??= new EngineClient(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'vi-engine' }));
    return this.client;
  }

  /**
   * The job's prompts encoded once by this tab (the host) for every rank: the text encoder loads in
   * this tab's engine worker on first use and stays. It runs on WASM unless `?ep=` pins a provider:
   * a few calls per job, and the GPU's memory stays the UNet's.
   */
  async encodePrompts(packageUrl: string, schedule: PromptSchedule): Promise<Uint8Array> {
    const { bytes } = await this.engine.encodePrompts({ packageUrl, schedule, executionProviders: this.pinned ?? ['wasm'] });
    return bytes;
  }

  /** Loads `packageUrl` with the given graphs once; later calls with the same arguments share the load. */
  load(packageUrl: string, graphs: readonly UnetGraph[]): Promise<LoadedEngine> {
    const key = [...graphs].sort().join(',');
    if (this.loaded) {
      if (this.loaded.url !== packageUrl || this.loaded.graphs !== key)
        return Promise.reject(Object.assign(new Error(`this tab already loaded ${this.loaded.url} (${this.loaded.graphs}); reload the tab to use ${packageUrl} (${key})`), { code: 'bad-state' }));
      return this.loaded.done;
    }
    const done = this.loadFresh(packageUrl, graphs);
    this.loaded = { url: packageUrl, graphs: key, done };
    done.catch(() => {
      this.client?.dispose();
      this.client = null;
      this.loaded = null; // a failed load may be retried with a fresh worker
    });
    return done;
  }

  private async loadFresh(packageUrl: string, graphs: readonly UnetGraph[]): Promise<LoadedEngine> {
    const adapter = this.pinned ? undefined : await this.probe().catch(() => undefined);
    const choice = chooseBackend(this.pinned, adapter);
    const compute = parseCompute(this.compute);
    const info = await this.engine
      .loadModel({ packageUrl, graphs, ...(choice.executionProviders && { executionProviders: choice.executionProviders }), ...(compute && { compute }) })
      .catch((e: unknown) => {
        // The page asked for a graph set the package lacks: say where the request came from.
        if (compute && (e as { code?: unknown }).code === 'invalid-argument') throw Object.assign(new Error(`?compute=${compute}: ${(e as Error).message}`), { code: 'invalid-argument' });
        throw e;
      });
    const fallbackReason = describeFallback(info, choice, adapter);
    return { info, ...(fallbackReason && { fallbackReason }) };
  }
}

/** `?ep=wasm` (or `?ep=webgpu`) on the page URL pins the engine's execution provider. */
export function providersFromUrl(search = location.search): readonly string[] | undefined {
  const ep = new URLSearchParams(search).get('ep');
  return ep === 'wasm' || ep === 'webgpu' ? [ep] : undefined;
}

/** `?compute=float16` (or `float32`) on the page URL picks the UNet graph set, for testing; the raw value (parseCompute checks it at load). */
export function computeFromUrl(search = globalThis.location?.search ?? ''): string | undefined {
  return new URLSearchParams(search).get('compute') ?? undefined;
}

/** The graph set a `?compute=` value asks for; an unknown value is refused, not ignored (the page asked for something). */
export function parseCompute(value: string | undefined): UNetCompute | undefined {
  if (value === undefined) return undefined;
  if (value === 'float16' || value === 'float32') return value;
  throw Object.assign(new Error(`?compute=${value}: float16 or float32`), { code: 'invalid-argument' });
}
