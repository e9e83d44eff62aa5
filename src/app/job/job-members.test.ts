import { describe, expect, it } from 'vitest';
import { partitionFrames } from '../../engine/partition.js';
import { computingMembers, describePreparing, jobSpeed, lostBeforeDelivery, pairWeights, partitionWeights, stillPreparing, survivors, type JobMember } from './job-members.js';

const speed = (framesPerSecond: number) => ({ graph: 'segmented' as const, frames: 8, unetMs: 8000 / framesPerSecond, framesPerSecond });
const host: JobMember = { peerId: null, name: 'this tab (host)', engine: { phase: 'ready', provider: 'wasm', speed: speed(20) } };
const w1: JobMember = { peerId: 'p1', name: 'w1', engine: { phase: 'ready', provider: 'wasm', speed: speed(10) } };
const w2: JobMember = { peerId: 'p2', name: 'w2', engine: { phase: 'ready', provider: 'webgpu', speed: speed(30) } };

describe('job members', () => {
  it('waits for members without a report, loading or measuring; not for ready or failed ones', () => {
    const joined: JobMember = { peerId: 'p3', name: 'w3' };
    const loading: JobMember = { peerId: 'p4', name: 'w4', engine: { phase: 'loading', loadedBytes: 2, totalBytes: 5 } };
    const measuring: JobMember = { peerId: 'p5', name: 'w5', engine: { phase: 'measuring' } };
    const failed: JobMember = { peerId: 'p6', name: 'w6', engine: { phase: 'failed', error: 'no' } };
    expect(stillPreparing([host, joined, loading, measuring, failed]).map((m) => m.name)).toEqual(['w3', 'w4', 'w5']);
    expect([joined, loading, measuring].map(describePreparing)).toEqual(['w3 (starting to load the model)', 'w4 (loading the model 40%)', 'w5 (measuring its speed)']);
  });

  it('auto shares by speed when every member reported one, else evenly; the engine partition honours the weights', () => {
    expect(partitionWeights('auto', [host, w1, w2])).toEqual({ by: 'speed', weights: [20, 10, 30] });
    expect(partitionWeights('even', [host, w1, w2])).toEqual({ by: 'even', weights: 3 });
    const noSpeed: JobMember = { peerId: 'p9', name: 'w9', engine: { phase: 'ready', provider: 'wasm' } };
    expect(partitionWeights('auto', [w1, noSpeed])).toEqual({ by: 'even', weights: 2 });
    expect(() => partitionWeights('speed', [w1, noSpeed])).toThrow(/no speed from w9/);
    expect(partitionFrames(48, partitionWeights('speed', [host, w1, w2]).weights, 4).ranges).toEqual([
      { start: 0, end: 16 }, { start: 16, end: 24 }, { start: 24, end: 48 },
    ]);
  });

  it('restarts on everyone but the lost, in rank order; this tab stays rank 0; workers gone meanwhile are dropped', () => {
    const w3: JobMember = { peerId: 'p3', name: 'w3', engine: w1.engine! };
    const connected = (id: string) => id !== 'p3';
    expect(survivors([host, w1, w2, w3], new Set(['p1']), connected).map((m) => m.name)).toEqual(['this tab (host)', 'w2']);
    expect(survivors([w1, w2], new Set(['p2']), () => true).map((m) => m.name)).toEqual(['w1']);
    expect(survivors([w1], new Set(['p1']), () => true)).toEqual([]);
    // The partition of the survivors is by their speeds, as at Start.
    expect(partitionWeights('auto', survivors([host, w1, w2], new Set(['p1']), () => true))).toEqual({ by: 'speed', weights: [20, 30] });
  });

  it('a member that left after its clip arrived is no reason to restart', () => {
    const gone = [{ peerId: 'p1', name: 'w1' }, { peerId: 'p2', name: 'w2' }];
    expect(lostBeforeDelivery(gone, (id) => id === 'p1').map((m) => m.name)).toEqual(['w2']);
    expect(lostBeforeDelivery(gone, () => true)).toEqual([]);
  });

  it('a job measures each member: its clip over the median compute time of its steps', () => {
    expect(jobSpeed(16, [900, 400, 500])).toEqual({ graph: 'segmented', frames: 16, unetMs: 500, framesPerSecond: 32 });
    expect(jobSpeed(10, [400, 600])!.unetMs).toBe(500);
    expect(jobSpeed(16, [])).toBeUndefined();
    expect(jobSpeed(16, [0, Number.NaN])).toBeUndefined();
  });
});

describe('guidance split members and weights', () => {
  const m = (n: number): JobMember => ({ peerId: `p${n}`, name: `w${n}` });
  it('computes on the even prefix; fewer than two cannot split', () => {
    expect(computingMembers([m(1), m(2), m(3)], true)).toEqual({ members: [m(1), m(2)], idle: [m(3)] });
    expect(computingMembers([m(1), m(2), m(3)], false)).toEqual({ members: [m(1), m(2), m(3)], idle: [] });
    expect(computingMembers([m(1)], true).problem).toMatch(/two tabs; 1 can compute/);
  });
  it('a pair weighs, and holds, what the lesser of its two does', () => {
    expect(pairWeights({ by: 'speed', weights: [4, 2, 3, 5], capacities: [100, 80, Infinity, 60] })).toEqual({ by: 'speed', weights: [2, 3], capacities: [80, 60] });
    expect(pairWeights({ by: 'even', weights: 4 })).toEqual({ by: 'even', weights: 2 });
  });
});
