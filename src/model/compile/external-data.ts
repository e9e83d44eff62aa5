// One ONNX external-data file shared by several graphs (docs/model-package.md §Weights once).
// The whole-video UNet and its segments use the same weights; stored inline, every tab would
// download and cache them twice. Each distinct tensor is stored once (deduplicated by content) and
// every graph that uses it points at the same offset.
import { createHash } from 'node:crypto';

/** Initializers smaller than this stay inline: shape constants, biases of tiny layers. */
export const EXTERNAL_MIN_BYTES = 1024;
/** Offsets are multiples of this (ORT's default tensor alignment), so a tensor can be read in place. */
export const EXTERNAL_ALIGN = 64;

export interface ExternalRef {
  readonly offset: number;
  readonly length: number;
}

export class ExternalDataFile {
  private readonly chunks: Uint8Array[] = [];
  private readonly placed = new Map<string, ExternalRef>();
  private size = 0;
  /** Bytes asked to be placed, duplicates included (what the graphs would carry inline). */
  requestedBytes = 0;

  /** `location` is the file name the graphs record (relative to their own directory). */
  constructor(readonly location: string) {}

  /** Where `data` lives in the file; the same bytes asked twice get the same place. */
  place(data: Uint8Array): ExternalRef {
    this.requestedBytes += data.byteLength;
    const key = createHash('sha256').update(data).digest('hex');
    const known = this.placed.get(key);
    if (known) return known;
    const pad = (EXTERNAL_ALIGN - (this.size % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
    if (pad) this.chunks.push(new Uint8Array(pad));
    const ref = { offset: this.size + pad, length: data.byteLength };
    this.chunks.push(data.slice());
    this.size = ref.offset + ref.length;
    this.placed.set(key, ref);
    return ref;
  }

  get byteLength(): number {
    return this.size;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}
