/**
 * Self-contained page server for the media and model-cache specs: bundles a harness entry with
 * esbuild (no app build needed) and serves it, plus any extra files, from a tiny Node HTTP server
 * on localhost (a secure context, so WebCodecs, crypto.subtle and IndexedDB are all there).
 * Records every request path so specs can assert what did (not) go over the network.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';

export interface TestServer {
  url: string;
  /** Paths requested so far, in order (query strings included). */
  requests: string[];
  /** Add or replace a served file. */
  setFile(path: string, body: Uint8Array | string, contentType?: string): void;
  /** Stop serving a file (it answers 404). */
  removeFile(path: string): void;
  close(): Promise<void>;
}

export async function bundleHarness(entry: string): Promise<string> {
  const result = await build({ entryPoints: [entry], bundle: true, format: 'esm', target: 'es2022', write: false, logLevel: 'silent' });
  return result.outputFiles[0]!.text;
}

export async function startTestServer(harnessJs: string): Promise<TestServer> {
  const files = new Map<string, { body: Buffer; type: string }>();
  const requests: string[] = [];
  const setFile = (path: string, body: Uint8Array | string, type = 'application/octet-stream'): void => {
    files.set(path, { body: typeof body === 'string' ? Buffer.from(body) : Buffer.from(body), type });
  };
  setFile('/', '<!doctype html><meta charset="utf-8"><title>harness</title><script type="module" src="/harness.js"></script>', 'text/html');
  setFile('/harness.js', harnessJs, 'text/javascript');
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    const file = files.get(url.split('?')[0]!);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    requests,
    setFile,
    removeFile: (path) => void files.delete(path),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
