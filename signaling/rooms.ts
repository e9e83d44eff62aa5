/**
 * Rooms, members and peer admission: the state behind the room API (signaling/server.ts).
 *
 * A room has an unguessable id, a host secret (lists members, closes the room) and a join token
 * (carried by the join link). Joining issues a PeerJS peer id bound to the room plus a peer token;
 * the PeerServer admits a WebSocket only for an issued (id, token) pair. Pure: no I/O, an injected
 * clock, so the limits and expiry are unit-tested without waiting. Imports nothing from src/.
 */
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { newPeerId, newSecret, secretsEqual } from './tokens.js';

export type RoomLimits = Pick<ServerLimits, 'maxRooms' | 'maxPeersPerRoom' | 'roomTtlMs' | 'roomsPerClientPerHour'>;

const HOUR_MS = 60 * 60 * 1000;

export type MemberRole = 'host' | 'worker';

export interface Member {
  readonly peerId: string;
  readonly role: MemberRole;
  readonly name: string;
  readonly joinedAt: number;
  connected: boolean;
}

interface PeerCredential {
  readonly roomId: string;
  readonly peerToken: string;
}

export interface Room {
  readonly roomId: string;
  readonly hostSecret: string;
  readonly joinToken: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly hostPeerId: string;
  readonly members: Map<string, Member>;
}

/** An error the HTTP layer turns into a status code and a JSON body `{error: {code, message}}`. */
export class RoomError extends Error {
  override readonly name = 'RoomError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CreatedRoom {
  readonly roomId: string;
  readonly hostSecret: string;
  readonly joinToken: string;
  readonly hostPeerId: string;
  readonly hostPeerToken: string;
  readonly expiresAt: number;
}

export interface JoinedPeer {
  readonly roomId: string;
  readonly peerId: string;
  readonly peerToken: string;
  readonly hostPeerId: string;
  readonly expiresAt: number;
}

