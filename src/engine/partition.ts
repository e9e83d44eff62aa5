/**
 * The partition of a video's frames over the ranks of a job (clip parallelism): contiguous half-open
 * ranges in rank order, even or weighted by a speed per rank, each at least `minClipFrames` long
 * (the largest halo), so every halo comes from the direct neighbours. Any partition gives the same
 * video (the video is a function of the job, never of the split). Imports only `errors.ts`.
 */

import { check, isPositiveInteger, PartitionError } from './errors.js';

/** Half-open global frame range [start, end). */
export interface FrameRange {
  readonly start: number;
  readonly end: number;
}

export interface Partition {
  readonly totalFrames: number;
  /** One range per rank, in rank order, contiguous, covering [0, totalFrames). */
  readonly ranges: readonly FrameRange[];
}

/**
 * Splits [0, totalFrames) into `weights.length` contiguous clips with lengths proportional to the
 * weights (largest-remainder rounding, ties to the lower rank), none shorter than minClipFrames:
 * ranks whose share falls below it get exactly minClipFrames and the rest is re-shared among the
 * others. `weights` may be a rank count (even split) or a positive speed per rank.
 * minClipFrames applies when there are 2 or more ranks (one rank has no halo to receive).
 */
export function partitionFrames(totalFrames: number, weights: number | readonly number[], minClipFrames: number): Partition {
  const where = 'partitionFrames';
  check(isPositiveInteger(totalFrames), PartitionError, where, 'totalFrames', totalFrames, 'an integer >= 1');
  const w: readonly number[] = typeof weights === 'number' ? evenWeights(weights) : weights;
  check(Array.isArray(w) && w.length >= 1, PartitionError, where, 'weights', weights, 'a rank count >= 1 or a non-empty array of speeds');
  w.forEach((x, r) => check(typeof x === 'number' && Number.isFinite(x) && x > 0, PartitionError, where, `weights[${r}]`, x, 'a finite number > 0'));
  check(isPositiveInteger(minClipFrames), PartitionError, where, 'minClipFrames', minClipFrames, 'an integer >= 1 (the largest halo width)');
  const ranks = w.length;
  if (ranks === 1) return Object.freeze({ totalFrames, ranges: Object.freeze([Object.freeze({ start: 0, end: totalFrames })]) });
  if (ranks * minClipFrames > totalFrames) {
    throw new PartitionError(
      'video-too-short',
      `${where}: totalFrames ${totalFrames} is too short for ${ranks} ranks with minClipFrames ${minClipFrames} ` +
        `(each clip must be at least the largest halo): need at least ${ranks * minClipFrames} frames, ` +
        `or use at most ${Math.floor(totalFrames / minClipFrames)} ranks`,
    );
  }
  // Water-filling: clamp to the minimum every rank whose proportional share falls below it.
  const lengths = new Array<number>(ranks).fill(0);
  const clamped = new Array<boolean>(ranks).fill(false);
  for (;;) {
    const free = [...w.keys()].filter((r) => !clamped[r]);
    const frames = totalFrames - (ranks - free.length) * minClipFrames;
    const share = largestRemainder(frames, free.map((r) => w[r]!));
    const low = free.filter((_, k) => share[k]! < minClipFrames);
    if (low.length === 0) {
      free.forEach((r, k) => (lengths[r] = share[k]!));
      break;
    }
    for (const r of low) {
      clamped[r] = true;
      lengths[r] = minClipFrames;
    }
  }
  const ranges: FrameRange[] = [];
  let start = 0;
  for (const len of lengths) {
    ranges.push(Object.freeze({ start, end: start + len }));
    start += len;
  }
  return Object.freeze({ totalFrames, ranges: Object.freeze(ranges) });
}

export function evenWeights(worldSize: number): number[] {
  check(isPositiveInteger(worldSize), PartitionError, 'partitionFrames', 'worldSize', worldSize, 'an integer >= 1');
  return new Array<number>(worldSize).fill(1);
}

/** Integers summing to `total`, proportional to `weights`; leftover units go to the largest fractions. */
function largestRemainder(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((x) => (total * x) / sum);
  const base = exact.map(Math.floor);
  let left = total - base.reduce((a, b) => a + b, 0);
  const order = exact.map((x, k) => ({ k, frac: x - base[k]! })).sort((a, b) => b.frac - a.frac || a.k - b.k);
  for (let j = 0; left > 0; j = (j + 1) % order.length, left--) base[order[j]!.k]! += 1;
  return base;
}

/**
 * Checks a partition from outside (the host, the network): ranges contiguous in rank order from 0
 * to totalFrames, integer bounds, each at least minClipFrames long when there are 2+ ranks.
 */
export function validatePartition(partition: Partition, totalFrames: number, minClipFrames: number): void {
  const where = 'validatePartition';
  const ranges = partition?.ranges;
  const fail = (msg: string): never => {
    throw new PartitionError('invalid-partition', `${where}: ${msg}`);
  };
  if (!Array.isArray(ranges) || ranges.length === 0) fail(`ranges must be a non-empty array, got ${JSON.stringify(ranges)}`);
  if (partition.totalFrames !== totalFrames) fail(`totalFrames must be ${totalFrames}, got ${partition.totalFrames}`);
  let expected = 0;
  ranges.forEach((r, k) => {
    if (!Number.isSafeInteger(r?.start) || !Number.isSafeInteger(r?.end)) fail(`ranges[${k}] must have integer start and end, got ${JSON.stringify(r)}`);
    if (r.start !== expected) fail(`ranges[${k}].start must be ${expected} (contiguous), got ${r.start}`);
    if (r.end <= r.start) fail(`ranges[${k}] must be non-empty, got [${r.start}, ${r.end})`);
    if (ranges.length > 1 && r.end - r.start < minClipFrames) {
      fail(`ranges[${k}] must be at least minClipFrames (${minClipFrames}) long, got ${r.end - r.start} frames`);
    }
    expected = r.end;
  });
  if (expected !== totalFrames) fail(`ranges must end at totalFrames (${totalFrames}), got ${expected}`);
}

export function clipLength(range: FrameRange): number {
  return range.end - range.start;
}

/** The rank whose clip holds `globalFrame`. */
export function rankOfFrame(partition: Partition, globalFrame: number): number {
  const r = partition.ranges.findIndex((x) => x.start <= globalFrame && globalFrame < x.end);
  check(r >= 0, PartitionError, 'rankOfFrame', 'globalFrame', globalFrame, `in [0, ${partition.totalFrames})`);
  return r;
}

export function toLocal(range: FrameRange, globalFrame: number): number {
  check(Number.isInteger(globalFrame) && range.start <= globalFrame && globalFrame < range.end, PartitionError, 'toLocal', 'globalFrame', globalFrame, `in the clip [${range.start}, ${range.end})`);
  return globalFrame - range.start;
}

export function toGlobal(range: FrameRange, localFrame: number): number {
  check(Number.isInteger(localFrame) && localFrame >= 0 && localFrame < range.end - range.start, PartitionError, 'toGlobal', 'localFrame', localFrame, `in [0, ${range.end - range.start})`);
  return range.start + localFrame;
}
