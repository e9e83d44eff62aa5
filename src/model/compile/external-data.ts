// The ONNX external-data files shared by several graphs (docs/model-package.md §Weights once).
// The whole-video UNet and its segments use the same weights; stored inline, every tab would
// download and cache them twice. Each distinct tensor is stored once (deduplicated by content) and
// every graph that uses it points at the same place. Files are cut into shards of at most
// `shardBytes`: a real VideoCrafter2 UNet (GBs) must not become one file over the loader's limit.
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Initializers smaller than this stay inline: shape constants, biases of tiny layers. */
export const EXTERNAL_MIN_BYTES = 1024;
/** Offsets are multiples of this (ORT's default tensor alignment), so a tensor can be read in place. */
export const EXTERNAL_ALIGN = 64;
/** Largest shard (a tensor larger than this gets a shard of its own). Well under MAX_FILE_BYTES (2 GiB). */
export const EXTERNAL_SHARD_BYTES = 2 ** 30;

export interface ExternalRef {
  /** The shard's file name, as the graphs record it (relative to their own directory). */
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

interface Shard {
  readonly location: string;
  /** In memory: the bytes placed so far. Streamed (ExternalData with a directory): empty. */
  readonly chunks: Uint8Array[];
  size: number;
}

export class ExternalData {
  private readonly shards: Shard[] = [];
  private readonly placed = new Map<string, ExternalRef>();
  /** Bytes asked to be placed, duplicates included (what the graphs would carry inline). */
  requestedBytes = 0;

  /** The open shard file when streaming to a directory. */
  private fd: number | null = null;
  /** While `shardsUsedBy` runs: the shards the places it hands out are in. */
  private recording: Set<string> | null = null;

  /**
   * Shards are named `${stem}_000.bin`, `${stem}_001.bin`, … With `dir`, every placed tensor is
   * written to its shard file there at once and nothing is kept (a full-size UNet is GBs); call
   * close() at the end. Without, the shards stay in memory until files().
   */
  constructor(
    private readonly stem: string,
    private readonly shardBytes = EXTERNAL_SHARD_BYTES,
    private readonly dir?: string,
  ) {}

  private append(shard: Shard, bytes: Uint8Array, copy: boolean): void {
    if (this.dir === undefined) shard.chunks.push(copy ? bytes.slice() : bytes);
    else {
      for (let done = 0; done < bytes.byteLength;) done += writeSync(this.fd!, bytes, done, bytes.byteLength - done);
    }
    shard.size += bytes.byteLength;
  }

  private openShard(): Shard {
    const shard: Shard = { location: `${this.stem}_${String(this.shards.length).padStart(3, '0')}.bin`, chunks: [], size: 0 };
    this.shards.push(shard);
    if (this.dir !== undefined) {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = openSync(join(this.dir, shard.location), 'w');
    }
    return shard;
  }

  /** Streaming: close the last shard file. */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /** Every shard: its file name and size. */
  shardList(): { location: string; bytes: number }[] {
    return this.shards.map((s) => ({ location: s.location, bytes: s.size }));
  }

  /**
   * Runs `write` (which places one graph's initializers) and returns what it returned and the
   * shards that graph points into, in shard order (SegmentPlan: a session is given only those).
   */
  shardsUsedBy<T>(write: () => T): { value: T; shards: string[] } {
    if (this.recording) throw new Error('internal: ExternalData.shardsUsedBy does not nest');
    const used = new Set<string>();
    this.recording = used;
    try {
      const value = write();
      return { value, shards: this.shards.map((s) => s.location).filter((l) => used.has(l)) };
    } finally {
      this.recording = null;
    }
  }

  /** Where `data` lives; the same bytes asked twice get the same place. */
  place(data: Uint8Array): ExternalRef {
    const ref = this.placeOnce(data);
    this.recording?.add(ref.location);
    return ref;
  }

  private placeOnce(data: Uint8Array): ExternalRef {
    this.requestedBytes += data.byteLength;
    const key = createHash('sha256').update(data).digest('hex');
    const known = this.placed.get(key);
    if (known) return known;
    let shard = this.shards.at(-1);
    const pad = shard ? (EXTERNAL_ALIGN - (shard.size % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN : 0;
    if (!shard || (shard.size > 0 && shard.size + pad + data.byteLength > this.shardBytes)) {
      shard = this.openShard();
    } else if (pad) {
      this.append(shard, new Uint8Array(pad), false);
    }
    const ref = { location: shard.location, offset: shard.size, length: data.byteLength };
    this.append(shard, data, true);
    this.placed.set(key, ref);
    return ref;
  }

  /** Total bytes of all shards. */
  get byteLength(): number {
    return this.shards.reduce((a, s) => a + s.size, 0);
  }

  /** Every shard: its file name and bytes (in-memory mode only). */
  files(): { location: string; bytes: Uint8Array }[] {
    if (this.dir !== undefined) throw new Error('internal: ExternalData streamed its shards to disk; use shardList()');
    return this.shards.map((s) => {
      const bytes = new Uint8Array(s.size);
      let at = 0;
      for (const c of s.chunks) {
        bytes.set(c, at);
        at += c.byteLength;
      }
      return { location: s.location, bytes };
    });
  }
}
