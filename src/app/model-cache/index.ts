/** Model package loading with an IndexedDB cache; the contract is in model-cache.ts's header. */
export {
  loadModelPackage,
  openModelPackage,
  MAX_FILE_BYTES,
  type CacheReport,
  type FileSource,
  type LoadedFile,
  type LoadedModelPackage,
  type LoadModelOptions,
  type LoadProgress,
  type OpenedModelPackage,
} from './model-cache.js';
export { ModelCacheError, type ModelCacheErrorCode } from './model-cache-error.js';
export { DEFAULT_CHUNK_BYTES } from './cache-store.js';
