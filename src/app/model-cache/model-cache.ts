/**
 * Loads a model package (docs/model-package.md: `manifest.json` plus the files it lists, each with
 * `bytes` and `sha256`) for ONNX Runtime, from IndexedDB when it is there and intact, else from the
 * server, verifying every file's sha256 before use and before caching (a corrupt or tampered file
 * never reaches ORT or the cache).
 *
 *   const pkg = await loadModelPackage('/models/vi-tiny/', { onProgress: (p) => bar(p.loadedBytes / p.totalBytes) });
 *   const unet = await ort.InferenceSession.create(pkg.files.get(pkg.manifest.unet.onnx_whole)!.bytes, opts);
 *   if (pkg.cache.warnings.length) showNotice(pkg.cache.warnings.join('\n'));
 *
 * - `openModelPackage` does the same checks and caching but keeps no file: a cached file is read
 *   (and its sha256 checked) only when `read(path)` asks for it, so a tab creating sessions from GBs
 *   of weights holds one graph's files at a time, not the whole package next to the sessions.
 * - Files come back as Uint8Array, which `InferenceSession.create` and `externalData[].data` accept.
 *   Never hand ORT a Blob (`InferenceSession.create` throws on one); for a URL use
 *   `URL.createObjectURL(new Blob([file.bytes]))`.
 * - Per file: a cached copy is read and re-hashed; if it does not match (bit rot, a bad write,
 *   tampering) its entry is deleted and the file is fetched again (`cache.repaired`). A fetched file
 *   whose size or sha256 differs from the manifest is a ModelCacheError naming the file, the expected
 *   and the actual value; files verified before it stay cached, nothing else is lost.
 * - The cache is evictable and optional: any storage failure (QuotaExceededError, IndexedDB
 *   unavailable or blocked) turns caching off for the rest of the load and is reported in
 *   `cache.warnings`; the load itself continues from the network.
 * - manifest.json is always asked of the server (it is small and says which version is current);
 *   if that fails, the manifest last loaded from the same URL is used from the cache, so a page
 *   with a cached model works offline.
 * - Files are fetched with `cache: 'no-store'` while IndexedDB caching is on, so they are not kept
 *   twice on disk; a file may have at most MAX_FILE_BYTES (2 GiB).
 * - After a complete load, cached versions of the same package other than this one are deleted
 *   (unless `keepOtherVersions`), and so are chunks of this version that no entry references.
 *
 * Browser only (fetch, crypto.subtle, IndexedDB, all of which need a secure context).
 */
import type { UseStore } from 'idb-keyval';
import { parseManifest, sha256Hex, type ModelManifest } from '../../model/manifest.js';
import {
  type CachedFile,
  DEFAULT_CHUNK_BYTES,
  deleteCachedFile,
  modelStore,
  pruneCache,
  readCachedFile,
  readEntry,
  readLatestManifest,
  writeCachedFile,
  writeLatestManifest,
} from './cache-store.js';
import { ModelCacheError } from './model-cache-error.js';

export type FileSource = 'cache' | 'network';

export interface LoadProgress {
  /** The file being loaded. */
  file: string;
  source: FileSource;
  fileLoadedBytes: number;
  fileTotalBytes: number;
  /** Over all files of this load. */
  loadedBytes: number;
  totalBytes: number;
}

export interface LoadedFile {
  path: string;
  /** The verified file contents. */
  bytes: Uint8Array;
  sha256: string;
  source: FileSource;
}

export interface CacheReport {
  /** False when caching was off from the start (no IndexedDB) or switched off by a storage error. */
  enabled: boolean;
  /** Files whose cached copy failed verification, were deleted and re-fetched. */
  repaired: string[];
  /** Files written to the cache during this load. */
  stored: string[];
  /** Other versions of this package removed from the cache. */
  removedVersions: string[];
  /** Human-readable storage problems (quota, IndexedDB errors); the load went on without caching. */
  warnings: string[];
}

export interface LoadedModelPackage {
  manifest: ModelManifest;
  manifestSource: FileSource;
  /** Keyed by the path in manifest.files. */
  files: Map<string, LoadedFile>;
  cache: CacheReport;
}

