/**
 * `MeshCollective`: the Collective contract over a full mesh of WebRTC data channels (PeerJS,
 * serialization 'raw', reliable/ordered). Browser-only; the pure parts (framing, chunker,
 * send-queue) are unit-tested in Node and the whole is tested with real tabs in e2e/.
 *
 * - Formation: rank i dials every rank j > i and accepts from every j < i, on the label
 *   `vi-mesh:<meshId>`; only peer ids in the roster are accepted (the signaling server vouches
 *   for peer ids, the roster for membership). Then each rank says hello (a heartbeat ping) on
 *   every link and `connect` resolves once it has heard every rank: a rank speaks only after it
 *   has claimed its links, so no tensor is ever sent to a link nobody has claimed yet (the hub
 *   holds at most MESH_LIMITS.earlyLinkBytes there).
 * - Every byte received is untrusted: a bad frame is a `peer-error` event (code bad-message) for
 *   that peer and is dropped; it never throws into PeerJS and never becomes a tensor. So is a
 *   message over the peer's in-flight limit or not completed in time (MESH_LIMITS).
 * - Liveness: heartbeats (empty pings) every `heartbeatMs` (PeerLink.keepAlive); a peer silent for `peerLostMs`, or
 *   whose channel closes or ICE fails, is lost: `peer-lost` event, pending calls reject.
 */
import { CollectiveError, type MessageTag, type WireTensor } from '../../engine/collective.js';
import { TaggedCollective, type TaggedCollectiveOptions } from '../tagged-collective.js';
import { tensorBytes, tensorOverBuffer } from '../wire-tensor.js';
import { DEFAULT_CHUNK_BYTES, DEFAULT_REASSEMBLER_LIMITS, MessageChunker, Reassembler } from './chunker.js';
import { decodeFrame, FrameError, type FrameHeader, type FrameLimits } from './framing.js';
import { MESH_LIMITS } from './limits.js';
import { MESH_LABEL_PREFIX, type PeerHub, type PeerLink } from './peer-hub.js';
import { Roster } from './roster.js';
import { SendQueue, type ChannelLike } from './send-queue.js';

export interface MeshOptions extends TaggedCollectiveOptions {
  readonly hub: PeerHub;
  /** Peer ids by rank; must contain this tab's peer id. */
  readonly roster: readonly string[];
  /** Namespaces this mesh's connections (a job id, a mesh-check id). */
  readonly meshId: string;
  readonly chunkBytes?: number;
  readonly highWaterBytes?: number;
  readonly lowWaterBytes?: number;
  /**
   * Largest message accepted from a peer, and the bytes of its incomplete messages held at once;
   * MESH_LIMITS.maxMessageBytes by default. Raise it for a model whose exchanges are bigger.
   */
  readonly maxMessageBytes?: number;
  /** 2 s: cheap (one 50-byte frame per peer) and well inside peerLostMs. */
  readonly heartbeatMs?: number;
  /** 15 s of silence means lost: longer than any GC or tab hiccup, short enough to reassign a clip. */
  readonly peerLostMs?: number;
  readonly connectTimeoutMs?: number;
}

interface PeerState {
  readonly rank: number;
  readonly link: PeerLink;
  readonly queue: SendQueue;
  readonly reassembler: Reassembler;
}

export class MeshCollective extends TaggedCollective {
  private readonly peers: (PeerState | null)[];
  private readonly limits: FrameLimits;
  private readonly chunkBytes: number;
  private nextMessageId = 1;
  private readonly probes = new Map<number, (ok: boolean) => void>();
  /** Ranks not heard from yet; `connect` resolves once it is empty. */
  private readonly unheard = new Set<number>();
  private readonly formed: Promise<void>;
  private settleFormed!: { resolve(): void; reject(e: CollectiveError): void };
  private readonly expiryTimer: ReturnType<typeof setInterval>;

  /**
   * Forms the mesh: resolves when a channel to every other rank is open and every rank has said
   * hello on it, within `connectTimeoutMs` (30 s) in all.
   */
  static async connect(options: MeshOptions): Promise<MeshCollective> {
    const roster = new Roster(options.roster, options.hub.peerId);
    const timeoutMs = options.connectTimeoutMs ?? 30_000;
    const startedAt = Date.now();
    const links = await openLinks(options, roster, timeoutMs);
    const mesh = new MeshCollective(roster, links, options);
    try {
      await withTimeout(mesh.formed, timeoutMs - (Date.now() - startedAt));
    } catch (e) {
      const silent = [...mesh.unheard];
      mesh.close('the mesh did not form');
      if (e instanceof CollectiveError) throw e;
      throw new CollectiveError('timeout', `rank ${roster.rank}: mesh ${options.meshId}: no hello from ranks [${silent.join(', ')}] within ${timeoutMs} ms (their tabs did not take the links)`);
    }
    return mesh;
  }

