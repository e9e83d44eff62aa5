import type { Peer } from 'peerjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakePeer } from './fake-peerjs.js';
import { MESH_LIMITS } from './limits.js';
import { PeerHub } from './peer-hub.js';

const MESH = 'vi-mesh:job-1';

function setup() {
  const peer = new FakePeer('me');
  const log: string[] = [];
  const hub = new PeerHub(peer as unknown as Peer, { log: (line) => log.push(line) });
  return { peer, hub, log };
}

describe('PeerHub: what an unclaimed link may hold', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('closes at once a link whose label this tab never expects, and logs who', () => {
    const { peer, log } = setup();
    const conn = peer.incoming('stranger', 'x-flood');
    expect(conn.open).toBe(false);
    expect(log).toEqual([expect.stringMatching(/'x-flood' from stranger: label 'x-flood' is not one this tab expects/)]);
  });

  it('closes an expected label on the wrong serialization (PeerJS would reassemble its chunks unbounded)', () => {
    const { peer, log } = setup();
    expect(peer.incoming('p1', MESH, 'binary').open).toBe(false);
    expect(peer.incoming('p1', 'vi-control', 'raw').open).toBe(false);
    expect(log).toHaveLength(2);
    expect(log[0]).toMatch(/serialization 'binary', this label uses 'raw'/);
  });

  it('closes an unclaimed link flooded past earlyLinkBytes; the other links stay up', async () => {
    const { peer, hub, log } = setup();
    const flood = peer.incoming('attacker', MESH);
    const other = peer.incoming('friend', MESH);
    other.emit('data', new Uint8Array([1, 2, 3]).buffer);
    const piece = new ArrayBuffer(16 * 1024);
    let sent = 0;
    // 64 MiB offered (the probe's size); the hub must give up long before.
    while (flood.open && sent < 64 * 1024 * 1024) {
      flood.emit('data', piece);
      sent += piece.byteLength;
    }
    expect(flood.open).toBe(false);
    expect(sent).toBeLessThanOrEqual(MESH_LIMITS.earlyLinkBytes + piece.byteLength);
    expect(log).toEqual([expect.stringMatching(/'vi-mesh:job-1' from attacker: .* before its owner took them \(limit earlyLinkBytes = 65536\)/)]);
    // The other link is untouched: claimed, it replays what it held.
    const link = await hub.accept(MESH, 'friend', 1_000);
    const got: unknown[] = [];
    link.setDataHandler((d) => got.push(d));
    expect(other.open).toBe(true);
    expect(got).toHaveLength(1);
    // The flooded link can no longer be claimed.
    const refused = hub.accept(MESH, 'attacker', 10);
    vi.advanceTimersByTime(10);
    await expect(refused).rejects.toThrow(/no connection 'vi-mesh:job-1' from attacker/);
  });

  it('closes a link nobody claims within unclaimedLinkMs, and logs the limit', () => {
    const { peer, log } = setup();
    const conn = peer.incoming('idle', MESH);
    vi.advanceTimersByTime(MESH_LIMITS.unclaimedLinkMs - 1);
    expect(conn.open).toBe(true);
    vi.advanceTimersByTime(1);
    expect(conn.open).toBe(false);
    expect(log).toEqual([expect.stringMatching(/'vi-mesh:job-1' from idle: nobody claimed it within 15000 ms \(limit unclaimedLinkMs\)/)]);
  });

  it('leaves a link claimed in time alone, with its early data under the cap', async () => {
    const { peer, hub, log } = setup();
    const conn = peer.incoming('p1', MESH);
    conn.emit('data', new ArrayBuffer(MESH_LIMITS.earlyLinkBytes));
    vi.advanceTimersByTime(MESH_LIMITS.unclaimedLinkMs / 2);
    const link = await hub.accept(MESH, 'p1', 1_000);
    vi.advanceTimersByTime(MESH_LIMITS.unclaimedLinkMs);
    expect(conn.open).toBe(true);
    const got: unknown[] = [];
    link.setDataHandler((d) => got.push(d));
    conn.emit('data', new ArrayBuffer(MESH_LIMITS.earlyLinkBytes * 4)); // taken by its owner: no cap here
    expect(got).toHaveLength(2);
    expect(log).toEqual([]);
  });

  it('caps a claimed link whose owner has not taken its data yet (JSON counted by its text)', () => {
    const { peer, hub, log } = setup();
    hub.onIncoming((l) => l.label === 'vi-control'); // claims, but installs no data handler yet
    const conn = peer.incoming('w1', 'vi-control', 'json');
    conn.emit('data', { type: 'join', name: 'x'.repeat(MESH_LIMITS.earlyLinkBytes) });
    expect(conn.open).toBe(false);
    expect(log[0]).toMatch(/'vi-control' from w1: .*limit earlyLinkBytes/);
  });
});
