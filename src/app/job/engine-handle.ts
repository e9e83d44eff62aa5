/**
 * One engine per tab: the module Worker (engine.worker.ts) behind an EngineClient, created on first
 * use, with the model loaded once. A second package URL in the same tab is refused (reload the tab).
 */
import { EngineClient } from '../../engine/worker/engine-client.js';
import type { LoadModelOut } from '../../engine/worker/protocol.js';

export class EngineHandle {
  private client: EngineClient | null = null;
  private loaded: { url: string; graphs: string; info: Promise<LoadModelOut> } | null = null;

  /** `executionProviders`: default ['webgpu', 'wasm']; `?ep=wasm` on the page forces WASM (providersFromUrl). */
  constructor(private readonly executionProviders?: readonly string[]) {}

  get engine(): EngineClient {
    this.client ??= new EngineClient(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'vi-engine' }));
    return this.client;
  }

  /** Loads `packageUrl` with the given graphs once; later calls with the same arguments share the load. */
  load(packageUrl: string, graphs: readonly ('segmented' | 'whole')[]): Promise<LoadModelOut> {
    const key = [...graphs].sort().join(',');
    if (this.loaded) {
      if (this.loaded.url !== packageUrl || this.loaded.graphs !== key)
        return Promise.reject(Object.assign(new Error(`this tab already loaded ${this.loaded.url} (${this.loaded.graphs}); reload the tab to use ${packageUrl} (${key})`), { code: 'bad-state' }));
      return this.loaded.info;
    }
    const info = this.engine.loadModel({ packageUrl, graphs, ...(this.executionProviders && { executionProviders: this.executionProviders }) });
    this.loaded = { url: packageUrl, graphs: key, info };
    info.catch(() => {
      this.client?.dispose();
      this.client = null;
      this.loaded = null; // a failed load may be retried with a fresh worker
    });
    return info;
  }
}

/** `?ep=wasm` (or `?ep=webgpu`) on the page URL pins the engine's execution provider. */
export function providersFromUrl(search = location.search): readonly string[] | undefined {
  const ep = new URLSearchParams(search).get('ep');
  return ep === 'wasm' || ep === 'webgpu' ? [ep] : undefined;
}