const NAME_MAX_CHARS = 64;

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();
  private readonly credentials = new Map<string, PeerCredential>();
  /** When each client created its rooms in the last hour. */
  private readonly createdBy = new Map<string, number[]>();

  constructor(
    readonly limits: RoomLimits = DEFAULT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  get roomCount(): number {
    this.sweep();
    return this.rooms.size;
  }

  /** A new room for `client` (see clientKey): at most roomsPerClientPerHour per client. */
  create(client: string): CreatedRoom {
    this.sweep();
    const createdAt = this.now();
    const recent = (this.createdBy.get(client) ?? []).filter((t) => t > createdAt - HOUR_MS);
    if (recent.length >= this.limits.roomsPerClientPerHour) {
      const waitMin = Math.ceil((recent[0]! + HOUR_MS - createdAt) / 60_000);
      throw new RoomError(429, 'too-many-rooms-from-client', `${client} created ${recent.length} rooms in the last hour (roomsPerClientPerHour ${this.limits.roomsPerClientPerHour}); try again in ${waitMin} min`);
    }
    if (this.rooms.size >= this.limits.maxRooms) {
      throw new RoomError(429, 'too-many-rooms', `the server already has ${this.rooms.size} rooms (maxRooms ${this.limits.maxRooms}); try again later`);
    }
    this.createdBy.set(client, [...recent, createdAt]);
    const roomId = newSecret();
    const hostPeerId = newPeerId(roomId);
    const hostPeerToken = newSecret();
    const room: Room = {
      roomId,
      hostSecret: newSecret(),
      joinToken: newSecret(),
      createdAt,
      expiresAt: createdAt + this.limits.roomTtlMs,
      hostPeerId,
      members: new Map(),
    };
    room.members.set(hostPeerId, { peerId: hostPeerId, role: 'host', name: 'host', joinedAt: createdAt, connected: false });
    this.rooms.set(roomId, room);
    this.credentials.set(hostPeerId, { roomId, peerToken: hostPeerToken });
    return { roomId, hostSecret: room.hostSecret, joinToken: room.joinToken, hostPeerId, hostPeerToken, expiresAt: room.expiresAt };
  }

  join(roomId: string, joinToken: unknown, name: unknown): JoinedPeer {
    const room = this.room(roomId);
    if (!secretsEqual(joinToken, room.joinToken)) throw new RoomError(403, 'bad-token', 'the join token does not match this room');
    const workers = [...room.members.values()].filter((m) => m.role === 'worker').length;
    if (workers >= this.limits.maxPeersPerRoom) {
      throw new RoomError(409, 'room-full', `the room already has ${workers} workers (maxPeersPerRoom ${this.limits.maxPeersPerRoom})`);
    }
    const peerId = newPeerId(roomId);
    const peerToken = newSecret();
    room.members.set(peerId, { peerId, role: 'worker', name: cleanName(name, `worker-${workers + 1}`), joinedAt: this.now(), connected: false });
    this.credentials.set(peerId, { roomId, peerToken });
    return { roomId, peerId, peerToken, hostPeerId: room.hostPeerId, expiresAt: room.expiresAt };
  }

  /** Members in join order, host first. Only the host secret may list them. */
  members(roomId: string, hostSecret: unknown): Member[] {
    const room = this.room(roomId);
    if (!secretsEqual(hostSecret, room.hostSecret)) throw new RoomError(403, 'not-host', 'only the host (with the host secret) may list members');
    return [...room.members.values()].map((m) => ({ ...m }));
  }

  /** A member leaves with its own peer token, or the host removes it with the host secret. */
  leave(roomId: string, peerId: unknown, secret: unknown): void {
    const room = this.room(roomId);
    if (typeof peerId !== 'string' || !room.members.has(peerId)) throw new RoomError(404, 'no-such-member', 'no such member in this room');
    const cred = this.credentials.get(peerId);
    const allowed = secretsEqual(secret, room.hostSecret) || (cred !== undefined && secretsEqual(secret, cred.peerToken));
    if (!allowed) throw new RoomError(403, 'bad-token', 'leaving needs the peer token of that member or the host secret');
    room.members.delete(peerId);
    this.credentials.delete(peerId);
  }

  /** The host closes the room; returns the peer ids that were in it (to disconnect them). */
  close(roomId: string, hostSecret: unknown): string[] {
    const room = this.room(roomId);
    if (!secretsEqual(hostSecret, room.hostSecret)) throw new RoomError(403, 'not-host', 'only the host may close the room');
    return this.drop(room);
  }

  /** PeerServer admission: true only for a peer id the room API issued, with its token. */
  admit(peerId: unknown, peerToken: unknown): boolean {
    this.sweep();
    if (typeof peerId !== 'string') return false;
    const cred = this.credentials.get(peerId);
    return cred !== undefined && secretsEqual(peerToken, cred.peerToken);
  }

  roomOfPeer(peerId: string): string | undefined {
    return this.credentials.get(peerId)?.roomId;
  }

  setConnected(peerId: string, connected: boolean): void {
    const roomId = this.credentials.get(peerId)?.roomId;
    const member = roomId === undefined ? undefined : this.rooms.get(roomId)?.members.get(peerId);
    if (member) member.connected = connected;
  }

  /** Removes expired rooms and creation records older than an hour; returns the peer ids that lost their room. */
  sweep(): string[] {
    const t = this.now();
    const dropped: string[] = [];
    for (const room of this.rooms.values()) if (room.expiresAt <= t) dropped.push(...this.drop(room));
    for (const [client, times] of this.createdBy) if (times.at(-1)! <= t - HOUR_MS) this.createdBy.delete(client);
    return dropped;
  }

  private drop(room: Room): string[] {
    const ids = [...room.members.keys()];
    for (const id of ids) this.credentials.delete(id);
    this.rooms.delete(room.roomId);
    return ids;
  }

  private room(roomId: string): Room {
    this.sweep();
    const room = this.rooms.get(roomId);
    if (!room) throw new RoomError(404, 'no-such-room', 'no such room (it may have expired or been closed)');
    return room;
  }
}

function cleanName(name: unknown, fallback: string): string {
  if (typeof name !== 'string') return fallback;
  const cleaned = name.replace(/[^\p{L}\p{N} ._-]/gu, '').trim().slice(0, NAME_MAX_CHARS);
  return cleaned === '' ? fallback : cleaned;
}
