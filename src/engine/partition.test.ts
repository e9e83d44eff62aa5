import { describe, expect, it } from 'vitest';
import { partitionFrames, rankOfFrame, toGlobal, toLocal, validatePartition, type Partition } from './partition.js';

const lengths = (p: Partition) => p.ranges.map((r) => r.end - r.start);

describe('partitionFrames', () => {
  it('splits evenly, remainder to the lowest ranks', () => {
    expect(lengths(partitionFrames(40, 3, 4))).toEqual([14, 13, 13]);
    expect(lengths(partitionFrames(48, 4, 8))).toEqual([12, 12, 12, 12]);
    expect(partitionFrames(10, 2, 4).ranges).toEqual([{ start: 0, end: 5 }, { start: 5, end: 10 }]);
  });

  it('weights by speed with largest-remainder rounding', () => {
    expect(lengths(partitionFrames(100, [1, 3], 4))).toEqual([25, 75]);
    expect(lengths(partitionFrames(10, [1, 1, 1], 1))).toEqual([4, 3, 3]);
    expect(lengths(partitionFrames(11, [2, 1, 1], 1))).toEqual([5, 3, 3]); // exact 5.5, 2.75, 2.75: the two .75 win
  });

  it('never goes below minClipFrames; the rest is shared by weight', () => {
    const p = partitionFrames(40, [10, 1, 1], 8);
    expect(lengths(p)).toEqual([24, 8, 8]);
    expect(lengths(partitionFrames(24, [100, 1, 1], 8))).toEqual([8, 8, 8]);
    expect(lengths(partitionFrames(30, [1, 5, 5, 1], 5))).toEqual([5, 10, 10, 5]);
  });

  it('covers the video contiguously for many shapes', () => {
    for (let n = 1; n <= 60; n++) {
      for (let w = 1; w <= 6; w++) {
        for (const min of [1, 4, 8]) {
          if (w > 1 && w * min > n) {
            expect(() => partitionFrames(n, w, min)).toThrow(expect.objectContaining({ code: 'video-too-short' }));
            continue;
          }
          const weights = Array.from({ length: w }, (_, r) => 1 + ((r * 7) % 3));
          const p = partitionFrames(n, weights, min);
          validatePartition(p, n, min);
          expect(p.ranges.length).toBe(w);
        }
      }
    }
  });

  it('one rank takes the whole video even if shorter than the halo', () => {
    expect(partitionFrames(3, 1, 8).ranges).toEqual([{ start: 0, end: 3 }]);
  });

  it('says clearly when the video is too short', () => {
    expect(() => partitionFrames(20, 3, 8)).toThrow(
      'partitionFrames: totalFrames 20 is too short for 3 ranks with minClipFrames 8 (each clip must be at least the largest halo): need at least 24 frames, or use at most 2 ranks',
    );
  });

  it('caps a clip at its rank\'s capacity and re-shares the rest by speed', () => {
    // The fast rank would take 75 of 100 frames; it holds 40, so the others share 60 by weight 1 : 1.
    expect(lengths(partitionFrames(100, [1, 3, 1], 4, [Infinity, 40, Infinity]))).toEqual([30, 40, 30]);
    // Capping one raises another over its own capacity: both clamp.
    expect(lengths(partitionFrames(100, [1, 3, 1], 4, [25, 40, Infinity]))).toEqual([25, 40, 35]);
    // Exactly the combined capacity.
    expect(lengths(partitionFrames(24, [5, 1, 1], 8, [8, 8, 8]))).toEqual([8, 8, 8]);
    // Capacities and the minimum clip together.
    expect(lengths(partitionFrames(40, [10, 1, 1], 8, [20, Infinity, Infinity]))).toEqual([20, 10, 10]);
  });

  it('is the speed-weighted split when no capacity binds', () => {
    for (const [n, w, min] of [[100, [1, 3], 4], [40, [10, 1, 1], 8], [11, [2, 1, 1], 1], [30, [1, 5, 5, 1], 5]] as const) {
      const without = lengths(partitionFrames(n, w, min));
      expect(lengths(partitionFrames(n, w, min, w.map(() => Infinity)))).toEqual(without);
      expect(lengths(partitionFrames(n, w, min, without))).toEqual(without); // capacities exactly met do not bind
    }
  });

  it('covers the video within every capacity for many shapes', () => {
    for (let n = 8; n <= 80; n += 3) {
      for (let w = 2; w <= 5; w++) {
        const weights = Array.from({ length: w }, (_, r) => 1 + ((r * 5) % 4));
        const caps = Array.from({ length: w }, (_, r) => 4 + ((r * 11 + n) % 30));
        if (caps.reduce((a, b) => a + b, 0) < n || w * 4 > n) continue;
        const p = partitionFrames(n, weights, 4, caps);
        validatePartition(p, n, 4);
        lengths(p).forEach((len, r) => expect(len).toBeLessThanOrEqual(caps[r]!));
      }
    }
  });

  it('says clearly when the ranks cannot hold the video together', () => {
    expect(() => partitionFrames(100, [1, 1], 8, [40, 50])).toThrow(
      'partitionFrames: totalFrames 100 is more than the ranks can hold together (90 frames: largest clip per rank 40, 50); render at most 90 frames, or add members',
    );
    expect(() => partitionFrames(100, [1, 1], 8, [40, 50])).toThrow(expect.objectContaining({ code: 'video-too-long' }));
    expect(() => partitionFrames(10, 1, 8, [9])).toThrow(expect.objectContaining({ code: 'video-too-long' }));
    expect(() => partitionFrames(40, [1, 1], 8, [4, 100])).toThrow(/capacities\[0\] must be an integer >= 8/);
    expect(() => partitionFrames(40, [1, 1], 8, [100])).toThrow(/capacities must be one largest clip per rank \(2\)/);
  });

  it('rejects bad arguments naming them', () => {
    expect(() => partitionFrames(0, 2, 1)).toThrow(/totalFrames must be an integer >= 1, got 0/);
    expect(() => partitionFrames(10, [1, 0], 1)).toThrow(/weights\[1\] must be a finite number > 0, got 0/);
    expect(() => partitionFrames(10, [], 1)).toThrow(/weights must be/);
    expect(() => partitionFrames(10, 2, 0)).toThrow(/minClipFrames must be an integer >= 1/);
    expect(() => partitionFrames(10, 2.5, 1)).toThrow(/worldSize must be an integer >= 1, got 2.5/);
  });
});