  private constructor(
    readonly roster: Roster,
    links: (PeerLink | null)[],
    options: MeshOptions,
  ) {
    super(roster.rank, roster.worldSize, options);
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    const maxMessageBytes = options.maxMessageBytes ?? MESH_LIMITS.maxMessageBytes;
    this.limits = { maxMessageBytes, worldSize: roster.worldSize };
    const heartbeatMs = options.heartbeatMs ?? 2_000;
    const peerLostMs = options.peerLostMs ?? 15_000;
    links.forEach((l, r) => l && this.unheard.add(r));
    this.formed = new Promise<void>((resolve, reject) => (this.settleFormed = { resolve, reject }));
    this.formed.catch(() => undefined);
    if (this.unheard.size === 0) this.settleFormed.resolve();
    const reassemblerLimits = { ...DEFAULT_REASSEMBLER_LIMITS, maxInFlightBytes: maxMessageBytes }; // one message at a time per ordered channel
    this.peers = links.map((link, rank) => {
      if (!link) return null;
      const state: PeerState = {
        rank,
        link,
        queue: new SendQueue(link.conn.dataChannel as unknown as ChannelLike, { highWaterBytes: options.highWaterBytes, lowWaterBytes: options.lowWaterBytes }),
        reassembler: new Reassembler(reassemblerLimits),
      };
      link.setDataHandler((data) => this.onData(state, data));
      link.onClose((reason) => this.onLinkClosed(state, reason));
      // a peer silent for peerLostMs is closed by its link, and so lost through the onClose above
      link.keepAlive({ intervalMs: heartbeatMs, silenceMs: peerLostMs, ping: () => this.heartbeat(state) });
      this.heartbeat(state); // the hello: this rank has taken its links and listens
      return state;
    });
    // Incomplete messages past their time limit are dropped even when their peer sends nothing more.
    this.expiryTimer = setInterval(() => this.expireIncomplete(), heartbeatMs);
  }

  /** Round trip of a ping carrying `payloadBytes` to `rank` and an empty pong back, in ms. */
  async probe(rank: number, payloadBytes = 0): Promise<number> {
    const peer = this.peerOrThrow(rank);
    const nonce = this.newMessageId();
    const t0 = performance.now();
    const answered = new Promise<boolean>((resolve) => {
      this.probes.set(nonce, resolve);
      setTimeout(() => resolve(false), this.timeoutMs);
    });
    await peer.queue.enqueue(this.chunker('ping', nonce, new Uint8Array(payloadBytes)), { urgent: payloadBytes === 0 });
    const ok = await answered;
    this.probes.delete(nonce);
    if (!ok) throw new CollectiveError('timeout', `rank ${this.rank}: no pong from rank ${rank} within ${this.timeoutMs} ms`, rank);
    return performance.now() - t0;
  }

  /** The raw data channel to `rank` (diagnostics and tests; sending on it bypasses framing). */
  rawChannel(rank: number): RTCDataChannel {
    return this.peerOrThrow(rank).link.conn.dataChannel;
  }

  override close(reason = 'closed'): void {
    clearInterval(this.expiryTimer);
    super.close(reason);
    for (const p of this.peers) {
      p?.queue.fail(new Error(`mesh closed: ${reason}`));
      p?.link.close();
    }
  }

  protected transmit(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void> {
    const peer = this.peerOrThrow(toRank);
    const header = { frameType: 'tensor', kind: tag.kind, dtype: tensor.dtype, shape: tensor.shape, fromRank: this.rank, jobId: tag.jobId, step: tag.step, pointId: tag.pointId, messageId: this.newMessageId() } as const;
    return peer.queue.enqueue(new MessageChunker(header, tensorBytes(tensor), this.chunkBytes));
  }

  // ---------------------------------------------------------------- receive path

  private onData(peer: PeerState, data: unknown): void {
    try {
      if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) throw new FrameError('truncated', `non-binary message (${typeof data})`);
      const frame = decodeFrame(data, this.limits);
      if (frame.header.fromRank !== peer.rank) throw new FrameError('bad-rank', `frame claims rank ${frame.header.fromRank} on the channel of rank ${peer.rank}`);
      this.heardFrom(peer.rank);
      const message = peer.reassembler.accept(frame);
      if (message) this.onMessage(peer, message.header, message.payload);
    } catch (e) {
      this.reportDropped(peer, 'a bad frame', e);
    }
  }

