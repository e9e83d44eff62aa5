/**
 * Every limit of the signaling server, in one place. Each bounds what one client can make the
 * server hold or do, so that a hostile client costs the server a known amount and nobody else
 * anything. Imports nothing from src/.
 */

export interface ServerLimits {
  /** Rooms alive at once; creating one more fails with 429. */
  readonly maxRooms: number;
  /** Workers per room (the host's own peer is not counted); one more fails with 409. */
  readonly maxPeersPerRoom: number;
  /** A room and all its peer ids expire this long after creation. */
  readonly roomTtlMs: number;
  /** Rooms one client address (an IPv6 /64) may create per hour: without it a few anonymous
   *  requests would fill maxRooms and lock everyone else out for the rooms' lifetime. */
  readonly roomsPerClientPerHour: number;
  /** Largest room API request body; its bodies are tiny JSON objects. */
  readonly maxBodyBytes: number;
  /** Largest signaling message (an SDP offer or ICE candidate is a few KiB). */
  readonly maxSignalBytes: number;
  /** Signaling one socket may send in a burst, and per second after it. A room of 17 tabs sets
   *  up its whole mesh with ~200 messages and ~150 KiB from the host, well inside the burst. */
  readonly socketBurstBytes: number;
  readonly socketBytesPerSecond: number;
  readonly socketBurstMessages: number;
  readonly socketMessagesPerSecond: number;
  /** Signals held for a peer id of the room that is not connected (a reloading host, a worker
   *  still opening its socket), per id and per room; more are dropped. */
  readonly queueBytesPerPeer: number;
  readonly queueBytesPerRoom: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxRooms: 64,
  maxPeersPerRoom: 16,
  roomTtlMs: 6 * 60 * 60 * 1000,
  roomsPerClientPerHour: 20,
  maxBodyBytes: 16 * 1024,
  maxSignalBytes: 64 * 1024,
  socketBurstBytes: 1024 * 1024,
  socketBytesPerSecond: 256 * 1024,
  socketBurstMessages: 1000,
  socketMessagesPerSecond: 200,
  queueBytesPerPeer: 256 * 1024,
  queueBytesPerRoom: 1024 * 1024,
};

/** The defaults with `overrides` applied; every limit must be a positive integer (a zero limit
 *  would make the server refuse everything, or expire rooms as soon as they are made). */
export function resolveLimits(overrides: Partial<ServerLimits> = {}): ServerLimits {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`limit ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return limits;
}

/** Who a per-client limit counts against: the IPv4 address, or the /64 prefix of an IPv6 one
 *  (one host usually owns a whole /64 and could rotate addresses inside it). */
export function clientKey(remoteAddress: string | undefined): string {
  const address = (remoteAddress ?? 'unknown').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const groups = head.split(':').filter(Boolean);
  const tailGroups = tail.split(':').filter(Boolean);
  const missing = 8 - groups.length - tailGroups.length;
  const full = address.includes('::') ? [...groups, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tailGroups] : groups;
  return `${full.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
