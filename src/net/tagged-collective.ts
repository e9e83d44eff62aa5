/**
 * The operations of the `Collective` contract built once on two primitives: `transmit` (send one
 * tagged tensor to one rank) and `deliver` (a tagged tensor arrived from one rank). Both
 * implementations (in-process, WebRTC mesh) extend this class, so halo exchange, all-gather,
 * all-reduce and barrier behave identically on both; only the transport differs.
 *
 * Messages wait in an inbox keyed by (from rank, tag) until a matching receive, so no global
 * ordering is needed. Every receive and send has a timeout; a lost peer fails everything that
 * waits on it. Knows nothing of UNets, peerjs or lit.
 */
import {
  CollectiveError,
  type Collective,
  type CollectiveStats,
  type HaloResult,
  type MessageTag,
  type WireTensor,
} from '../engine/collective.js';
import { allGatherP2P, allReduceSumP2P, barrierP2P, exchangeHaloP2P } from '../engine/collective-ops.js';
import { checkTag, checkTensor, describeTag, tagKey } from './wire-tensor.js';

/** Generous default: a step of a large model on a slow GPU can take tens of seconds per segment. */
export const DEFAULT_TIMEOUT_MS = 120_000;
/**
 * Unclaimed bytes held per peer; more means a confused or hostile peer (bad-message). Every
 * exchange waits for its partners, so an honest peer is at most about one exchange ahead: the
 * mesh's largest message (256 MiB) is ample, and a tab cannot be made to hold a GiB per peer.
 */
export const DEFAULT_MAX_INBOX_BYTES = 256 * 1024 * 1024;

export interface TaggedCollectiveOptions {
  readonly timeoutMs?: number;
  readonly maxInboxBytes?: number;
}

/** `peer-lost` and `peer-error` events carry the error; the collective stays usable for other peers. */
export class CollectivePeerEvent extends Event {
  constructor(
    type: 'peer-lost' | 'peer-error',
    readonly error: CollectiveError,
  ) {
    super(type);
  }
}

interface Waiter {
  resolve(t: WireTensor): void;
  reject(e: CollectiveError): void;
  timer: ReturnType<typeof setTimeout>;
}

