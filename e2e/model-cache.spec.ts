/**
 * Model cache in real Chromium with a persistent profile (a temp dir): the first load fetches and
 * caches, a load after restarting the browser comes from IndexedDB without fetching the files, a
 * corrupted cached chunk is detected and only that file re-fetched, a server file with the wrong
 * hash fails with an error naming the file and both hashes (and loses nothing else), and a full
 * disk turns caching off without failing the load. The package is a small fake generated here;
 * the harness (e2e/harness-media/model-cache-harness.ts) is bundled and served by a local server.
 */
import { chromium, expect, test, type BrowserContext, type Page } from '@playwright/test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleHarness, startTestServer, type TestServer } from './harness-media/test-server.js';
import type { LoadSummary } from './harness-media/model-cache-harness.js';
import { CHROMIUM_PATH } from '../playwright.config.js';

/**
 * Small chunks so the 300 kB "UNet" spans five IndexedDB keys, as a large file spans 64 MiB ones.
 * File paths follow docs/model-package.md (subdirectories included).
 */
const CHUNK_BYTES = 64 * 1024;

function fakePackage(name: string, version: string): { manifest: object; files: Record<string, Buffer> } {
  const files: Record<string, Buffer> = {
    'onnx/text_encoder.onnx': randomBytes(5_000),
    'tokenizer.json': Buffer.from(JSON.stringify({ vocab: { circle: 4 }, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, max_length: 16 })),
    'onnx/unet.onnx': randomBytes(300_000),
    'onnx/segment-plan.json': Buffer.from(JSON.stringify({ segments: [], exchangePoints: [] })),
  };
  const manifest = {
    name,
    format: 1,
    version,
    family: 'unet3d-videocrafter',
    defaults: { fps: 8, native_frames: 16, local_window_p: 8, global_top_k: 16, phase_t: 800, phase_bias: 10, guidance: 7.5, steps: 20, sampler: 'ddim', uncond_prompt: '' },
    latent: { channels: 48, height: 8, width: 8, decode: { kind: 'pixel_shuffle', factor: 4, value_range: [-1, 1] } },
    frame_rate: 8,
    text_encoder: { config: 'te.json', weights: 'te.safetensors', onnx: 'onnx/text_encoder.onnx', max_length: 16, hidden_size: 64, input: 'input_ids', output: 'last_hidden_state' },
    tokenizer: { file: 'tokenizer.json', type: 'word-level' },
    scheduler: { config: 's.json', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: 'epsilon' },
    unet: { config: 'u.json', weights: 'u.safetensors', onnx_whole: 'onnx/unet.onnx', segment_plan: 'onnx/segment-plan.json', batch: 2, segments: 0, exchange_points: 0 },
    files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') }])),
  };
  return { manifest, files };
}

function servePackage(server: TestServer, dir: string, pkg: ReturnType<typeof fakePackage>): void {
  server.setFile(`${dir}manifest.json`, JSON.stringify(pkg.manifest), 'application/json');
  for (const [p, b] of Object.entries(pkg.files)) server.setFile(`${dir}${p}`, b);
}

let server: TestServer;
let profileDir: string;
const good = fakePackage('fake-model', '1.0.0');
const bad = fakePackage('fake-bad', '1.0.0');
const GOOD = '/models/fake-model/';
const BAD = '/models/fake-bad/';

test.beforeAll(async () => {
  server = await startTestServer(await bundleHarness(fileURLToPath(new URL('./harness-media/model-cache-harness.ts', import.meta.url))));
  servePackage(server, GOOD, good);
  servePackage(server, BAD, bad);
  // The bad package's UNet on the server is not the file its manifest describes (same length).
  server.setFile(`${BAD}onnx/unet.onnx`, randomBytes(bad.files['onnx/unet.onnx']!.length));
  profileDir = mkdtempSync(join(tmpdir(), 'vi-model-cache-'));
});
test.afterAll(async () => {
  await server?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

async function openProfile(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(server.url);
  await page.waitForFunction(() => 'modelCacheHarness' in window);
  return { context, page };
}

type LoadResult = LoadSummary | { error: string; code?: string; file?: string };
async function load(page: Page, dir: string, opts: { fullDisk?: boolean } = {}): Promise<{ result: LoadResult; fileRequests: string[] }> {
  const before = server.requests.length;
  const result = await page.evaluate(([url, o]) => window.modelCacheHarness.load(url, o), [dir, { chunkBytes: CHUNK_BYTES, ...opts }] as const);
  const fileRequests = server.requests.slice(before).filter((r) => r.startsWith(dir) && !r.endsWith('manifest.json'));
  console.log(`[model-cache] ${dir} ${JSON.stringify({ ...result, fileRequests })}`);
  return { result, fileRequests };
}

function sources(r: LoadResult): Record<string, string> {
  if ('error' in r) throw new Error(`load failed (${r.code}): ${r.error}`);
  return Object.fromEntries(Object.entries(r.files).map(([p, f]) => [p, f.source]));
}

const allFiles = Object.keys(good.files);
const expectedHashes = (pkg: typeof good): Record<string, string> =>
  Object.fromEntries(Object.entries(pkg.files).map(([p, b]) => [p, createHash('sha256').update(b).digest('hex')]));

test.describe.configure({ mode: 'serial' });

test('first load fetches, verifies and caches every file', async () => {
  const { context, page } = await openProfile();
  try {
    const { result, fileRequests } = await load(page, GOOD);
    expect(sources(result)).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'network'])));
    const r = result as LoadSummary;
    expect(Object.fromEntries(Object.entries(r.files).map(([p, f]) => [p, f.sha256]))).toEqual(expectedHashes(good));
    expect(r.cache.stored.sort()).toEqual([...allFiles].sort());
    expect(r.cache.warnings).toEqual([]);
    const total = Object.values(good.files).reduce((s, b) => s + b.length, 0);
    expect(r.lastProgress).toEqual({ loadedBytes: total, totalBytes: total });
    expect(r.monotonic).toBe(true);
    expect(fileRequests.sort()).toEqual(allFiles.map((p) => `${GOOD}${p}`).sort());
    const keys = await page.evaluate(() => window.modelCacheHarness.cacheKeys());
    expect(keys.filter((k) => k.startsWith('chunk:fake-model@1.0.0/onnx/unet.onnx#'))).toHaveLength(5);
  } finally {
    await context.close();
  }
});

