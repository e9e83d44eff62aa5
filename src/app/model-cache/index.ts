/** Model package loading with an IndexedDB cache; the contract is in model-cache.ts's header. */
export {
  loadModelPackage,
  MAX_FILE_BYTES,
  type CacheReport,
  type FileSource,
  type LoadedFile,
  type LoadedModelPackage,
  type LoadModelOptions,
  type LoadProgress,
} from './model-cache.js';
export { ModelCacheError, type ModelCacheErrorCode } from './model-cache-error.js';
export { DEFAULT_CHUNK_BYTES } from './cache-store.js';
