/**
 * Splitting a message into frames and putting it back together. Pure; unit-tested in Node.
 *
 * Sender: `MessageChunker` yields one encoded frame at a time (lazily, so a queued message costs
 * no extra memory until it is actually sent), always into the same scratch buffer: a frame is
 * valid until the next call, which is all RTCDataChannel.send needs (it copies synchronously).
 *
 * Receiver: `Reassembler` (one per peer connection) checks each chunk against the first chunk of
 * its message and keeps a copy of it; a message is handed out, in one buffer, only when every byte
 * has arrived, so an inconsistent stream yields an error, never a wrong tensor. A declared size is
 * only a claim: it is checked against the peer's in-flight limit before anything is kept, memory
 * grows with the bytes that actually arrive, and a message not completed in time is dropped.
 */
import { encodeFrameInto, FrameError, headerBytes, type Frame, type FrameHeader } from './framing.js';
import { MESH_LIMITS } from './limits.js';

/**
 * 64 KiB: Chromium's SCTP maxMessageSize is 256 KiB and a larger 'raw' send closes the channel
 * silently, with no `error` event; PeerJS's own stream connection uses 32 KiB. 64 KiB keeps the
 * per-frame header overhead at 0.1% and is measured in scripts/bench-net.ts.
 */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;

export type MessageHeader = Omit<FrameHeader, 'chunkIndex' | 'chunkCount' | 'payloadBytes'>;

export function chunkCountFor(payloadBytes: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / chunkBytes));
}

export class MessageChunker {
  private index = 0;
  readonly chunkCount: number;
  private scratch: Uint8Array<ArrayBuffer> | null = null;

  constructor(
    private readonly header: MessageHeader,
    private readonly payload: Uint8Array,
    private readonly chunkBytes: number = DEFAULT_CHUNK_BYTES,
  ) {
    if (!(chunkBytes > 0)) throw new RangeError(`chunkBytes must be positive, got ${chunkBytes}`);
    this.chunkCount = chunkCountFor(payload.byteLength, chunkBytes);
  }

  /** The next encoded frame (a view of the scratch buffer, valid until the next call), or null when done. */
  next(): Uint8Array<ArrayBuffer> | null {
    if (this.index >= this.chunkCount) return null;
    const start = this.index * this.chunkBytes;
    const chunk = this.payload.subarray(start, Math.min(start + this.chunkBytes, this.payload.byteLength));
    this.scratch ??= new Uint8Array(headerBytes(this.header.shape.length) + Math.min(this.chunkBytes, this.payload.byteLength));
    const length = encodeFrameInto({ ...this.header, chunkIndex: this.index, chunkCount: this.chunkCount, payloadBytes: this.payload.byteLength }, chunk, this.scratch);
    this.index++;
    return this.scratch.subarray(0, length);
  }

  get done(): boolean {
    return this.index >= this.chunkCount;
  }
}

/** All frames of a message at once (tests, small messages). */
export function chunkMessage(header: MessageHeader, payload: Uint8Array, chunkBytes = DEFAULT_CHUNK_BYTES): ArrayBuffer[] {
  const c = new MessageChunker(header, payload, chunkBytes);
  const out: ArrayBuffer[] = [];
  for (let f = c.next(); f; f = c.next()) out.push(f.slice().buffer);
  return out;
}

export interface CompleteMessage {
  readonly header: FrameHeader;
  /** Exactly payloadBytes long, in a buffer of its own (aligned for any typed array). */
  readonly payload: ArrayBuffer;
}

/** A message whose first chunk has arrived. */
interface Partial {
  readonly first: FrameHeader;
  /** Copies of the chunks so far: memory follows the bytes the peer actually sent, never the size it declared. */
  readonly parts: Uint8Array[];
  offset: number;
  nextIndex: number;
  /** now() after which the message is dropped (expire, or its next chunk). */
  readonly deadline: number;
}

/** A message refused or dropped part-way: its remaining chunks are dropped quietly, so one refusal is one report. */
interface Discard {
  readonly chunkCount: number;
  readonly deadline: number;
}

