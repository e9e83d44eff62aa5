/**
 * The tab's engine worker entry (a module Worker): injects onnxruntime-web's native WebGPU build
 * (the long-term WebGPU path; WASM inside it is the fallback) and the model-cache loader (IndexedDB
 * or server, every file sha256-checked) into the engine's EngineWorker. Vite bundles this file and
 * ORT's .wasm as worker assets, so no wasmPaths are needed.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { EngineWorker } from '../../engine/worker/engine-worker.js';
import type { PortLike } from '../../engine/worker/protocol.js';
import type { OrtModule } from '../../engine/session-runner.js';
import { loadModelPackage } from '../model-cache/index.js';
import { runtimeFiles } from '../../model/manifest.js';

new EngineWorker(self as unknown as PortLike, {
  ort: ort as unknown as OrtModule,
  packages: {
    async open(url, part, onProgress) {
      const pkg = await loadModelPackage(url, { files: (m) => runtimeFiles(m, part), onProgress: (p) => onProgress(p.loadedBytes, p.totalBytes, p.file) });
      const manifestBytes = new TextEncoder().encode(JSON.stringify(pkg.manifest));
      const files = [...pkg.files.values()];
      return {
        read: async (path: string) => {
          if (path === 'manifest.json') return manifestBytes;
          const f = pkg.files.get(path);
          if (!f) throw Object.assign(new Error(`model package ${url}: no file '${path}' in the manifest`), { code: 'missing-file' });
          return f.bytes;
        },
        cachedFiles: files.filter((f) => f.source === 'cache').length,
        fetchedFiles: files.filter((f) => f.source === 'network').length,
        warnings: pkg.cache.warnings,
      };
    },
  },
});
