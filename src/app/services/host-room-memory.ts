/**
 * The host tab's room, remembered in sessionStorage: per tab, kept across a reload (and a reopened
 * tab), never shared with another tab. A reloaded host page reopens the same room with its host
 * secret and peer token, so the join link stays valid and the workers in the room reconnect on their
 * own (worker-service.ts waits HOST_RETURN_WINDOW_MS for its host). What is read back is checked: the
 * storage may hold anything.
 */
import type { PeerHub } from '../../net/mesh/peer-hub.js';
import { openPeer } from './peer-session.js';
import { roomApi, type CreatedRoom } from './room-api.js';

const KEY = 'vi-host-room';
/** Reopening the room after a reload: tries to take the host's peer id back, each this long. */
const REOPEN_PEER_TIMEOUT_MS = 5_000;
const REOPEN_PEER_ATTEMPTS = 3;

export function rememberHostRoom(room: CreatedRoom, storage: Storage = sessionStorage): void {
  try {
    storage.setItem(KEY, JSON.stringify(room));
  } catch {
    // storage full or disabled: a reload then opens a new room, as before
  }
}

/** The remembered room, or null when there is none, it does not parse, or it has expired. */
export function recallHostRoom(now = Date.now(), storage: Storage = sessionStorage): CreatedRoom | null {
  let raw: unknown;
  try {
    raw = JSON.parse(storage.getItem(KEY) ?? 'null');
  } catch {
    raw = null;
  }
  const room = isCreatedRoom(raw) && raw.expiresAt > now ? raw : null;
  if (!room) forgetHostRoom(storage);
  return room;
}

export function forgetHostRoom(storage: Storage = sessionStorage): void {
  try {
    storage.removeItem(KEY);
  } catch {
    // nothing to forget
  }
}

function isCreatedRoom(x: unknown): x is CreatedRoom {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 4096;
  const peer = r.peer as Record<string, unknown> | null | undefined;
  return (['roomId', 'hostSecret', 'joinToken', 'joinUrl', 'hostPeerId', 'hostPeerToken'] as const).every((k) => str(r[k])) &&
    typeof r.expiresAt === 'number' && Number.isFinite(r.expiresAt) &&
    typeof peer === 'object' && peer !== null && typeof peer.path === 'string' && typeof peer.key === 'string';
}

/** The remembered room's host peer, opened again; null (and the room forgotten) when the room is gone. */
export async function reopenHostPeer(room: CreatedRoom, log: (line: string) => void): Promise<PeerHub | null> {
  try {
    await roomApi.members(room.roomId, room.hostSecret); // still there, and still ours
  } catch (e) {
    forgetHostRoom();
    log(`the room this tab had before it was reloaded is gone (${e instanceof Error ? e.message : String(e)}): a new room`);
    return null;
  }
  // The server frees the old page's peer id when its socket closes; a fast reload may get there first.
  for (let attempt = 1; ; attempt++) {
    try {
      return await openPeer(room.hostPeerId, room.hostPeerToken, room.peer, REOPEN_PEER_TIMEOUT_MS);
    } catch (e) {
      if (attempt < REOPEN_PEER_ATTEMPTS) continue;
      log(`could not take the host's place in the room it had before the reload (${e instanceof Error ? e.message : String(e)}): a new room`);
      return null;
    }
  }
}
