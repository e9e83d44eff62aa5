/**
 * Bytes over the control channel, which carries JSON messages of a bounded size: base64 pieces of
 * CLIP_CHUNK_BASE64_CHARS (a multiple of 4, so each piece decodes alone), numbered `index` of
 * `count`, joined on receipt. Encoded clips, checkpoints and resume states travel this way.
 */
import { CLIP_CHUNK_BASE64_CHARS } from '../../net/control.js';
import { fromBase64, toBase64 } from './render-spec.js';

/** One piece as the chunk messages carry it (clip-chunk, checkpoint-chunk, resume-chunk). */
export interface Base64Piece {
  readonly index: number;
  readonly count: number;
  readonly base64: string;
}

/** The pieces of `bytes`, to spread into chunk messages: `send({ type: 'clip-chunk', jobId, rank, ...piece })`. */
export function toBase64Pieces(bytes: Uint8Array): Base64Piece[] {
  const b64 = toBase64(bytes);
  const count = Math.max(1, Math.ceil(b64.length / CLIP_CHUNK_BASE64_CHARS));
  return Array.from({ length: count }, (_, index) => ({ index, count, base64: b64.slice(index * CLIP_CHUNK_BASE64_CHARS, (index + 1) * CLIP_CHUNK_BASE64_CHARS) }));
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
