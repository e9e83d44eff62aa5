/**
 * Browser harness for e2e/model-cache.spec.ts, bundled by the spec with esbuild. Exposes the model
 * loader with a summary the spec can assert on (sources, hashes, progress, cache report), plus
 * helpers that damage the cache the way real life does (a corrupt chunk, a full disk).
 */
import { createStore, get, keys, set, type UseStore } from 'idb-keyval';
import { chunkKey, entryKey, type CacheEntry } from '../../src/app/model-cache/cache-store.js';
import { loadModelPackage, openModelPackage, type CacheReport, type FileSource, type OpenedModelPackage } from '../../src/app/model-cache/model-cache.js';
import { sha256Hex } from '../../src/model/manifest.js';

export interface LoadSummary {
  manifestSource: FileSource;
  files: Record<string, { source: FileSource; bytes: number; sha256: string }>;
  cache: CacheReport;
  progressEvents: number;
  lastProgress: { loadedBytes: number; totalBytes: number } | null;
  monotonic: boolean;
}

const realStore = (): UseStore => createStore('vi-models', 'blobs');

/** A store whose every write fails as a full disk does. */
const fullDiskStore = (): UseStore => {
  const inner = realStore();
  return (mode, callback) =>
    mode === 'readwrite' ? Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError')) : inner(mode, callback);
};

async function load(url: string, opts: { chunkBytes?: number; fullDisk?: boolean } = {}): Promise<LoadSummary | { error: string; code?: string; file?: string }> {
  let progressEvents = 0;
  let lastProgress: LoadSummary['lastProgress'] = null;
  let monotonic = true;
  try {
    const pkg = await loadModelPackage(url, {
      ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}),
      ...(opts.fullDisk ? { store: fullDiskStore() } : {}),
      onProgress: (p) => {
        progressEvents++;
        if (lastProgress && p.loadedBytes < lastProgress.loadedBytes) monotonic = false;
        lastProgress = { loadedBytes: p.loadedBytes, totalBytes: p.totalBytes };
      },
    });
    const files: LoadSummary['files'] = {};
    for (const [path, f] of pkg.files) files[path] = { source: f.source, bytes: f.bytes.byteLength, sha256: await sha256Hex(f.bytes) };
    return { manifestSource: pkg.manifestSource, files, cache: pkg.cache, progressEvents, lastProgress, monotonic };
  } catch (e) {
    const err = e as { message: string; code?: string; file?: string };
    return { error: err.message, ...(err.code ? { code: err.code } : {}), ...(err.file ? { file: err.file } : {}) };
  }
}

let opened: OpenedModelPackage | null = null;

/** openModelPackage: where each file was found; the files themselves are read with readOpened. */
async function open(url: string, opts: { chunkBytes?: number; fullDisk?: boolean } = {}): Promise<{ sources: Record<string, FileSource>; cache: CacheReport } | { error: string }> {
  try {
    opened = await openModelPackage(url, { ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}), ...(opts.fullDisk ? { store: fullDiskStore() } : {}) });
    return { sources: Object.fromEntries(opened.sources), cache: structuredClone(opened.cache) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** One file of the last opened package: its sha256, and the cache report after reading it. */
async function readOpened(path: string): Promise<{ sha256: string; cache: CacheReport }> {
  const bytes = await opened!.read(path);
  return { sha256: await sha256Hex(bytes), cache: structuredClone(opened!.cache) };
}

/** Flips one byte in chunk `index` of a cached file; returns the chunk count of that file. */
async function corruptChunk(name: string, version: string, path: string, index: number): Promise<number> {
  const store = realStore();
  const entry = await get<CacheEntry>(entryKey(name, version), store);
  const file = entry?.files[path];
  if (!file) throw new Error(`${path} is not cached`);
  const key = chunkKey(name, version, path, index);
  const blob = await get<Blob>(key, store);
  const bytes = new Uint8Array(await blob!.arrayBuffer());
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  await set(key, new Blob([bytes]), store);
  return file.chunkKeys.length;
}

/** Stores a chunk no entry references, as a write interrupted by a crash leaves behind. */
async function addOrphanChunk(key: string): Promise<void> {
  await set(key, new Blob([new Uint8Array(16)]), realStore());
}

async function cacheKeys(): Promise<string[]> {
  return (await keys<string>(realStore())).map(String).sort();
}

declare global {
  interface Window {
    modelCacheHarness: { load: typeof load; open: typeof open; readOpened: typeof readOpened; corruptChunk: typeof corruptChunk; addOrphanChunk: typeof addOrphanChunk; cacheKeys: typeof cacheKeys };
  }
}
window.modelCacheHarness = { load, open, readOpened, corruptChunk, addOrphanChunk, cacheKeys };
