/**
 * The mesh check a worker runs when the host starts one: for every pair (a, b), a < b, in one
 * global order, rank a measures the small-message RTT and the throughput to rank b while the
 * others wait at a barrier, so pairs don't compete for the link. Each rank reports its own pairs.
 */
import type { PairMeasurement } from '../protocol.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';

const RTT_SAMPLES = 10;

export async function runMeshCheck(mesh: MeshCollective, jobId: number, probeBytes: number): Promise<PairMeasurement[]> {
  const mine: PairMeasurement[] = [];
  let point = 0;
  for (let a = 0; a < mesh.worldSize; a++) {
    for (let b = a + 1; b < mesh.worldSize; b++) {
      await mesh.barrier({ jobId, step: 0, pointId: point++, kind: 'barrier' });
      if (mesh.rank !== a) continue;
      const rtts: number[] = [];
      for (let i = 0; i < RTT_SAMPLES; i++) rtts.push(await mesh.probe(b, 0));
      rtts.sort((x, y) => x - y);
      const rttMs = rtts[Math.floor(rtts.length / 2)]!;
      const ms = await mesh.probe(b, probeBytes);
      mine.push({ fromRank: a, toRank: b, rttMs, mbPerS: probeBytes / 1e6 / (Math.max(ms - rttMs, 0.001) / 1e3) });
    }
  }
  await mesh.barrier({ jobId, step: 1, pointId: 0, kind: 'barrier' });
  return mine;
}
