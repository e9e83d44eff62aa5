// The ONNX external-data files shared by several graphs (docs/model-package.md §Weights once).
// The whole-video UNet and its segments use the same weights; stored inline, every tab would
// download and cache them twice. Each distinct tensor is stored once (deduplicated by content) and
// every graph that uses it points at the same place. Files are cut into shards of at most
// `shardBytes`: a real VideoCrafter2 UNet (GBs) must not become one file over the loader's limit.
import { createHash } from 'node:crypto';

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
  readonly chunks: Uint8Array[];
  size: number;
}

export class ExternalData {
  private readonly shards: Shard[] = [];
  private readonly placed = new Map<string, ExternalRef>();
  /** Bytes asked to be placed, duplicates included (what the graphs would carry inline). */
  requestedBytes = 0;

  /** Shards are named `${stem}_000.bin`, `${stem}_001.bin`, … */
  constructor(
    private readonly stem: string,
    private readonly shardBytes = EXTERNAL_SHARD_BYTES,
  ) {}

  /** Where `data` lives; the same bytes asked twice get the same place. */
  place(data: Uint8Array): ExternalRef {
    this.requestedBytes += data.byteLength;
    const key = createHash('sha256').update(data).digest('hex');
    const known = this.placed.get(key);
    if (known) return known;
    let shard = this.shards.at(-1);
    const pad = shard ? (EXTERNAL_ALIGN - (shard.size % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN : 0;
    if (!shard || (shard.size > 0 && shard.size + pad + data.byteLength > this.shardBytes)) {
      shard = { location: `${this.stem}_${String(this.shards.length).padStart(3, '0')}.bin`, chunks: [], size: 0 };
      this.shards.push(shard);
    } else if (pad) {
      shard.chunks.push(new Uint8Array(pad));
      shard.size += pad;
    }
    const ref = { location: shard.location, offset: shard.size, length: data.byteLength };
    shard.chunks.push(data.slice());
    shard.size += data.byteLength;
    this.placed.set(key, ref);
    return ref;
  }

  /** Total bytes of all shards. */
  get byteLength(): number {
    return this.shards.reduce((a, s) => a + s.size, 0);
  }

  /** Every shard: its file name and bytes. */
  files(): { location: string; bytes: Uint8Array }[] {
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
