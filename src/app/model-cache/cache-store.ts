/**
 * The IndexedDB layout of the model cache (idb-keyval, database 'vi-models', object store 'blobs').
 * Names here are on disk in users' browsers: change them only with a new CACHE_SCHEMA.
 *
 *   key                                        value
 *   `model:<name>@<version>`                   CacheEntry: the files stored so far, their sha256,
 *                                              size and chunk keys (written after the chunks)
 *   `chunk:<name>@<version>/<path>#<i>`        Blob, ≤ chunkBytes (64 MiB) of file <path>
 *   `latest:<package url>`                     the manifest JSON last loaded from that url
 *                                              (lets a page load the model while offline)
 *
 * Blobs, not ArrayBuffers: an ephemeral (incognito) context rejects single values above ~127 MiB,
 * and Blob chunks of ≤ 64 MiB are stored everywhere.
 * Everything here may vanish at any time (eviction): callers treat a missing key as a cache miss.
 */
import { createStore, delMany, get, getMany, keys, set, type UseStore } from 'idb-keyval';

export const CACHE_SCHEMA = 1;
/** Largest Blob stored under one key. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

export interface CachedFile {
  sha256: string;
  bytes: number;
  chunkKeys: string[];
}

export interface CacheEntry {
  schema: typeof CACHE_SCHEMA;
  name: string;
  version: string;
  files: Record<string, CachedFile>;
}

let defaultStore: UseStore | undefined;
/** The shared store (created lazily: createStore opens the database). */
export function modelStore(): UseStore {
  defaultStore ??= createStore('vi-models', 'blobs');
  return defaultStore;
}

export const entryKey = (name: string, version: string): string => `model:${name}@${version}`;
export const chunkKey = (name: string, version: string, path: string, index: number): string => `chunk:${name}@${version}/${path}#${index}`;
export const latestManifestKey = (packageUrl: string): string => `latest:${packageUrl}`;

/**
 * The cache entry of a version, keeping only well-formed file lines (a malformed line, from a bug
 * or another schema, is dropped: that file is then a miss and gets re-fetched and rewritten).
 */
export async function readEntry(store: UseStore, name: string, version: string): Promise<CacheEntry | undefined> {
  const entry = await get<unknown>(entryKey(name, version), store);
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Partial<CacheEntry>;
  if (e.schema !== CACHE_SCHEMA || typeof e.files !== 'object' || e.files === null) return undefined;
  const files: Record<string, CachedFile> = {};
  for (const [path, f] of Object.entries(e.files as Record<string, Partial<CachedFile> | null>)) {
    if (
      f && typeof f.sha256 === 'string' && Number.isSafeInteger(f.bytes) && Array.isArray(f.chunkKeys) &&
      f.chunkKeys.length > 0 && f.chunkKeys.every((k) => typeof k === 'string')
    ) {
      files[path] = { sha256: f.sha256, bytes: f.bytes!, chunkKeys: f.chunkKeys };
    }
  }
  return { schema: CACHE_SCHEMA, name, version, files };
}

/** The file's bytes from its chunks, or null if a chunk is missing or not a Blob. */
export async function readCachedFile(store: UseStore, file: CachedFile): Promise<Uint8Array | null> {
  const chunks = await getMany<unknown>(file.chunkKeys, store);
  if (!chunks.every((c): c is Blob => c instanceof Blob)) return null;
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

/**
 * Stores a verified file: chunks first, then the entry that points at them, so an entry never
 * names chunks that were not written (eviction aside).
 */
export async function writeCachedFile(
  store: UseStore,
  name: string,
  version: string,
  path: string,
  bytes: Uint8Array,
  sha256: string,
  chunkBytes: number,
): Promise<void> {
  const chunkKeys: string[] = [];
  try {
    for (let i = 0, off = 0; off < bytes.byteLength || i === 0; i++, off += chunkBytes) {
      const key = chunkKey(name, version, path, i);
      chunkKeys.push(key);
      await set(key, new Blob([bytes.subarray(off, Math.min(off + chunkBytes, bytes.byteLength)) as Uint8Array<ArrayBuffer>]), store);
    }
  } catch (e) {
    // Do not leave unreferenced chunks taking quota (best effort: the store may be what failed).
    await delMany(chunkKeys, store).catch(() => undefined);
    throw e;
  }
  const entry = (await readEntry(store, name, version)) ?? { schema: CACHE_SCHEMA, name, version, files: {} };
  entry.files[path] = { sha256, bytes: bytes.byteLength, chunkKeys };
  await set(entryKey(name, version), entry, store);
}

/** Forgets one file of a cached version (its entry line first, then its chunks). */
export async function deleteCachedFile(store: UseStore, name: string, version: string, path: string): Promise<void> {
  const entry = await readEntry(store, name, version);
  const file = entry?.files[path];
  if (entry && file) {
    delete entry.files[path];
    await set(entryKey(name, version), entry, store);
  }
  const stale = (await keys<string>(store)).filter((k) => typeof k === 'string' && k.startsWith(`chunk:${name}@${version}/${path}#`));
  if (stale.length) await delMany(stale, store);
}

/**
 * Deletes any chunk of `keepVersion` that its entry does not reference (left by a write that failed
 * half-way, e.g. on quota) and, if `removeOtherVersions`, every other cached version of `name`.
 * Returns the versions removed. (A tab that is writing the same version at that moment can lose
 * chunks it has not yet referenced; its next load then finds them missing and re-fetches.)
 */
export async function pruneCache(store: UseStore, name: string, keepVersion: string, removeOtherVersions: boolean): Promise<string[]> {
  const all = await keys<string>(store);
  const entry = await readEntry(store, name, keepVersion);
  const referenced = new Set(Object.values(entry?.files ?? {}).flatMap((f) => f.chunkKeys));
  const removed = new Set<string>();
  const doomed: string[] = [];
  for (const k of all) {
    if (typeof k !== 'string') continue;
    const m = /^(model|chunk):([^@]+)@([^/]+?)(?:\/.*)?$/.exec(k);
    if (!m || m[2] !== name) continue;
    if (m[3] !== keepVersion) {
      if (!removeOtherVersions) continue;
      doomed.push(k);
      removed.add(m[3]!);
    } else if (m[1] === 'chunk' && !referenced.has(k)) {
      doomed.push(k);
    }
  }
  // Entries first, so a half-finished cleanup never leaves an entry pointing at deleted chunks.
  const entries = doomed.filter((k) => k.startsWith('model:'));
  if (entries.length) await delMany(entries, store);
  const chunks = doomed.filter((k) => k.startsWith('chunk:'));
  if (chunks.length) await delMany(chunks, store);
  return [...removed];
}

export async function readLatestManifest(store: UseStore, packageUrl: string): Promise<unknown> {
  return get(latestManifestKey(packageUrl), store);
}

export async function writeLatestManifest(store: UseStore, packageUrl: string, manifestJson: unknown): Promise<void> {
  await set(latestManifestKey(packageUrl), manifestJson, store);
}

