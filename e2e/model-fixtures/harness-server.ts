// Static server for the model harness page (e2e/model-parity.spec.ts, scripts/bench-segments.ts):
// serves onnxruntime-web's dist under /ort/, the bundled parity-harness.ts as /harness.js, the page at
// /, and the given directory mounts. COOP/COEP headers so the page is cross-origin isolated.
import { build } from 'esbuild';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TYPES: Record<string, string> = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const PAGE = `<!doctype html><meta charset="utf-8"><title>model harness</title><script type="module">
  import * as ort from '/ort/ort.webgpu.bundle.min.mjs'; window.ort = ort; await import('/harness.js'); window.harnessReady = true;
</script>`;

export interface HarnessServer {
  url: string;
  close(): Promise<void>;
}

/** `mounts`: URL prefix (e.g. '/pkg/') → directory. */
export async function startHarnessServer(mounts: Record<string, string>): Promise<HarnessServer> {
  const bundle = await build({
    entryPoints: [path.join(root, 'e2e', 'model-fixtures', 'parity-harness.ts')], bundle: true, format: 'esm', write: false, platform: 'browser', target: 'es2022',
  });
  const harness = bundle.outputFiles[0].contents;
  const all: [string, string][] = [['/ort/', path.join(root, 'node_modules', 'onnxruntime-web', 'dist')], ...Object.entries(mounts)];
  const server: Server = createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const send = (status: number, body: Uint8Array | string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type, 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
      res.end(body);
    };
    if (url === '/') return send(200, PAGE, 'text/html');
    if (url === '/harness.js') return send(200, harness, 'text/javascript');
    for (const [prefix, dir] of all) {
      if (!url.startsWith(prefix)) continue;
      const file = path.resolve(dir, url.slice(prefix.length));
      if (!file.startsWith(path.resolve(dir)) || !existsSync(file) || !statSync(file).isFile()) return send(404, 'not found');
      return send(200, readFileSync(file), TYPES[path.extname(file)] ?? 'application/octet-stream');
    }
    send(404, 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
