/**
 * The host tab's room, remembered in sessionStorage: per tab, kept across a reload (and a reopened
 * tab), never shared with another tab. A reloaded host page reopens the same room with its host
 * secret and peer token, so the join link stays valid and the workers in the room reconnect on their
 * own (worker-service.ts waits HOST_RETURN_WINDOW_MS for its host). What is read back is checked: the
 * storage may hold anything.
 */
import type { CreatedRoom } from './room-api.js';

const KEY = 'vi-host-room';

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
