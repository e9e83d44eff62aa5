import { describe, expect, it } from 'vitest';
import { forgetHostRoom, recallHostRoom, rememberHostRoom } from './host-room-memory.js';
import type { CreatedRoom } from './room-api.js';

/** sessionStorage's interface over a Map (vitest runs in Node). */
function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, String(v)),
  };
}

const ROOM: CreatedRoom = {
  roomId: 'r1', hostSecret: 'hs', joinToken: 'jt', joinUrl: 'http://x/?room=r1', hostPeerId: 'p-host', hostPeerToken: 'pt',
  expiresAt: 10_000, peer: { path: '/peerjs', key: 'vi' },
};

describe('host room memory', () => {
  it('gives back the remembered room until it expires, then forgets it', () => {
    const s = memoryStorage();
    expect(recallHostRoom(0, s)).toBeNull();
    rememberHostRoom(ROOM, s);
    expect(recallHostRoom(9_999, s)).toEqual(ROOM);
    expect(recallHostRoom(10_000, s)).toBeNull();
    expect(s.length).toBe(0); // an expired room is dropped, not offered again
  });

  it('drops what does not parse or lacks a field, and forgets on request', () => {
    const s = memoryStorage();
    s.setItem('vi-host-room', '{not json');
    expect(recallHostRoom(0, s)).toBeNull();
    for (const broken of [{ ...ROOM, hostSecret: '' }, { ...ROOM, expiresAt: 'soon' }, { ...ROOM, peer: null }, [ROOM], 42]) {
      s.setItem('vi-host-room', JSON.stringify(broken));
      expect(recallHostRoom(0, s)).toBeNull();
    }
    rememberHostRoom(ROOM, s);
    forgetHostRoom(s);
    expect(recallHostRoom(0, s)).toBeNull();
  });
});
