import type { Peer } from 'peerjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageTag } from '../../engine/collective.js';
import type { CollectivePeerEvent } from '../tagged-collective.js';
import { chunkMessage, type MessageHeader } from './chunker.js';
import { encodeFrame } from './framing.js';
import { FakePeer, type FakeConnection } from './fake-peerjs.js';
import { MESH_LIMITS } from './limits.js';
import { MeshCollective, type MeshOptions } from './mesh-collective.js';
import { PeerHub } from './peer-hub.js';

// This tab is rank 0 of three and dials the others; the test plays ranks 1 and 2 on the fake links.
const ROSTER = ['me', 'p1', 'p2'];
const TAG: MessageTag = { jobId: 1, step: 0, pointId: 0, kind: 'p2p' };
const header = (fromRank: number, messageId: number, shape: number[]): MessageHeader => ({ frameType: 'tensor', kind: TAG.kind, dtype: 'uint8', shape, fromRank, jobId: TAG.jobId, step: TAG.step, pointId: TAG.pointId, messageId });
const hello = (fromRank: number) => chunkMessage({ frameType: 'ping', kind: 'p2p', dtype: 'uint8', shape: [0], fromRank, jobId: 0, step: 0, pointId: 0, messageId: 0 }, new Uint8Array(0))[0]!;
const tensor = (fromRank: number, messageId: number, bytes: number, chunkBytes?: number) => chunkMessage(header(fromRank, messageId, [bytes]), new Uint8Array(bytes).fill(fromRank), chunkBytes);

interface Setup {
  readonly peer: FakePeer;
  readonly connecting: Promise<MeshCollective>;
  /** The link to `rank`, as the far side sees it. */
  link(rank: number): FakeConnection;
}

function start(options: Partial<MeshOptions> = {}): Setup {
  const peer = new FakePeer('me');
  const hub = new PeerHub(peer as unknown as Peer, { log: () => undefined });
  // peerLostMs: long, so the tests that wait a minute are not about heartbeats.
  const connecting = MeshCollective.connect({ hub, roster: ROSTER, meshId: 't', peerLostMs: 600_000, connectTimeoutMs: 5_000, ...options });
  return { peer, connecting, link: (rank) => peer.dialled.find((c) => c.peer === ROSTER[rank])! };
}

async function formed(options: Partial<MeshOptions> = {}): Promise<Setup & { mesh: MeshCollective; errors: string[] }> {
  const s = start(options);
  for (const r of [1, 2]) s.link(r).emit('data', hello(r));
  const mesh = await s.connecting;
  const errors: string[] = [];
  mesh.addEventListener('peer-error', (e) => errors.push((e as CollectivePeerEvent).error.message));
  return { ...s, mesh, errors };
}

let mesh: MeshCollective | undefined;
afterEach(() => {
  mesh?.close();
  mesh = undefined;
  vi.useRealTimers();
});

describe('MeshCollective formation', () => {
  it('resolves only once every rank has said hello, so no tensor reaches a link nobody took', async () => {
    const s = start();
    let done = false;
    void s.connecting.then(() => (done = true));
    s.link(1).emit('data', hello(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false); // rank 2 has not taken its link yet
    // Meanwhile this rank said hello itself (one ~50-byte ping per link), and nothing else.
    expect(s.link(2).dataChannel.sent.map((f) => f.byteLength)).toEqual([48]);
    s.link(2).emit('data', hello(2));
    mesh = await s.connecting;
    expect(done).toBe(true);
  });

  it('names the ranks it never heard from when the deadline passes', async () => {
    const s = start({ connectTimeoutMs: 50 });
    s.link(1).emit('data', hello(1));
    await expect(s.connecting).rejects.toThrow(/no hello from ranks \[2\] within 50 ms/);
    expect(s.link(1).open).toBe(false);
  });
});

describe('MeshCollective under hostile input: one peer-error for that peer, the other links untouched', () => {
  it('refuses a 49-byte frame declaring 512 MiB without allocating it', async () => {
    const m = await formed();
    mesh = m.mesh;
    const huge = 512 * 1024 * 1024;
    const frame = encodeFrame({ ...header(1, 7, [huge]), chunkIndex: 0, chunkCount: huge / 65536, payloadBytes: huge }, new Uint8Array(1));
    expect(frame.byteLength).toBe(49);
    const before = process.memoryUsage().arrayBuffers;
    m.link(1).emit('data', frame);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    expect(m.errors).toHaveLength(1);
    expect(m.errors[0]).toMatch(/dropped a bad frame from rank 1 \(peer p1\) \(too-large: .*268435456-byte limit/);
    // Both links still carry tensors, the offender's included.
    m.link(2).emit('data', tensor(2, 1, 10)[0]);
    m.link(1).emit('data', tensor(1, 8, 10)[0]);
    expect((await m.mesh.recv(2, TAG)).data).toEqual(new Uint8Array(10).fill(2));
    expect((await m.mesh.recv(1, TAG)).data).toEqual(new Uint8Array(10).fill(1));
    expect([m.link(1).open, m.link(2).open]).toEqual([true, true]);
  });

  it('drops a message never completed after incompleteMessageMs, freeing it', async () => {
    vi.useFakeTimers();
    const m = await formed();
    mesh = m.mesh;
    const frames = tensor(1, 3, 100 * 1024, 1024); // 100 chunks; only the first 10 ever come
    for (const f of frames.slice(0, 10)) m.link(1).emit('data', f);
    await vi.advanceTimersByTimeAsync(MESH_LIMITS.incompleteMessageMs - 2_000);
    expect(m.errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(4_000); // the sweep runs every heartbeat (2 s)
    expect(m.errors).toHaveLength(1);
    expect(m.errors[0]).toMatch(/dropped an incomplete message from rank 1 \(peer p1\) \(expired: message 3 got 10 of 100 chunks \(10240 of 102400 bytes\) within the 60000 ms limit/);
    // The rest of it, if it ever comes, is dropped quietly; rank 2 was never affected.
    for (const f of frames.slice(10)) m.link(1).emit('data', f);
    expect(m.errors).toHaveLength(1);
    m.link(2).emit('data', tensor(2, 1, 10)[0]);
    expect((await m.mesh.recv(2, TAG)).data).toEqual(new Uint8Array(10).fill(2));
  });

  it('delivers a message of the size its owner allows (maxMessageBytes), chunked', async () => {
    const m = await formed({ maxMessageBytes: 4 * 1024 * 1024 });
    mesh = m.mesh;
    for (const f of tensor(1, 5, 4 * 1024 * 1024)) m.link(1).emit('data', f);
    expect((await m.mesh.recv(1, TAG)).data.byteLength).toBe(4 * 1024 * 1024);
    expect(m.errors).toEqual([]);
  });
});