test('after a browser restart the package loads from IndexedDB with no file requests', async () => {
  const { context, page } = await openProfile();
  try {
    const { result, fileRequests } = await load(page, GOOD);
    expect(sources(result)).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'cache'])));
    expect(Object.fromEntries(Object.entries((result as LoadSummary).files).map(([p, f]) => [p, f.sha256]))).toEqual(expectedHashes(good));
    expect(fileRequests).toEqual([]);
  } finally {
    await context.close();
  }
});

test('a corrupted cached chunk is detected, deleted and only that file re-fetched', async () => {
  const { context, page } = await openProfile();
  try {
    const chunks = await page.evaluate(() => window.modelCacheHarness.corruptChunk('fake-model', '1.0.0', 'onnx/unet.onnx', 2));
    expect(chunks).toBe(5);
    const { result, fileRequests } = await load(page, GOOD);
    expect(sources(result)['onnx/unet.onnx']).toBe('network');
    expect((result as LoadSummary).cache.repaired).toEqual(['onnx/unet.onnx']);
    expect((result as LoadSummary).files['onnx/unet.onnx']!.sha256).toBe(expectedHashes(good)['onnx/unet.onnx']);
    expect(fileRequests).toEqual([`${GOOD}onnx/unet.onnx`]);
    const again = await load(page, GOOD);
    expect(sources(again.result)).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'cache'])));
    expect(again.fileRequests).toEqual([]);
  } finally {
    await context.close();
  }
});

test('a server file with the wrong hash fails clearly and loses nothing else', async () => {
  const { context, page } = await openProfile();
  try {
    const { result } = await load(page, BAD);
    expect('error' in result).toBe(true);
    const err = result as { error: string; code?: string; file?: string };
    expect(err.code).toBe('bad-file-hash');
    expect(err.file).toBe('onnx/unet.onnx');
    expect(err.error).toContain('fake-bad@1.0.0/onnx/unet.onnx');
    expect(err.error).toContain(expectedHashes(bad)['onnx/unet.onnx']);
    expect(err.error).toMatch(/the server sent [0-9a-f]{64}/);
    // The files verified before it stay cached; the other package is untouched.
    const keys = await page.evaluate(() => window.modelCacheHarness.cacheKeys());
    expect(keys).toContain('chunk:fake-bad@1.0.0/onnx/text_encoder.onnx#0');
    expect(keys.some((k) => k.startsWith('chunk:fake-bad@1.0.0/onnx/unet.onnx'))).toBe(false);
    const other = await load(page, GOOD);
    expect(sources(other.result)).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'cache'])));
    // Once the server has the right file, only the missing files are fetched.
    server.setFile(`${BAD}onnx/unet.onnx`, bad.files['onnx/unet.onnx']!);
    const fixed = await load(page, BAD);
    expect(sources(fixed.result)).toMatchObject({ 'onnx/text_encoder.onnx': 'cache', 'tokenizer.json': 'cache', 'onnx/unet.onnx': 'network' });
    expect(fixed.fileRequests.sort()).toEqual([`${BAD}onnx/segment-plan.json`, `${BAD}onnx/unet.onnx`]);
  } finally {
    await context.close();
  }
});

test('a full disk (QuotaExceededError) is reported and the load continues uncached', async () => {
  const { context, page } = await openProfile();
  try {
    // A package this profile has never cached, so every file has to be written.
    const fresh = fakePackage('fake-fresh', '2.0.0');
    servePackage(server, '/models/fake-fresh/', fresh);
    const { result } = await load(page, '/models/fake-fresh/', { fullDisk: true });
    expect(sources(result)).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'network'])));
    const r = result as LoadSummary;
    expect(r.cache.enabled).toBe(false);
    expect(r.cache.stored).toEqual([]);
    expect(r.cache.warnings.join('\n')).toMatch(/storage quota exceeded while storing onnx\/text_encoder\.onnx/);
  } finally {
    await context.close();
  }
});

