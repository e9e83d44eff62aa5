import { describe, expect, it } from 'vitest';
import { CollectiveError, type WireTensor } from '../engine/collective.js';
import { CONTRACT_CASES, randomTensor, runContractCase } from './collective-contract.js';
import { createInProcessCollectives } from './in-process-collective.js';
import { CollectivePeerEvent } from './tagged-collective.js';

const TIMEOUT_MS = 300;

describe.each([1, 2, 3, 4])('InProcessCollective contract, world size %i', (worldSize) => {
  // Cases that need more ranks than this world size are not generated (rather than skipped).
  for (const k of CONTRACT_CASES.filter((c) => worldSize >= c.minWorld)) {
    it(k.name, async () => {
      const ranks = createInProcessCollectives(worldSize, { timeoutMs: TIMEOUT_MS });
      const results = await Promise.all(ranks.map((c) => runContractCase(c, k.name, { timeoutMs: TIMEOUT_MS })));
      for (const r of results) expect(r.error ?? 'ok').toBe('ok');
    });
  }
});

describe('InProcessCollective', () => {
  it('a lost peer fails pending and later calls with peer-lost and an event', async () => {
    const [a, b] = createInProcessCollectives(2, { timeoutMs: 5_000 });
    const events: CollectivePeerEvent[] = [];
    a!.addEventListener('peer-lost', (e) => events.push(e as CollectivePeerEvent));
    const pending = a!.recv(1, { jobId: 1, step: 0, pointId: 0, kind: 'p2p' });
    b!.disconnectFrom(0, 'tab closed');
    await expect(pending).rejects.toMatchObject({ code: 'peer-lost', peerRank: 1 });
    await expect(a!.send(1, { jobId: 1, step: 1, pointId: 0, kind: 'p2p' }, randomTensor(1, 'uint8', [1]))).rejects.toBeInstanceOf(CollectiveError);
    expect(events.map((e) => e.error.code)).toEqual(['peer-lost']);
  });

  it('close rejects pending calls with closed', async () => {
    const [a] = createInProcessCollectives(2);
    const pending = a!.recv(1, { jobId: 1, step: 0, pointId: 0, kind: 'p2p' });
    a!.close('job cancelled');
    await expect(pending).rejects.toMatchObject({ code: 'closed' });
  });

  it('counts bytes and wait time', async () => {
    const [a, b] = createInProcessCollectives(2);
    const t: WireTensor = randomTensor(3, 'float32', [10]);
    await Promise.all([a!.send(1, { jobId: 1, step: 0, pointId: 0, kind: 'p2p' }, t), b!.recv(0, { jobId: 1, step: 0, pointId: 0, kind: 'p2p' })]);
    expect(a!.stats().bytesSent).toBe(40);
    expect(b!.stats().bytesReceived).toBe(40);
    b!.resetStats();
    expect(b!.stats()).toEqual({ bytesSent: 0, bytesReceived: 0, waitMs: 0 });
  });
});