export interface OpenedModelPackage {
  manifest: ModelManifest;
  manifestSource: FileSource;
  /** Where each file of this load was found: already cached, or fetched (and cached if it could be). */
  sources: Map<string, FileSource>;
  /** A file's verified bytes, read when asked (see openModelPackage). */
  read(path: string): Promise<Uint8Array>;
  cache: CacheReport;
}

export interface LoadModelOptions {
  /** Which files to load (paths in manifest.files, or a choice made from the manifest); default all of them. */
  files?: readonly string[] | ((manifest: ModelManifest) => readonly string[]);
  onProgress?: (progress: LoadProgress) => void;
  /** The idb-keyval store; default createStore('vi-models', 'blobs'). `null` disables caching. */
  store?: UseStore | null;
  /** Largest Blob per IndexedDB key; default 64 MiB (tests use less). */
  chunkBytes?: number;
  keepOtherVersions?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

const VERSION_PATTERN = /^[A-Za-z0-9._+-]{1,64}$/;
/**
 * Largest file the loader takes: ORT reads a model or external-data file into one ArrayBuffer and
 * the wasm heap is 4 GiB (Chrome's ArrayBuffer limit is about 2 GB), so packages split weights
 * into files under 2 GiB.
 */
export const MAX_FILE_BYTES = 2 ** 31;

/** `packageUrl` is the package directory (with or without a trailing slash), absolute or relative to the page. */
export async function loadModelPackage(packageUrl: string, options: LoadModelOptions = {}): Promise<LoadedModelPackage> {
  const { manifest, manifestSource, files, cache } = await loadPackage(packageUrl, options, 'load');
  return { manifest, manifestSource, files, cache };
}

/**
 * As loadModelPackage (the same checks, cache, progress and report), but keeps no file in memory:
 * files already in IndexedDB are not read at all, fetched files are dropped once cached, and
 * `read(path)` reads a file from IndexedDB when it is asked for (sha256-checked then; a damaged
 * copy is deleted and fetched again). Only files that could not be cached (caching off or failed)
 * are held from the network. A tab loading GBs of weights then holds each file only while a
 * session is created from it, not the whole package next to the sessions.
 */
export async function openModelPackage(packageUrl: string, options: LoadModelOptions = {}): Promise<OpenedModelPackage> {
  const { manifest, manifestSource, cache, sources, read } = await loadPackage(packageUrl, options, 'open');
  return { manifest, manifestSource, cache, sources, read };
}

async function loadPackage(packageUrl: string, options: LoadModelOptions, mode: 'load' | 'open') {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > DEFAULT_CHUNK_BYTES) {
    throw new ModelCacheError('invalid-argument', `loadModelPackage: chunkBytes must be an integer in [1, ${DEFAULT_CHUNK_BYTES}], got ${chunkBytes}`);
  }
  const base = new URL(packageUrl.endsWith('/') ? packageUrl : `${packageUrl}/`, globalThis.location?.href);
  const cache: CacheReport = { enabled: true, repaired: [], stored: [], removedVersions: [], warnings: [] };
  let store: UseStore | null = null;
  if (options.store !== null) {
    try {
      store = options.store ?? modelStore();
    } catch (e) {
      cache.warnings.push(`IndexedDB is unavailable (${describe(e)}); loading without a cache`);
    }
  }
  cache.enabled = store !== null;
  /** Runs a cache operation; on any failure turns caching off and records why. */
  const cached = async <T>(what: string, op: (s: UseStore) => Promise<T>): Promise<T | undefined> => {
    if (!store) return undefined;
    try {
      return await op(store);
    } catch (e) {
      store = null;
      cache.enabled = false;
      const quota = e instanceof DOMException && e.name === 'QuotaExceededError';
      cache.warnings.push(`${quota ? 'storage quota exceeded' : 'cache error'} while ${what} (${describe(e)}); continuing without the cache`);
      return undefined;
    }
  };

