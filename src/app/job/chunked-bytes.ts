/**
 * Bytes over the control channel, which carries JSON messages of a bounded size: base64 pieces of
 * CLIP_CHUNK_BASE64_CHARS (a multiple of 4, so each piece decodes alone), numbered `index` of
 * `count`, joined on receipt. Encoded clips, checkpoints and resume states travel this way.
 */
import { CLIP_CHUNK_BASE64_CHARS } from '../../net/control.js';
import { fromBase64, toBase64 } from './render-spec.js';

export function toBase64Chunks(bytes: Uint8Array): string[] {
  const b64 = toBase64(bytes);
  const count = Math.max(1, Math.ceil(b64.length / CLIP_CHUNK_BASE64_CHARS));
  return Array.from({ length: count }, (_, i) => b64.slice(i * CLIP_CHUNK_BASE64_CHARS, (i + 1) * CLIP_CHUNK_BASE64_CHARS));
}

/** The pieces of one blob as they arrive (in any order; a repeated piece replaces the earlier one). */
export class ChunkedBytes {
  private readonly parts: (string | undefined)[];
  private received = 0;

  constructor(readonly count: number) {
    this.parts = new Array<string | undefined>(count);
  }

  /** Adds piece `index`; true once every piece is in. Throws when `count` differs from the first piece's. */
  add(index: number, count: number, base64: string): boolean {
    if (count !== this.count) throw new Error(`pieces of one blob name different counts (${this.count}, ${count})`);
    if (index < 0 || index >= count) throw new Error(`piece ${index} of ${count}`);
    if (this.parts[index] === undefined) this.received++;
    this.parts[index] = base64;
    return this.complete;
  }

  get complete(): boolean {
    return this.received === this.count;
  }

  bytes(): Uint8Array {
    if (!this.complete) throw new Error(`${this.received} of ${this.count} pieces arrived`);
    return fromBase64(this.parts.join(''));
  }
}
