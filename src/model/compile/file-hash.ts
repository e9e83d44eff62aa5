// sha256 and size of a file read in chunks: package files can be larger than one buffer (a full-size
// model's weight shards, a 5.6 GB checkpoint).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 16 * 1024 * 1024;

export function hashFile(path: string): { bytes: number; sha256: string } {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = new Uint8Array(CHUNK);
    let bytes = 0;
    for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0; bytes += n) hash.update(buf.subarray(0, n));
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}
