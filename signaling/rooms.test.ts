import { describe, expect, it } from 'vitest';
import { RoomError, RoomRegistry, type RoomLimits } from './rooms.js';

function registry(limits: Partial<RoomLimits> = {}) {
  let t = 1_000;
  const reg = new RoomRegistry({ maxRooms: 4, maxPeersPerRoom: 3, roomTtlMs: 60_000, roomsPerClientPerHour: 100, ...limits }, () => t);
  return { reg, advance: (ms: number) => (t += ms) };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof RoomError) return `${e.status} ${e.code}`;
    throw e;
  }
  return 'no error';
}

describe('RoomRegistry', () => {
  it('creates rooms with unguessable, distinct secrets', () => {
    const { reg } = registry();
    const a = reg.create('1.2.3.4');
    const b = reg.create('1.2.3.4');
    for (const s of [a.roomId, a.hostSecret, a.joinToken, a.hostPeerToken]) expect(s).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(new Set([a.roomId, a.hostSecret, a.joinToken, b.roomId, b.joinToken]).size).toBe(5);
    expect(a.hostPeerId).toMatch(/^vi-[A-Za-z0-9]+-[0-9a-f]+$/);
  });

  it('joins with the right token only, and admits only issued peer ids', () => {
    const { reg } = registry();
    const room = reg.create('1.2.3.4');
    expect(code(() => reg.join(room.roomId, 'wrong', 'w'))).toBe('403 bad-token');
    expect(code(() => reg.join(room.roomId, undefined, 'w'))).toBe('403 bad-token');
    expect(code(() => reg.join('nope', room.joinToken, 'w'))).toBe('404 no-such-room');
    const peer = reg.join(room.roomId, room.joinToken, 'gpu box <b>');
    expect(peer.hostPeerId).toBe(room.hostPeerId);
    expect(reg.admit(peer.peerId, peer.peerToken)).toBe(true);
    expect(reg.admit(room.hostPeerId, room.hostPeerToken)).toBe(true);
    expect(reg.admit(peer.peerId, room.hostPeerToken)).toBe(false);
    expect(reg.admit('vi-stranger', 'x')).toBe(false);
    expect(reg.admit(undefined, undefined)).toBe(false);
    const members = reg.members(room.roomId, room.hostSecret);
    expect(members.map((m) => [m.role, m.name])).toEqual([
      ['host', 'host'],
      ['worker', 'gpu box b'],
    ]);
  });

  it('lists members for the host secret only', () => {
    const { reg } = registry();
    const room = reg.create('1.2.3.4');
    expect(code(() => reg.members(room.roomId, room.joinToken))).toBe('403 not-host');
    expect(reg.members(room.roomId, room.hostSecret)).toHaveLength(1);
  });

  it('enforces max rooms and max peers per room', () => {
    const { reg } = registry({ maxRooms: 2, maxPeersPerRoom: 2 });
    const room = reg.create('1.2.3.4');
    reg.create('1.2.3.4');
    expect(code(() => reg.create('1.2.3.4'))).toBe('429 too-many-rooms');
    reg.join(room.roomId, room.joinToken, 'a');
    reg.join(room.roomId, room.joinToken, 'b');
    expect(code(() => reg.join(room.roomId, room.joinToken, 'c'))).toBe('409 room-full');
  });

  it('leave frees the slot and revokes the peer id', () => {
    const { reg } = registry({ maxPeersPerRoom: 1 });
    const room = reg.create('1.2.3.4');
    const p = reg.join(room.roomId, room.joinToken, 'a');
    expect(code(() => reg.leave(room.roomId, p.peerId, 'wrong'))).toBe('403 bad-token');
    reg.leave(room.roomId, p.peerId, p.peerToken);
    expect(reg.admit(p.peerId, p.peerToken)).toBe(false);
    const q = reg.join(room.roomId, room.joinToken, 'b');
    reg.leave(room.roomId, q.peerId, room.hostSecret); // the host may remove a member
    expect(code(() => reg.leave(room.roomId, q.peerId, room.hostSecret))).toBe('404 no-such-member');
  });

  it('expires rooms and their peer ids', () => {
    const { reg, advance } = registry({ roomTtlMs: 10_000 });
    const room = reg.create('1.2.3.4');
    const p = reg.join(room.roomId, room.joinToken, 'a');
    advance(9_999);
    expect(reg.admit(p.peerId, p.peerToken)).toBe(true);
    advance(1);
    expect(reg.admit(p.peerId, p.peerToken)).toBe(false);
    expect(code(() => reg.join(room.roomId, room.joinToken, 'b'))).toBe('404 no-such-room');
    expect(reg.roomCount).toBe(0);
  });

  it('close drops the room and returns its peers', () => {
    const { reg } = registry();
    const room = reg.create('1.2.3.4');
    const p = reg.join(room.roomId, room.joinToken, 'a');
    expect(code(() => reg.close(room.roomId, 'x'))).toBe('403 not-host');
    expect(reg.close(room.roomId, room.hostSecret).sort()).toEqual([room.hostPeerId, p.peerId].sort());
    expect(reg.admit(room.hostPeerId, room.hostPeerToken)).toBe(false);
  });
});
