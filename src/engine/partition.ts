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
 * The shortest clip a rank of a mesh may own: its local attention window and its temporal-conv
 * halo both reach that far into a neighbour, and must come from the direct neighbour alone.
 */
export function shortestClip(window: number, tconvHalo: number): number {
  return Math.max(window, tconvHalo, 1);
}

/**
 * Splits [0, totalFrames) into `weights.length` contiguous clips with lengths proportional to the
 * weights (largest-remainder rounding, ties to the lower rank), none shorter than minClipFrames:
 * ranks whose share falls below it get exactly minClipFrames and the rest is re-shared among the
 * others. `weights` may be a rank count (even split) or a positive speed per rank.
 * minClipFrames applies when there are 2 or more ranks (one rank has no halo to receive).
 * `capacities` (optional, one per rank, Infinity for none) caps each clip at what the rank's memory
 * holds (its largest clip): a rank whose share exceeds its capacity gets exactly that and the rest is
 * re-shared by weight among the others. When no capacity binds, the split is the same as without.
 */
export function partitionFrames(totalFrames: number, weights: number | readonly number[], minClipFrames: number, capacities?: readonly number[]): Partition {
  const where = 'partitionFrames';
  check(isPositiveInteger(totalFrames), PartitionError, where, 'totalFrames', totalFrames, 'an integer >= 1');
  const w: readonly number[] = typeof weights === 'number' ? evenWeights(weights) : weights;
  check(Array.isArray(w) && w.length >= 1, PartitionError, where, 'weights', weights, 'a rank count >= 1 or a non-empty array of speeds');
  w.forEach((x, r) => check(typeof x === 'number' && Number.isFinite(x) && x > 0, PartitionError, where, `weights[${r}]`, x, 'a finite number > 0'));
  check(isPositiveInteger(minClipFrames), PartitionError, where, 'minClipFrames', minClipFrames, 'an integer >= 1 (the largest halo width)');
  const ranks = w.length;
  const cap = checkCapacities(totalFrames, ranks, minClipFrames, capacities);
  if (ranks === 1) return Object.freeze({ totalFrames, ranges: Object.freeze([Object.freeze({ start: 0, end: totalFrames })]) });
  if (ranks * minClipFrames > totalFrames) {
    throw new PartitionError(
      'video-too-short',
      `${where}: totalFrames ${totalFrames} is too short for ${ranks} ranks with minClipFrames ${minClipFrames} ` +
        `(each clip must be at least the largest halo): need at least ${ranks * minClipFrames} frames, ` +
        `or use at most ${Math.floor(totalFrames / minClipFrames)} ranks`,
    );
  }
  // Water-filling, first from above: every rank whose proportional share exceeds its capacity gets
  // its capacity, until none does (the others' shares only grow, so repeat). Then from below, as
  // without capacities: clamping to the minimum only shrinks the others' shares, so no capacity
  // breaks again.
  const lengths = new Array<number>(ranks).fill(0);
  const clamped = new Array<boolean>(ranks).fill(false);
  for (;;) {
    const free = [...w.keys()].filter((r) => !clamped[r]);
    const frames = totalFrames - lengths.reduce((a, b) => a + b, 0);
    const share = largestRemainder(frames, free.map((r) => w[r]!));
    const high = free.filter((r, k) => share[k]! > cap[r]!);
    if (high.length === 0) break;
    for (const r of high) {
      clamped[r] = true;
      lengths[r] = cap[r]!;
    }
  }
  const full = clamped.slice();
  for (;;) {
    const free = [...w.keys()].filter((r) => !clamped[r]);
    const frames = totalFrames - [...w.keys()].filter((r) => clamped[r]).reduce((a, r) => a + (full[r] ? cap[r]! : minClipFrames), 0);
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

/** Capacities per rank (Infinity without), checked: each one at least the minimum clip, together the video. */
function checkCapacities(totalFrames: number, ranks: number, minClipFrames: number, capacities: readonly number[] | undefined): number[] {
  const where = 'partitionFrames';
  if (capacities === undefined) return new Array<number>(ranks).fill(Infinity);
  check(Array.isArray(capacities) && capacities.length === ranks, PartitionError, where, 'capacities', capacities, `one largest clip per rank (${ranks})`);
  const least = ranks > 1 ? minClipFrames : 1;
  capacities.forEach((c, r) => check(c === Infinity || (Number.isSafeInteger(c) && c >= least), PartitionError, where, `capacities[${r}]`, c, `an integer >= ${least} (the minimum clip) or Infinity`));
  const sum = capacities.reduce((a, b) => a + b, 0);
  if (sum < totalFrames) {
    throw new PartitionError(
      'video-too-long',
      `${where}: totalFrames ${totalFrames} is more than the ranks can hold together (${sum} frames: ` +
        `largest clip per rank ${capacities.join(', ')}); render at most ${sum} frames, or add members`,
    );
  }
  return [...capacities];
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
