/**
 * Typed errors of the model loader (model-cache.ts). Each carries a string `code` that survives a
 * worker boundary as data (text from `toString()` would lose the code); messages name the package,
 * the file and the values.
 */
export type ModelCacheErrorCode =
  | 'invalid-argument' // a caller's option breaks a stated rule
  | 'manifest-unavailable' // manifest.json could not be fetched and no cached copy exists
  | 'bad-manifest' // manifest.json is not a valid model manifest
  | 'file-unavailable' // a package file could not be fetched (HTTP status or network error)
  | 'bad-file-size' // a fetched file's length differs from the manifest's `bytes`
  | 'bad-file-hash'; // a fetched file's sha256 differs from the manifest's `sha256`

export class ModelCacheError extends Error {
  override readonly name = 'ModelCacheError';
  constructor(
    readonly code: ModelCacheErrorCode,
    message: string,
    /** The package file the error is about, when there is one. */
    readonly file?: string,
  ) {
    super(message);
  }

  toData(): { code: ModelCacheErrorCode; message: string; file?: string } {
    return { code: this.code, message: this.message, ...(this.file !== undefined ? { file: this.file } : {}) };
  }
}
