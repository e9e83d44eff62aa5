import type { DataConnection } from 'peerjs';
import { describe, expect, it } from 'vitest';
import { BulkLink, type BulkTag } from './bulk-link.js';
import { FakeConnection } from './mesh/fake-peerjs.js';
import { encodeFrame } from './mesh/framing.js';
import { PeerLink } from './mesh/peer-hub.js';

/** Two bulk links wired back to back: what one sends, the other receives, frame by frame. */
function pair() {
  const a = new FakeConnection('host', 'vi-bulk', 'raw');
  const b = new FakeConnection('w1', 'vi-bulk', 'raw');
  const sender = new BulkLink(new PeerLink(a as unknown as DataConnection, () => undefined));
  const receiver = new BulkLink(new PeerLink(b as unknown as DataConnection, () => undefined));
  const got: { tag: BulkTag; bytes: Uint8Array }[] = [];
  const errors: string[] = [];
  receiver.onMessage((tag, bytes) => got.push({ tag, bytes }));
  receiver.onError((p) => errors.push(p));
  /** Hands every frame the sender has put on its channel to the receiver. */
  const deliver = () => {
    for (const f of a.dataChannel.sent.splice(0)) b.emit('data', f.buffer);
  };
  return { sender, receiver, got, errors, deliver, far: b };
}

describe('bulk link (whole blobs between the host and a worker)', () => {
  it('a blob of several chunks arrives whole, bit-exact, with its tag; blobs keep their order', async () => {
    const { sender, got, errors, deliver } = pair();
    const big = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7 + 3) & 255); // 5 chunks of 64 KiB
    await sender.send({ kind: 'checkpoint', jobId: 77, step: 3, rank: 2 }, big);
    await sender.send({ kind: 'clip', jobId: 77, step: 0, rank: 2 }, new Uint8Array([1, 2, 3]));
    await sender.send({ kind: 'resume', jobId: 78, step: 4, rank: 0 }, new Uint8Array(0));
    deliver();
    expect(errors).toEqual([]);
    expect(got.map((g) => g.tag)).toEqual([
      { kind: 'checkpoint', jobId: 77, step: 3, rank: 2 },
      { kind: 'clip', jobId: 77, step: 0, rank: 2 },
      { kind: 'resume', jobId: 78, step: 4, rank: 0 },
    ]);
    expect(got[0]!.bytes).toEqual(big);
    expect([...got[1]!.bytes]).toEqual([1, 2, 3]);
    expect(got[2]!.bytes.byteLength).toBe(0);
  });

  it('refuses frames that are not bulk blobs, naming why, and keeps the link up', async () => {
    const { sender, got, errors, deliver, far } = pair();
    const frame = (over: Partial<Parameters<typeof encodeFrame>[0]>) =>
      encodeFrame({ frameType: 'tensor', kind: 'p2p', dtype: 'uint8', shape: [4], fromRank: 0, jobId: 1, step: 0, pointId: 0, messageId: 9, chunkIndex: 0, chunkCount: 1, payloadBytes: 4, ...over }, new Uint8Array(4));
    far.emit('data', frame({ kind: 'halo' })); // a tensor of the mesh, not a blob
    far.emit('data', frame({ pointId: 7 })); // no such blob kind
    far.emit('data', frame({ fromRank: 64 })); // past the largest roster
    far.emit('data', 'a string');
    far.emit('data', new Uint8Array([1, 2, 3]).buffer);
    expect(got).toEqual([]);
    expect(errors).toHaveLength(5);
    expect(errors[0]).toMatch(/dropped a bad frame from w1 \(bad-kind: not a bulk blob \(tensor, halo, uint8, point 0\)\)/);
    expect(errors[1]).toMatch(/point 7/);
    expect(errors[2]).toMatch(/bad-rank/);
    await sender.send({ kind: 'clip', jobId: 5, step: 0, rank: 1 }, new Uint8Array([9]));
    deliver();
    expect(got.map((g) => [...g.bytes])).toEqual([[9]]);
  });

  it('a closed link fails what is still queued, and later sends', async () => {
    const { sender } = pair();
    sender.close('test over');
    await expect(sender.send({ kind: 'clip', jobId: 5, step: 0, rank: 1 }, new Uint8Array([9]))).rejects.toThrow(/bulk link closed: test over/);
  });
});
