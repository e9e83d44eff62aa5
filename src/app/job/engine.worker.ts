/**
 * The tab's engine worker entry (a module Worker): injects onnxruntime-web's native WebGPU build
 * (the long-term WebGPU path; WASM inside it is the fallback) and the model-cache reader (IndexedDB
 * or server, every file sha256-checked, each read when the engine asks for it) into the engine's
 * EngineWorker. Vite bundles this file and ORT's .wasm as worker assets, so no wasmPaths are needed.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { EngineWorker } from '../../engine/worker/engine-worker.js';
import type { PortLike } from '../../engine/worker/protocol.js';
import type { OrtModule } from '../../engine/session-runner.js';
import { openModelPackage } from '../model-cache/index.js';

new EngineWorker(self as unknown as PortLike, {
  ort: ort as unknown as OrtModule,
  packages: {
    async open(url, select, onProgress) {
      // Opened, not loaded: files stay in IndexedDB until a session is created from them (GBs of weights).
      const pkg = await openModelPackage(url, { files: select, onProgress: (p) => onProgress(p.loadedBytes, p.totalBytes, p.file) });
      const manifestBytes = new TextEncoder().encode(JSON.stringify(pkg.manifest));
      const sources = [...pkg.sources.values()];
      return {
        read: async (path: string) => {
          if (path === 'manifest.json') return manifestBytes;
          if (!pkg.sources.has(path)) throw Object.assign(new Error(`model package ${url}: no file '${path}' in the manifest`), { code: 'missing-file' });
          return pkg.read(path);
        },
        cachedFiles: sources.filter((s) => s === 'cache').length,
        fetchedFiles: sources.filter((s) => s === 'network').length,
        warnings: pkg.cache.warnings,
      };
    },
  },
});
