/**
 * A bulk link: whole byte blobs between the host tab and one worker tab (checkpoints, encoded clips,
 * resume states, a job's prompt embeddings), over a binary data channel labelled `vi-bulk`, with the mesh's own framing,
 * chunking, back-pressure and receive limits. The control link (control-link.ts) carries the small
 * JSON messages beside it; a blob never rides on JSON as base64.
 * A blob is tagged (kind, job id, step, rank); what the tag means is the app's. Every frame is
 * checked before a byte of it is kept, and a malformed one costs its message, not the link.
 */
import { FrameError, decodeFrame, type FrameLimits } from './mesh/framing.js';
import { MessageChunker, Reassembler, DEFAULT_REASSEMBLER_LIMITS } from './mesh/chunker.js';
import { MESH_LIMITS } from './mesh/limits.js';
import { BULK_LABEL, type PeerHub, type PeerLink } from './mesh/peer-hub.js';
import { SendQueue, type ChannelLike } from './mesh/send-queue.js';

/** What a blob is; on the wire, its exchange point id (the frames' kind is 'p2p'). */
export const BULK_KINDS = ['checkpoint', 'clip', 'resume', 'promptEmbeddings'] as const;
export type BulkKind = (typeof BULK_KINDS)[number];

export interface BulkTag {
  readonly kind: BulkKind;
  readonly jobId: number;
  readonly step: number;
  /** The rank the blob is of (the sender's own, or the one a resume state is for). */
  readonly rank: number;
}

/** Ranks a tag may name: a mesh's largest roster. */
const MAX_RANKS = 64;

export class BulkLink {
  private readonly queue: SendQueue;
  private readonly reassembler = new Reassembler({ ...DEFAULT_REASSEMBLER_LIMITS, maxInFlightBytes: MESH_LIMITS.maxMessageBytes });
  private readonly limits: FrameLimits = { maxMessageBytes: MESH_LIMITS.maxMessageBytes, worldSize: MAX_RANKS };
  private handler: ((tag: BulkTag, bytes: Uint8Array) => void) | null = null;
  private errorHandler: (problem: string) => void = () => undefined;
  private nextMessageId = 1;

  constructor(readonly link: PeerLink) {
    this.queue = new SendQueue(link.conn.dataChannel as unknown as ChannelLike);
    link.onClose((reason) => {
      this.queue.fail(new Error(`bulk link closed: ${reason}`));
      this.reassembler.clear();
    });
  }

  get peerId(): string {
    return this.link.peerId;
  }

  /** Resolves once every frame is handed to the channel (it waits while the channel's buffer is full). */
  send(tag: BulkTag, bytes: Uint8Array): Promise<void> {
    const messageId = this.nextMessageId;
    this.nextMessageId = messageId >= 0xffffffff ? 1 : messageId + 1;
    const header = { frameType: 'tensor', kind: 'p2p', dtype: 'uint8', shape: [bytes.byteLength], fromRank: tag.rank, jobId: tag.jobId, step: tag.step, pointId: BULK_KINDS.indexOf(tag.kind), messageId } as const;
    return this.queue.enqueue(new MessageChunker(header, bytes));
  }

  /** The first handler starts delivery, including what arrived before it (the link buffers it). */
  onMessage(h: (tag: BulkTag, bytes: Uint8Array) => void): void {
    const first = this.handler === null;
    this.handler = h;
    if (first) this.link.setDataHandler((data) => this.onData(data));
  }

  /** A frame or message refused: what and why (the link stays up). */
  onError(h: (problem: string) => void): void {
    this.errorHandler = h;
  }

  close(reason: string): void {
    this.link.close(reason);
  }

  private onData(data: unknown): void {
    try {
      if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) throw new FrameError('truncated', `non-binary message (${typeof data})`);
      for (const e of this.reassembler.expire()) this.errorHandler(`dropped an incomplete blob from ${this.peerId}: ${e.message}`);
      const frame = decodeFrame(data, this.limits);
      const h = frame.header;
      const kind = BULK_KINDS[h.pointId];
      if (h.frameType !== 'tensor' || h.kind !== 'p2p' || h.dtype !== 'uint8' || kind === undefined) throw new FrameError('bad-kind', `not a bulk blob (${h.frameType}, ${h.kind}, ${h.dtype}, point ${h.pointId})`);
      const message = this.reassembler.accept(frame);
      if (message) this.handler?.({ kind, jobId: h.jobId, step: h.step, rank: h.fromRank }, new Uint8Array(message.payload));
    } catch (e) {
      const detail = e instanceof FrameError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
      this.errorHandler(`dropped a bad frame from ${this.peerId} (${detail})`);
    }
  }
}

/** Worker side: dial the host's bulk link; rejects when it does not open within `timeoutMs`. */
export async function dialBulk(hub: PeerHub, hostPeerId: string, timeoutMs: number): Promise<BulkLink> {
  return new BulkLink(await hub.dialOpen(hostPeerId, BULK_LABEL, 'raw', timeoutMs));
}

/** Worker side: refuse every bulk link dialled to this tab (only the host's, which it dials, counts). */
export function refuseBulkLinks(hub: PeerHub): void {
  hub.refuseIncoming(BULK_LABEL);
}

/** Host side: accept bulk links from room members only. */
export function acceptBulkLinks(hub: PeerHub, isMember: (peerId: string) => Promise<boolean>, onLink: (bulk: BulkLink) => void): void {
  hub.acceptIncoming(BULK_LABEL, isMember, (link) => onLink(new BulkLink(link)));
}