describe('partition helpers', () => {
  const p = partitionFrames(40, 3, 4);
  it('maps frames and ranks', () => {
    expect(rankOfFrame(p, 0)).toBe(0);
    expect(rankOfFrame(p, 14)).toBe(1);
    expect(rankOfFrame(p, 39)).toBe(2);
    expect(toLocal(p.ranges[1]!, 20)).toBe(6);
    expect(toGlobal(p.ranges[1]!, 6)).toBe(20);
    expect(() => toLocal(p.ranges[1]!, 30)).toThrow(/globalFrame must be in the clip \[14, 27\), got 30/);
  });
  it('validatePartition rejects gaps, overlaps and short clips', () => {
    expect(() => validatePartition({ totalFrames: 10, ranges: [{ start: 0, end: 4 }, { start: 5, end: 10 }] }, 10, 1)).toThrow(/ranges\[1\]\.start must be 4/);
    expect(() => validatePartition({ totalFrames: 10, ranges: [{ start: 0, end: 2 }, { start: 2, end: 10 }] }, 10, 4)).toThrow(/at least minClipFrames \(4\)/);
    expect(() => validatePartition({ totalFrames: 10, ranges: [{ start: 0, end: 9 }] }, 10, 1)).toThrow(/must end at totalFrames/);
  });
});