export interface ReassemblerLimits {
  /** Messages in flight at once from one peer. */
  readonly maxIncompleteMessages: number;
  /** Declared bytes of one peer's incomplete messages, together; checked before anything is kept. */
  readonly maxInFlightBytes: number;
  /** From a message's first chunk to its last. */
  readonly incompleteMessageMs: number;
}

export const DEFAULT_REASSEMBLER_LIMITS: ReassemblerLimits = {
  maxIncompleteMessages: MESH_LIMITS.maxIncompleteMessages,
  maxInFlightBytes: MESH_LIMITS.maxMessageBytes,
  incompleteMessageMs: MESH_LIMITS.incompleteMessageMs,
};

const SAME_FIELDS = ['frameType', 'kind', 'dtype', 'fromRank', 'jobId', 'step', 'pointId', 'chunkCount', 'payloadBytes'] as const;

export class Reassembler {
  private readonly partials = new Map<number, Partial>();
  private readonly discards = new Map<number, Discard>();
  private pendingBytes = 0;

  constructor(
    private readonly limits: ReassemblerLimits = DEFAULT_REASSEMBLER_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes one validated frame; returns the message when it is complete, null while it is not (or
   * when the frame belongs to a message already refused). Throws FrameError.
   */
  accept(frame: Frame): CompleteMessage | null {
    const h = frame.header;
    if (h.chunkIndex === 0) return this.acceptFirst(frame);
    if (this.skipDiscarded(h)) return null;
    const p = this.partials.get(h.messageId);
    if (!p) throw new FrameError('bad-chunk', `chunk ${h.chunkIndex} of message ${h.messageId}, whose first chunk never came`);
    if (this.now() > p.deadline) {
      this.abandon(h.messageId);
      throw new FrameError('expired', `message ${h.messageId}: chunk ${h.chunkIndex} of ${h.chunkCount} came after the ${this.limits.incompleteMessageMs} ms limit to complete a message (incompleteMessageMs); dropped`);
    }
    return this.append(p, frame);
  }

  /** Drops the incomplete messages past their time limit, freeing their memory; one error for each. */
  expire(): FrameError[] {
    const now = this.now();
    for (const [id, d] of this.discards) if (now > d.deadline) this.discards.delete(id);
    const errors: FrameError[] = [];
    for (const [id, p] of this.partials) {
      if (now <= p.deadline) continue;
      this.abandon(id);
      errors.push(new FrameError('expired', `message ${id} got ${p.nextIndex} of ${p.first.chunkCount} chunks (${p.offset} of ${p.first.payloadBytes} bytes) within the ${this.limits.incompleteMessageMs} ms limit to complete a message (incompleteMessageMs); dropped`));
    }
    return errors;
  }

  /** Declared bytes of the incomplete messages (what the in-flight limit counts). */
  get pending(): number {
    return this.pendingBytes;
  }

  /** Bytes actually held for incomplete messages. */
  get held(): number {
    let bytes = 0;
    for (const p of this.partials.values()) bytes += p.offset;
    return bytes;
  }

  clear(): void {
    this.partials.clear();
    this.discards.clear();
    this.pendingBytes = 0;
  }

  private acceptFirst(frame: Frame): CompleteMessage | null {
    const h = frame.header;
    this.discards.delete(h.messageId); // the id is reused by a new message
    if (this.partials.has(h.messageId)) {
      this.abandon(h.messageId);
      throw new FrameError('bad-chunk', `message ${h.messageId} restarted at chunk 0 before it was complete`);
    }
    if (h.chunkCount === 1) {
      if (frame.chunk.byteLength !== h.payloadBytes) throw new FrameError('bad-length', `single-chunk message carries ${frame.chunk.byteLength} of ${h.payloadBytes} bytes`);
      return { header: h, payload: frame.chunk.slice().buffer };
    }
    this.admit(h);
    const p: Partial = { first: h, parts: [], offset: 0, nextIndex: 0, deadline: this.now() + this.limits.incompleteMessageMs };
    this.partials.set(h.messageId, p);
    this.pendingBytes += h.payloadBytes;
    return this.append(p, frame);
  }

  /** Refuses a new chunked message over a limit on its declared size, before a byte of it is kept. */
  private admit(h: FrameHeader): void {
    const L = this.limits;
    let refusal: FrameError | null = null;
    if (this.partials.size >= L.maxIncompleteMessages) {
      refusal = new FrameError('bad-chunk', `message ${h.messageId}: more than ${L.maxIncompleteMessages} incomplete messages from one peer (maxIncompleteMessages); refused`);
    } else if (this.pendingBytes + h.payloadBytes > L.maxInFlightBytes) {
      refusal = new FrameError('too-large', `message ${h.messageId} declares ${h.payloadBytes} bytes; with ${this.pendingBytes} already in flight that is over the ${L.maxInFlightBytes}-byte in-flight limit per peer (maxInFlightBytes); refused`);
    }
    if (!refusal) return;
    this.discard(h.messageId, h.chunkCount);
    throw refusal;
  }

  private append(p: Partial, frame: Frame): CompleteMessage | null {
    const h = frame.header;
    for (const f of SAME_FIELDS) {
      if (h[f] !== p.first[f]) {
        this.drop(h.messageId);
        throw new FrameError('bad-chunk', `chunk ${h.chunkIndex} of message ${h.messageId} changes ${f} from ${p.first[f]} to ${h[f]}`);
      }
    }
    if (h.shape.length !== p.first.shape.length || h.shape.some((d, i) => d !== p.first.shape[i])) {
      this.drop(h.messageId);
      throw new FrameError('bad-chunk', `chunk ${h.chunkIndex} of message ${h.messageId} changes the shape`);
    }
    if (h.chunkIndex !== p.nextIndex) {
      this.drop(h.messageId);
      throw new FrameError('bad-chunk', `message ${h.messageId}: chunk ${h.chunkIndex} arrived, expected ${p.nextIndex}`);
    }
    const last = h.chunkIndex === h.chunkCount - 1;
    const end = p.offset + frame.chunk.byteLength;
    if (end > h.payloadBytes || (last && end !== h.payloadBytes) || (!last && frame.chunk.byteLength === 0)) {
      this.drop(h.messageId);
      throw new FrameError('bad-length', `message ${h.messageId}: chunk ${h.chunkIndex} ends at byte ${end} of ${h.payloadBytes}`);
    }
    p.parts.push(frame.chunk.slice()); // the frame is a view of the received buffer
    p.offset = end;
    p.nextIndex++;
    if (!last) return null;
    this.drop(h.messageId);
    return { header: p.first, payload: joinParts(p.parts, h.payloadBytes) };
  }

  /** Drops an incomplete message and quietly drops the rest of its chunks. */
  private abandon(messageId: number): void {
    const p = this.partials.get(messageId);
    if (!p) return;
    this.drop(messageId);
    this.discard(messageId, p.first.chunkCount);
  }

  private discard(messageId: number, chunkCount: number): void {
    // Bounded like the partials: the oldest record goes first (its later chunks are then reported).
    if (this.discards.size >= this.limits.maxIncompleteMessages) this.discards.delete(this.discards.keys().next().value!);
    this.discards.set(messageId, { chunkCount, deadline: this.now() + this.limits.incompleteMessageMs });
  }

  /** True when `h` belongs to a discarded message (forgotten after its last chunk). */
  private skipDiscarded(h: FrameHeader): boolean {
    const d = this.discards.get(h.messageId);
    if (!d) return false;
    if (h.chunkIndex >= d.chunkCount - 1) this.discards.delete(h.messageId);
    return true;
  }

  private drop(messageId: number): void {
    const p = this.partials.get(messageId);
    if (!p) return;
    this.partials.delete(messageId);
    this.pendingBytes -= p.first.payloadBytes;
  }
}

/** One buffer of its own (aligned for any typed array) holding the parts in order. */
function joinParts(parts: readonly Uint8Array[], bytes: number): ArrayBuffer {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out.buffer;
}
