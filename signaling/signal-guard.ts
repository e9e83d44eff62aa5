/**
 * What the PeerServer may see of a client: which sockets it admits and which of their messages it
 * relays. PeerServer itself trusts its clients (it takes the last of repeated query parameters,
 * queues messages for absent ids without a cap, and throws on anything that is not JSON), so
 * every socket and every message passes through here first. Imports nothing from src/.
 */
import type { ServerLimits } from './limits.js';

/** The query parameters a PeerJS client sends on its socket URL. */
const PEER_QUERY_KEYS = new Set(['key', 'id', 'token', 'version']);

export interface PeerQuery {
  readonly key: string;
  readonly id: string;
  readonly token: string;
}

/**
 * The socket URL's (key, id, token), or null unless each is present exactly once and nothing
 * else is there. With one occurrence each, our admission check and PeerServer read the same id:
 * with repeats they read different ones, and a client could be admitted as someone else.
 */
export function parsePeerQuery(url: string | undefined): PeerQuery | null {
  let params: URLSearchParams;
  try {
    params = new URL(url ?? '', 'http://x').searchParams;
  } catch {
    return null;
  }
  const seen = new Map<string, string>();
  for (const [name, value] of params) {
    if (!PEER_QUERY_KEYS.has(name) || seen.has(name)) return null;
    seen.set(name, value);
  }
  const key = seen.get('key');
  const id = seen.get('id');
  const token = seen.get('token');
  return key && id && token ? { key, id, token } : null;
}

/** The message types a PeerJS client sends: to the server (HEARTBEAT) or to a peer (the rest). */
const RELAYED_TYPES = new Set(['OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE']);

export type SignalVerdict =
  | { readonly action: 'relay' }
  | { readonly action: 'drop'; readonly reason: string }
  /** The sender broke a limit meant to stop floods: its socket is closed. */
  | { readonly action: 'close'; readonly reason: string };

export interface SignalGuardDeps {
  readonly limits: ServerLimits;
  readonly roomOfPeer: (peerId: string) => string | undefined;
  readonly isConnected: (peerId: string) => boolean;
  readonly now?: () => number;
}

/** Token buckets of one sender's socket. */
interface SenderBudget {
  bytes: number;
  messages: number;
  at: number;
}

/** Bytes PeerServer holds for one absent id, as counted here since `since`. */
interface HeldSignals {
  readonly roomId: string;
  bytes: number;
  readonly since: number;
}

/**
 * How long PeerServer keeps signals for an absent id: it drops a queue that nobody read for
 * `SIGNAL_EXPIRE_MS`, checking every `SIGNAL_EXPIRE_CHECK_MS` (both passed to PeerServer). After
 * HELD_WINDOW_MS a count here is stale and restarts, so at most about two windows' worth
 * (2 × queueBytesPerPeer) is ever held for one id.
 */
export const SIGNAL_EXPIRE_MS = 5_000;
export const SIGNAL_EXPIRE_CHECK_MS = 1_000;
const HELD_WINDOW_MS = SIGNAL_EXPIRE_MS + SIGNAL_EXPIRE_CHECK_MS + 1_000;

export class SignalGuard {
  private readonly budgets = new Map<string, SenderBudget>();
  private readonly held = new Map<string, HeldSignals>();
  private readonly now: () => number;

  constructor(private readonly deps: SignalGuardDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The verdict on one message of `senderId`'s socket, `data` as it came off the wire. */
  check(senderId: string, data: string, byteLength: number): SignalVerdict {
    const overBudget = this.spend(senderId, byteLength);
    if (overBudget) return { action: 'close', reason: overBudget };
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      return { action: 'drop', reason: 'not JSON' };
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return { action: 'drop', reason: 'not a JSON object' };
    const { type, dst } = message as { type?: unknown; dst?: unknown };
    if (type === 'HEARTBEAT' && dst === undefined) return { action: 'relay' };
    if (typeof type !== 'string' || !RELAYED_TYPES.has(type)) return { action: 'drop', reason: `message type ${JSON.stringify(type)?.slice(0, 40)} is not relayed` };
    const roomId = this.deps.roomOfPeer(senderId);
    if (typeof dst !== 'string' || roomId === undefined || this.deps.roomOfPeer(dst) !== roomId) return { action: 'drop', reason: 'destination is not in the sender’s room' };
    if (this.deps.isConnected(dst)) return { action: 'relay' };
    return this.hold(dst, roomId, byteLength);
  }

  /** `peerId` connected: PeerServer has handed it what it held for it. */
  delivered(peerId: string): void {
    this.held.delete(peerId);
  }

  /** `peerId` was revoked (left, or its room closed or expired): nothing of it is kept. A socket
   *  that merely reconnects keeps its budget, so reconnecting does not refill it. */
  forget(peerId: string): void {
    this.budgets.delete(peerId);
    this.held.delete(peerId);
  }

  private spend(senderId: string, byteLength: number): string | null {
    const { limits } = this.deps;
    const t = this.now();
    const b = this.budgets.get(senderId) ?? { bytes: limits.socketBurstBytes, messages: limits.socketBurstMessages, at: t };
    const seconds = (t - b.at) / 1000;
    b.bytes = Math.min(limits.socketBurstBytes, b.bytes + seconds * limits.socketBytesPerSecond) - byteLength;
    b.messages = Math.min(limits.socketBurstMessages, b.messages + seconds * limits.socketMessagesPerSecond) - 1;
    b.at = t;
    this.budgets.set(senderId, b);
    if (b.bytes < 0) return `over ${limits.socketBurstBytes} bytes in a burst or ${limits.socketBytesPerSecond} bytes/s (socketBurstBytes, socketBytesPerSecond)`;
    if (b.messages < 0) return `over ${limits.socketBurstMessages} messages in a burst or ${limits.socketMessagesPerSecond}/s (socketBurstMessages, socketMessagesPerSecond)`;
    return null;
  }

  private hold(dst: string, roomId: string, byteLength: number): SignalVerdict {
    const { limits } = this.deps;
    const t = this.now();
    for (const [id, h] of this.held) if (t - h.since > HELD_WINDOW_MS) this.held.delete(id);
    const forPeer = this.held.get(dst) ?? { roomId, bytes: 0, since: t };
    if (forPeer.bytes + byteLength > limits.queueBytesPerPeer) return { action: 'drop', reason: `${dst} is not connected and already has ${forPeer.bytes} bytes waiting (queueBytesPerPeer ${limits.queueBytesPerPeer})` };
    let forRoom = 0;
    for (const h of this.held.values()) if (h.roomId === roomId) forRoom += h.bytes;
    if (forRoom + byteLength > limits.queueBytesPerRoom) return { action: 'drop', reason: `the room already has ${forRoom} bytes waiting for absent peers (queueBytesPerRoom ${limits.queueBytesPerRoom})` };
    forPeer.bytes += byteLength;
    this.held.set(dst, forPeer);
    return { action: 'relay' };
  }
}
