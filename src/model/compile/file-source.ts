// A ByteSource over a file on disk (Node): reads a byte range when asked, so a checkpoint of any
// size (a VideoCrafter2 UNet is 5.6 GB in fp32, beyond readFileSync's 2 GiB) is read one tensor at a
// time. The descriptor stays open for the life of the process, like the compile it serves.
import { fstatSync, openSync, readSync } from 'node:fs';
import type { ByteSource } from '../safetensors.js';

export function fileSource(path: string): ByteSource {
  const fd = openSync(path, 'r');
  const byteLength = fstatSync(fd).size;
  return {
    byteLength,
    read(offset: number, length: number): Uint8Array {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new Error(`${path}: unexpected end of file at byte ${offset + done} (file shrank while reading?)`);
        done += n;
      }
      return out;
    },
  };
}