export abstract class TaggedCollective extends EventTarget implements Collective {
  readonly timeoutMs: number;
  private readonly maxInboxBytes: number;
  private readonly inbox = new Map<string, WireTensor[]>();
  private readonly inboxBytes = new Map<number, number>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly lost = new Map<number, CollectiveError>();
  private closedError: CollectiveError | null = null;
  private counters: CollectiveStats = { bytesSent: 0, bytesReceived: 0, waitMs: 0 };

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    options: TaggedCollectiveOptions = {},
  ) {
    super();
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new CollectiveError('invalid-argument', `worldSize must be a positive integer, got ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new CollectiveError('invalid-argument', `rank ${rank} is outside 0..${worldSize - 1}`);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxInboxBytes = options.maxInboxBytes ?? DEFAULT_MAX_INBOX_BYTES;
  }

  /** Hands one tensor to the transport for `toRank`. Must not keep a reference to `tensor.data`. */
  protected abstract transmit(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void>;

  // ---------------------------------------------------------------- primitives for subclasses

  /** A tensor arrived from `fromRank`; the collective takes ownership of it. */
  protected deliver(fromRank: number, tag: MessageTag, tensor: WireTensor): void {
    if (this.closedError) return;
    const key = `${fromRank}|${tagKey(tag)}`;
    this.counters.bytesReceived += tensor.data.byteLength;
    const waiter = this.waiters.get(key)?.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(tensor);
      return;
    }
    const held = (this.inboxBytes.get(fromRank) ?? 0) + tensor.data.byteLength;
    if (held > this.maxInboxBytes) {
      this.reportPeerError(new CollectiveError('bad-message', `rank ${fromRank} sent more than ${this.maxInboxBytes} unclaimed bytes; dropped ${describeTag(tag)}`, fromRank, tag));
      return;
    }
    this.inboxBytes.set(fromRank, held);
    const queue = this.inbox.get(key);
    if (queue) queue.push(tensor);
    else this.inbox.set(key, [tensor]);
  }

  /** The peer is gone: everything waiting on it fails now, and every later call involving it. */
  protected markPeerLost(peerRank: number, reason: string): void {
    if (this.lost.has(peerRank) || this.closedError) return;
    const error = new CollectiveError('peer-lost', `rank ${this.rank}: lost rank ${peerRank}: ${reason}`, peerRank);
    this.lost.set(peerRank, error);
    this.rejectWaiters((from) => from === peerRank, error);
    this.dispatchEvent(new CollectivePeerEvent('peer-lost', error));
  }

  /** A bad message from a peer: reported, dropped; the peer stays connected. */
  protected reportPeerError(error: CollectiveError): void {
    this.dispatchEvent(new CollectivePeerEvent('peer-error', error));
  }

  /** Fails all pending and future calls with `closed`. */
  close(reason = 'closed'): void {
    if (this.closedError) return;
    this.closedError = new CollectiveError('closed', `rank ${this.rank}: collective closed: ${reason}`);
    this.rejectWaiters(() => true, this.closedError);
    this.inbox.clear();
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  isPeerLost(peerRank: number): boolean {
    return this.lost.has(peerRank);
  }

  // ---------------------------------------------------------------- the Collective contract

  async send(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void> {
    this.checkPeer(toRank, 'send to');
    checkTag(tag);
    checkTensor(tensor, `send to rank ${toRank}`);
    this.throwIfUnusable(toRank, tag);
    await this.withTimeout(this.transmit(toRank, tag, tensor), `sending ${describeTag(tag)} to rank ${toRank}`, toRank, tag);
    this.counters.bytesSent += tensor.data.byteLength;
  }

  recv(fromRank: number, tag: MessageTag): Promise<WireTensor> {
    try {
      this.checkPeer(fromRank, 'receive from');
      checkTag(tag);
    } catch (e) {
      return Promise.reject(e);
    }
    const key = `${fromRank}|${tagKey(tag)}`;
    const queued = this.inbox.get(key);
    if (queued && queued.length > 0) {
      const t = queued.shift()!;
      if (queued.length === 0) this.inbox.delete(key);
      this.inboxBytes.set(fromRank, (this.inboxBytes.get(fromRank) ?? 0) - t.data.byteLength);
      return Promise.resolve(t);
    }
    try {
      this.throwIfUnusable(fromRank, tag);
    } catch (e) {
      return Promise.reject(e);
    }
    const started = performance.now();
    return new Promise<WireTensor>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (t) => {
          this.counters.waitMs += performance.now() - started;
          resolve(t);
        },
        reject: (e) => {
          this.counters.waitMs += performance.now() - started;
          reject(e);
        },
        timer: setTimeout(() => {
          const list = this.waiters.get(key);
          const i = list?.indexOf(waiter) ?? -1;
          if (list && i >= 0) list.splice(i, 1);
          if (list?.length === 0) this.waiters.delete(key);
          waiter.reject(new CollectiveError('timeout', `rank ${this.rank}: no ${describeTag(tag)} from rank ${fromRank} within ${this.timeoutMs} ms`, fromRank, tag));
        }, this.timeoutMs),
      };
      const list = this.waiters.get(key);
      if (list) list.push(waiter);
      else this.waiters.set(key, [waiter]);
    });
  }

  exchangeHalo(tag: MessageTag, toLeft: WireTensor | null, toRight: WireTensor | null): Promise<HaloResult> {
    return exchangeHaloP2P(this, tag, toLeft, toRight);
  }

  allGather(tag: MessageTag, mine: WireTensor): Promise<WireTensor[]> {
    checkTensor(mine, 'allGather');
    return allGatherP2P(this, tag, mine);
  }

  allReduceSum(tag: MessageTag, values: Float64Array): Promise<Float64Array> {
    return allReduceSumP2P(this, tag, values);
  }

  barrier(tag: MessageTag): Promise<void> {
    return barrierP2P(this, tag);
  }

  stats(): CollectiveStats {
    return { ...this.counters };
  }

  resetStats(): void {
    this.counters = { bytesSent: 0, bytesReceived: 0, waitMs: 0 };
  }

  // ---------------------------------------------------------------- internals

  private checkPeer(peer: number, verb: string): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.worldSize || peer === this.rank) {
      throw new CollectiveError('invalid-argument', `rank ${this.rank}: cannot ${verb} rank ${peer} (world size ${this.worldSize})`);
    }
  }

  private throwIfUnusable(peer: number, tag: MessageTag): void {
    if (this.closedError) throw this.closedError;
    const lost = this.lost.get(peer);
    if (lost) throw new CollectiveError('peer-lost', `${lost.message} (during ${describeTag(tag)})`, peer, tag);
  }

  private rejectWaiters(match: (fromRank: number) => boolean, error: CollectiveError): void {
    for (const [key, list] of this.waiters) {
      const from = Number(key.slice(0, key.indexOf('|')));
      if (!match(from)) continue;
      for (const w of list) {
        clearTimeout(w.timer);
        w.reject(error);
      }
      this.waiters.delete(key);
    }
  }

  private withTimeout<T>(p: Promise<T>, what: string, peer: number, tag: MessageTag): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CollectiveError('timeout', `rank ${this.rank}: ${what} did not finish within ${this.timeoutMs} ms`, peer, tag)), this.timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }
}
