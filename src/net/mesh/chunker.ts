/**
 * Splitting a message into frames and putting it back together. Pure; unit-tested in Node.
 *
 * Sender: `MessageChunker` yields one encoded frame at a time (lazily, so a queued message costs
 * no extra memory until it is actually sent), always into the same scratch buffer: a frame is
 * valid until the next call, which is all RTCDataChannel.send needs (it copies synchronously). Receiver: `Reassembler` (one per peer connection)
 * checks each chunk against the first chunk of its message and copies it into one preallocated
 * buffer; a message is handed out only when every byte has arrived, so an inconsistent stream
 * yields an error, never a wrong tensor.
 */
import { encodeFrameInto, FrameError, headerBytes, type Frame, type FrameHeader } from './framing.js';

/**
 * 64 KiB: Chromium's SCTP maxMessageSize is 256 KiB and a larger 'raw' send closes the channel
 * silently (ecosystem pitfall 1); PeerJS's own stream connection uses 32 KiB. 64 KiB keeps the
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

interface Partial {
  readonly first: FrameHeader;
  readonly buffer: Uint8Array;
  offset: number;
  nextIndex: number;
}

export interface ReassemblerLimits {
  /** Messages in flight at once from one peer (ordered channel: 1 normally, plus pings). */
  readonly maxPartialMessages: number;
  /** Bytes allocated for incomplete messages from one peer. */
  readonly maxPendingBytes: number;
}

export const DEFAULT_REASSEMBLER_LIMITS: ReassemblerLimits = { maxPartialMessages: 16, maxPendingBytes: 1024 * 1024 * 1024 };

const SAME_FIELDS = ['frameType', 'kind', 'dtype', 'fromRank', 'jobId', 'step', 'pointId', 'chunkCount', 'payloadBytes'] as const;

export class Reassembler {
  private readonly partials = new Map<number, Partial>();
  private pendingBytes = 0;

  constructor(private readonly limits: ReassemblerLimits = DEFAULT_REASSEMBLER_LIMITS) {}

  /** Takes one validated frame; returns the message when it is complete. Throws FrameError. */
  accept(frame: Frame): CompleteMessage | null {
    const h = frame.header;
    let p = this.partials.get(h.messageId);
    if (h.chunkIndex === 0) {
      if (p) {
        this.drop(h.messageId);
        throw new FrameError('bad-chunk', `message ${h.messageId} restarted at chunk 0 before it was complete`);
      }
      if (h.chunkCount === 1) {
        if (frame.chunk.byteLength !== h.payloadBytes) throw new FrameError('bad-length', `single-chunk message carries ${frame.chunk.byteLength} of ${h.payloadBytes} bytes`);
        const payload = new Uint8Array(h.payloadBytes);
        payload.set(frame.chunk);
        return { header: h, payload: payload.buffer };
      }
      if (this.partials.size >= this.limits.maxPartialMessages) throw new FrameError('bad-chunk', `more than ${this.limits.maxPartialMessages} incomplete messages from one peer`);
      if (this.pendingBytes + h.payloadBytes > this.limits.maxPendingBytes) throw new FrameError('too-large', `incomplete messages would hold over ${this.limits.maxPendingBytes} bytes`);
      p = { first: h, buffer: new Uint8Array(h.payloadBytes), offset: 0, nextIndex: 0 };
      this.partials.set(h.messageId, p);
      this.pendingBytes += h.payloadBytes;
    } else if (!p) {
      throw new FrameError('bad-chunk', `chunk ${h.chunkIndex} of message ${h.messageId}, whose first chunk never came`);
    }
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
    p.buffer.set(frame.chunk, p.offset);
    p.offset = end;
    p.nextIndex++;
    if (!last) return null;
    this.drop(h.messageId);
    return { header: p.first, payload: p.buffer.buffer as ArrayBuffer };
  }

  /** Bytes held for incomplete messages. */
  get pending(): number {
    return this.pendingBytes;
  }

  clear(): void {
    this.partials.clear();
    this.pendingBytes = 0;
  }

  private drop(messageId: number): void {
    const p = this.partials.get(messageId);
    if (!p) return;
    this.partials.delete(messageId);
    this.pendingBytes -= p.first.payloadBytes;
  }
}