  /** A limit hit or a bad frame: a `peer-error` for that peer alone (its link and everyone else's stay up). */
  private reportDropped(peer: PeerState, what: string, e: unknown): void {
    const detail = e instanceof FrameError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    this.reportPeerError(new CollectiveError('bad-message', `rank ${this.rank}: dropped ${what} from rank ${peer.rank} (peer ${peer.link.peerId}) (${detail})`, peer.rank));
  }

  private expireIncomplete(): void {
    for (const peer of this.peers) {
      if (!peer) continue;
      for (const e of peer.reassembler.expire()) this.reportDropped(peer, 'an incomplete message', e);
    }
  }

  private onMessage(peer: PeerState, h: FrameHeader, payload: ArrayBuffer): void {
    switch (h.frameType) {
      case 'tensor':
        this.deliver(peer.rank, { jobId: h.jobId, step: h.step, pointId: h.pointId, kind: h.kind }, tensorOverBuffer(h.dtype, h.shape, payload));
        return;
      case 'ping':
        if (h.messageId !== 0) void peer.queue.enqueue(this.chunker('pong', h.messageId, new Uint8Array(0)), { urgent: true }).catch(() => undefined);
        return;
      case 'pong':
        this.probes.get(h.messageId)?.(true);
        return;
    }
  }

  // ---------------------------------------------------------------- internals

  private heartbeat(peer: PeerState): void {
    void peer.queue.enqueue(this.chunker('ping', 0, new Uint8Array(0)), { urgent: true }).catch(() => undefined);
  }

  private heardFrom(rank: number): void {
    if (this.unheard.delete(rank) && this.unheard.size === 0) this.settleFormed.resolve();
  }

  private onLinkClosed(peer: PeerState, reason: string): void {
    peer.queue.fail(new Error(reason));
    peer.reassembler.clear(); // a lost peer's half-received messages will never complete
    if (this.unheard.has(peer.rank)) this.settleFormed.reject(new CollectiveError('peer-lost', `rank ${this.rank}: lost rank ${peer.rank} while the mesh formed: ${reason}`, peer.rank));
    this.markPeerLost(peer.rank, reason);
  }

  private chunker(frameType: 'ping' | 'pong', nonce: number, payload: Uint8Array): MessageChunker {
    return new MessageChunker({ frameType, kind: 'p2p', dtype: 'uint8', shape: [payload.byteLength], fromRank: this.rank, jobId: 0, step: 0, pointId: 0, messageId: nonce }, payload, this.chunkBytes);
  }

  private newMessageId(): number {
    const id = this.nextMessageId;
    this.nextMessageId = id >= 0xffffffff ? 1 : id + 1; // 0 is the heartbeat nonce
    return id;
  }

  private peerOrThrow(rank: number): PeerState {
    const p = this.peers[rank];
    if (!p) throw new CollectiveError('invalid-argument', `rank ${this.rank}: no channel to rank ${rank}`);
    return p;
  }
}

/** Phase one of `connect`: dials every higher rank, accepts every lower one, and waits until all are open. */
async function openLinks(options: MeshOptions, roster: Roster, timeoutMs: number): Promise<(PeerLink | null)[]> {
  const label = `${MESH_LABEL_PREFIX}${options.meshId}`;
  const me = roster.rank;
  const links: (PeerLink | null)[] = roster.peerIds.map(() => null);
  const pending = roster.peerIds.map(async (peerId, r) => {
    if (r === me) return;
    const link = r > me ? options.hub.dial(peerId, label, 'raw', { rank: me }) : await options.hub.accept(label, peerId, timeoutMs);
    links[r] = link;
    await link.opened;
  });
  try {
    await withTimeout(
      Promise.allSettled(pending).then((rs) => rs.find((x) => x.status === 'rejected') && Promise.reject(new Error('failed'))),
      timeoutMs,
    );
  } catch {
    const missing = links.map((l, r) => (r !== me && (!l || !l.conn.open) ? r : -1)).filter((r) => r >= 0);
    for (const l of links) l?.close();
    throw new CollectiveError('timeout', `rank ${me}: mesh ${options.meshId} could not open channels to ranks [${missing.join(', ')}] within ${timeoutMs} ms`);
  }
  return links;
}

/** `promise`, or a rejection once `ms` have passed. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('deadline')), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