test('offline: without manifest.json on the server the cached manifest and files are used', async () => {
  const { context, page } = await openProfile();
  try {
    server.removeFile(`${GOOD}manifest.json`);
    const { result, fileRequests } = await load(page, GOOD);
    expect((result as LoadSummary).manifestSource).toBe('cache');
    expect(sources(result)).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'cache'])));
    expect(fileRequests).toEqual([]);
    const never = await load(page, '/models/never-loaded/');
    expect((never.result as { code?: string }).code).toBe('manifest-unavailable');
  } finally {
    server.setFile(`${GOOD}manifest.json`, JSON.stringify(good.manifest), 'application/json');
    await context.close();
  }
});

test('a new version of a package replaces the cached old one; orphan chunks are swept', async () => {
  const { context, page } = await openProfile();
  try {
    await page.evaluate(() => window.modelCacheHarness.addOrphanChunk('chunk:fake-model@2.0.0/onnx/unet.onnx#9'));
    const v2 = fakePackage('fake-model', '2.0.0');
    servePackage(server, GOOD, v2);
    const { result } = await load(page, GOOD);
    expect(sources(result)).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'network'])));
    expect((result as LoadSummary).cache.removedVersions).toEqual(['1.0.0']);
    const keys = await page.evaluate(() => window.modelCacheHarness.cacheKeys());
    expect(keys.some((k) => k.includes('fake-model@1.0.0'))).toBe(false);
    expect(keys).not.toContain('chunk:fake-model@2.0.0/onnx/unet.onnx#9');
    expect(keys.filter((k) => k.startsWith('chunk:fake-model@2.0.0/onnx/unet.onnx#'))).toHaveLength(5);
    expect(keys).toContain('model:fake-model@2.0.0');
    expect(keys).toContain('model:fake-bad@1.0.0');
  } finally {
    await context.close();
  }
});

test('openModelPackage keeps no file: cached files are read from IndexedDB when asked, a damaged one re-fetched then', async () => {
  const { context, page } = await openProfile();
  const dir = '/models/fake-open/';
  const pkg = fakePackage('fake-open', '1.0.0');
  servePackage(server, dir, pkg);
  const requests = (at = dir) => server.requests.filter((r) => r.startsWith(at) && !r.endsWith('manifest.json'));
  const open = async (opts: { fullDisk?: boolean } = {}, at = dir) => {
    const r = await page.evaluate(([url, o]) => window.modelCacheHarness.open(url, o), [at, { chunkBytes: CHUNK_BYTES, ...opts }] as const);
    if ('error' in r) throw new Error(r.error);
    return r;
  };
  /** Reads every file; returns their hashes and the file requests the reads made. */
  const readAll = async (at = dir) => {
    const before = requests(at).length;
    const hashes: Record<string, string> = {};
    for (const p of allFiles) hashes[p] = (await page.evaluate((path) => window.modelCacheHarness.readOpened(path), p)).sha256;
    return { hashes, fileRequests: requests(at).slice(before) };
  };
  try {
    // First open: fetched, verified, cached, then let go; reading makes no request (IndexedDB has them).
    const first = await open();
    expect(first.sources).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'network'])));
    expect(first.cache.stored.sort()).toEqual([...allFiles].sort());
    expect(requests().length).toBe(allFiles.length);
    const r1 = await readAll();
    expect(r1.hashes).toEqual(expectedHashes(pkg));
    expect(r1.fileRequests).toEqual([]);
    // Second open: nothing fetched, nothing read until asked.
    const second = await open();
    expect(second.sources).toEqual(Object.fromEntries(allFiles.map((p) => [p, 'cache'])));
    expect(requests().length).toBe(allFiles.length);
    // A damaged chunk is found when the file is read: deleted, fetched again, verified.
    await page.evaluate(() => window.modelCacheHarness.corruptChunk('fake-open', '1.0.0', 'onnx/unet.onnx', 3));
    const r2 = await readAll();
    expect(r2.hashes).toEqual(expectedHashes(pkg));
    expect(r2.fileRequests).toEqual([`${dir}onnx/unet.onnx`]);
    const report = await page.evaluate(() => window.modelCacheHarness.readOpened('onnx/unet.onnx'));
    expect(report.cache.repaired).toEqual(['onnx/unet.onnx']);
    // A full disk: nothing can be cached, so the files fetched at open are held and read from memory.
    const fullDir = '/models/fake-open-full/';
    const fullPkg = fakePackage('fake-open-full', '1.0.0');
    servePackage(server, fullDir, fullPkg);
    const full = await open({ fullDisk: true }, fullDir);
    expect(full.cache.enabled).toBe(false);
    expect(requests(fullDir).length).toBe(allFiles.length);
    const r3 = await readAll(fullDir);
    expect(r3.hashes).toEqual(expectedHashes(fullPkg));
    expect(r3.fileRequests).toEqual([]);
  } finally {
    await context.close();
  }
});
