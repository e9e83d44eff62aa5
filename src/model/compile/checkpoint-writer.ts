// Writes a diffusers-layout checkpoint the way `save_pretrained` publishes one: `<stem>.safetensors`,
// or shards `<stem>-00001-of-0000N.safetensors` plus `<stem>.safetensors.index.json`. Tensors are made
// and written one at a time, so a full-size random model never sits in memory.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface TensorSpec {
  name: string;
  shape: readonly number[];
  /** The float32 values, made when the tensor is written. */
  values: () => Float32Array;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength;) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/** One safetensors file, F32, tensors in the given order. Returns its size in bytes. */
export function writeSafetensorsFile(path: string, tensors: readonly TensorSpec[], metadata: Record<string, string> = { format: 'pt' }): number {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = 4 * numel(t.shape);
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' '; // the data section starts 8-byte aligned, as upstream writes it
  const head = new TextEncoder().encode(json);
  const fd = openSync(path, 'w');
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(head.byteLength), true);
    writeAll(fd, len);
    writeAll(fd, head);
    for (const t of tensors) {
      const v = t.values();
      if (v.length !== numel(t.shape)) throw new Error(`${t.name}: ${v.length} values for shape [${t.shape}]`);
      writeAll(fd, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
  } finally {
    closeSync(fd);
  }
  return 8 + head.byteLength + offset;
}

/**
 * The checkpoint of one model folder. With `shardBytes`, tensors are packed in order into shards of at
 * most that many bytes of data (one larger tensor gets a shard of its own), with the index file.
 * Returns the files written (names inside `dir`).
 */
export function writeCheckpoint(dir: string, stem: string, tensors: readonly TensorSpec[], shardBytes?: number): string[] {
  mkdirSync(dir, { recursive: true });
  if (shardBytes === undefined) {
    writeSafetensorsFile(join(dir, `${stem}.safetensors`), tensors);
    return [`${stem}.safetensors`];
  }
  const groups: TensorSpec[][] = [];
  let size = 0;
  for (const t of tensors) {
    const bytes = 4 * numel(t.shape);
    if (!groups.length || (size > 0 && size + bytes > shardBytes)) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push(t);
    size += bytes;
  }
  const pad = (k: number) => String(k).padStart(5, '0');
  const names = groups.map((_, k) => `${stem}-${pad(k + 1)}-of-${pad(groups.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  let total = 0;
  groups.forEach((g, k) => {
    writeSafetensorsFile(join(dir, names[k]!), g);
    for (const t of g) {
      weightMap[t.name] = names[k]!;
      total += 4 * numel(t.shape);
    }
  });
  const index = `${stem}.safetensors.index.json`;
  writeFileSync(join(dir, index), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  return [...names, index];
}