  // 1. The manifest: from the server, else the copy last loaded from this URL.
  const manifestUrl = new URL('manifest.json', base).href;
  let manifestJson: unknown;
  let manifestSource: FileSource = 'network';
  try {
    const response = await fetchFn(manifestUrl, { cache: 'no-cache', ...(options.signal ? { signal: options.signal } : {}) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    manifestJson = await response.json();
  } catch (e) {
    options.signal?.throwIfAborted();
    manifestJson = await cached('reading the cached manifest', (s) => readLatestManifest(s, base.href));
    if (manifestJson === undefined) throw new ModelCacheError('manifest-unavailable', `loadModelPackage: cannot fetch ${manifestUrl} (${describe(e)}) and no cached copy exists`);
    manifestSource = 'cache';
  }
  let manifest: ModelManifest;
  try {
    manifest = parseManifest(manifestJson, manifestUrl);
  } catch (e) {
    throw new ModelCacheError('bad-manifest', `loadModelPackage: ${describe(e)}`);
  }
  const { name, version } = manifest;
  if (typeof version !== 'string' || !VERSION_PATTERN.test(version)) {
    throw new ModelCacheError('bad-manifest', `loadModelPackage: ${manifestUrl}: version ${JSON.stringify(version)} must be 1..64 characters of [A-Za-z0-9._+-]`);
  }
  const paths = typeof options.files === 'function' ? options.files(manifest) : (options.files ?? Object.keys(manifest.files));
  for (const p of paths) {
    if (!(p in manifest.files)) throw new ModelCacheError('invalid-argument', `loadModelPackage: '${p}' is not a file of ${name}@${version}`, p);
  }
  for (const p of paths) {
    if (manifest.files[p]!.bytes > MAX_FILE_BYTES) {
      throw new ModelCacheError('bad-manifest', `loadModelPackage: ${name}@${version}/${p} is ${manifest.files[p]!.bytes} bytes, more than the ${MAX_FILE_BYTES} a file may have`, p);
    }
  }
  const totalBytes = paths.reduce((sum, p) => sum + manifest.files[p]!.bytes, 0);
  let doneBytes = 0;
  const report = (file: string, source: FileSource, fileLoadedBytes: number): void =>
    options.onProgress?.({ file, source, fileLoadedBytes, fileTotalBytes: manifest.files[file]!.bytes, loadedBytes: doneBytes + fileLoadedBytes, totalBytes });

  // 2. Each file: the cache if intact, else the network; verify; cache what came from the network.
  /** The cached copy of `path` if it is intact; a damaged one is recorded as repaired. */
  const fromCache = async (path: string, hit: CachedFile): Promise<LoadedFile | undefined> => {
    const want = manifest.files[path]!;
    const bytes = await cached(`reading ${path}`, (s) => readCachedFile(s, hit));
    if (!bytes) return undefined;
    const actual = bytes.byteLength === want.bytes ? await sha256Hex(bytes) : `(${bytes.byteLength} bytes)`;
    if (actual === want.sha256) return { path, bytes, sha256: actual, source: 'cache' };
    cache.repaired.push(path);
    return undefined;
  };
  /** `path` from the server, verified, then cached (`stored`: whether the cache now holds it). */
  const fromNetwork = async (path: string, hadEntry: boolean, onBytes: (n: number) => void): Promise<{ loaded: LoadedFile; stored: boolean }> => {
    const want = manifest.files[path]!;
    // Drop whatever is cached under this path (corrupt, incomplete or stale) before re-fetching.
    if (hadEntry) await cached(`deleting the cached ${path}`, (s) => deleteCachedFile(s, name, version, path));
    // While IndexedDB holds the files, keep them out of the HTTP cache too (no second copy on disk).
    const init: RequestInit = { ...(store ? { cache: 'no-store' as const } : {}), ...(options.signal ? { signal: options.signal } : {}) };
    const bytes = await fetchFile(fetchFn, new URL(path, base).href, path, want.bytes, onBytes, init);
    const actual = await sha256Hex(bytes);
    if (actual !== want.sha256) {
      throw new ModelCacheError('bad-file-hash', `loadModelPackage: ${name}@${version}/${path}: sha256 mismatch: the manifest says ${want.sha256}, the server sent ${actual}`, path);
    }
    const stored = await cached(`storing ${path} (${bytes.byteLength} bytes)`, async (s) => {
      await writeCachedFile(s, name, version, path, bytes, actual, chunkBytes);
      return true;
    });
    if (stored) cache.stored.push(path);
    return { loaded: { path, bytes, sha256: actual, source: 'network' }, stored: stored === true };
  };
  const matches = (path: string, hit: CachedFile | undefined): hit is CachedFile => hit !== undefined && hit.sha256 === manifest.files[path]!.sha256 && hit.bytes === manifest.files[path]!.bytes;

  const entry = await cached('reading the cache entry', (s) => readEntry(s, name, version));
  const files = new Map<string, LoadedFile>();
  const sources = new Map<string, FileSource>();
  /** open mode: files the cache does not hold (caching off or failed), kept from the network. */
  const held = new Map<string, Uint8Array>();
  for (const path of paths) {
    options.signal?.throwIfAborted();
    const want = manifest.files[path]!;
    const hit = entry?.files[path];
    if (mode === 'open' && matches(path, hit)) {
      // Verified when read (read below): nothing of it is read now.
      sources.set(path, 'cache');
      report(path, 'cache', want.bytes);
      doneBytes += want.bytes;
      continue;
    }
    let loaded = matches(path, hit) ? await fromCache(path, hit) : undefined;
    if (loaded) report(path, 'cache', loaded.bytes.byteLength);
    else {
      const got = await fromNetwork(path, hit !== undefined, (n) => report(path, 'network', n));
      loaded = got.loaded;
      if (mode === 'open' && !got.stored) held.set(path, loaded.bytes);
    }
    sources.set(path, loaded.source);
    if (mode === 'load') files.set(path, loaded);
    doneBytes += want.bytes;
  }

  /** open mode: a file's verified bytes, from IndexedDB (or the network when its copy is damaged or gone). */
  const read = async (path: string): Promise<Uint8Array> => {
    if (!sources.has(path)) throw new ModelCacheError('invalid-argument', `openModelPackage: '${path}' is not a file of this load of ${name}@${version}`, path);
    const kept = held.get(path);
    if (kept) return kept;
    const now = await cached('reading the cache entry', (s) => readEntry(s, name, version));
    const hit = now?.files[path];
    const loaded = (matches(path, hit) ? await fromCache(path, hit) : undefined) ?? (await fromNetwork(path, hit !== undefined, () => {})).loaded;
    return loaded.bytes;
  };

  // 3. Remember the manifest for offline loads; drop other versions of this package.
  if (manifestSource === 'network') await cached('storing the manifest', (s) => writeLatestManifest(s, base.href, manifestJson));
  cache.removedVersions = (await cached('pruning the cache', (s) => pruneCache(s, name, version, !options.keepOtherVersions))) ?? [];
  return { manifest, manifestSource, files, cache, sources, read };
}

/** Fetches a file into exactly `expectedBytes` bytes, reporting progress; refuses any other length. */
async function fetchFile(
  fetchFn: typeof fetch,
  url: string,
  path: string,
  expectedBytes: number,
  onBytes: (loaded: number) => void,
  init: RequestInit,
): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetchFn(url, init);
  } catch (e) {
    init.signal?.throwIfAborted();
    throw new ModelCacheError('file-unavailable', `loadModelPackage: cannot fetch ${path} from ${url}: ${describe(e)}`, path);
  }
  if (!response.ok || !response.body) throw new ModelCacheError('file-unavailable', `loadModelPackage: ${url} answered HTTP ${response.status}`, path);
  const out = new Uint8Array(expectedBytes);
  const reader = response.body.getReader();
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > expectedBytes) {
      await reader.cancel();
      throw new ModelCacheError('bad-file-size', `loadModelPackage: ${path}: the server sent more than the ${expectedBytes} bytes the manifest lists`, path);
    }
    out.set(value, loaded);
    loaded += value.byteLength;
    onBytes(loaded);
  }
  if (loaded !== expectedBytes) {
    throw new ModelCacheError('bad-file-size', `loadModelPackage: ${path}: the server sent ${loaded} bytes, the manifest lists ${expectedBytes}`, path);
  }
  if (expectedBytes === 0) onBytes(0);
  return out;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
}
