/**
 * Guidance split (xDiT's CFG parallelism): a clip's two guidance branches run on two ranks, each a
 * batch-1 UNet call, instead of one rank running the [uncond, cond] batch. Ranks come in pairs:
 * rank r renders clip ⌊r/2⌋, branch r mod 2 (0 uncond, 1 cond). Each branch is a room of its own:
 * the uncond ranks exchange halos, globals and statistics only with each other, and so do the cond
 * ranks, so every rank sends half the bytes it would with the batch of two. After each UNet call
 * the pair swaps its noise predictions (a clip's latent size, small) and both apply guidance and the
 * scheduler step to identical inputs, so both hold the same latents throughout.
 *
 * Why it is cheaper on the network: every exchanged tensor carries the batch axis, and a split rank
 * has a batch of one; the clips are twice as long for the same number of ranks, so there are half as
 * many clip borders. The ε swap costs 2 · F · C · H · W floats per step.
 *
 * Imports only engine contracts.
 */

import type { Collective, CollectiveStats, HaloResult, MessageTag, WireTensor } from './collective.js';
import { allGatherP2P, allReduceSumP2P, barrierP2P, exchangeHaloP2P } from './collective-ops.js';
import { check, EngineError } from './errors.js';

/** The pointId of the per-step noise-prediction swap: above every exchange point a plan can have. */
export const GUIDANCE_SWAP_POINT = 0xffffffff;

export type GuidanceBranch = 0 | 1;

/** Where a rank of a split room works: its clip (index into the partition) and its branch. */
export interface SplitPlace {
  readonly clip: number;
  readonly branch: GuidanceBranch;
  /** The rank that runs the other branch of the same clip. */
  readonly partner: number;
}

export function splitPlace(rank: number, worldSize: number): SplitPlace {
  check(worldSize % 2 === 0, EngineError, 'guidance split', 'world size', worldSize, 'even (each clip runs on a pair of ranks)');
  return { clip: rank >> 1, branch: (rank & 1) as GuidanceBranch, partner: rank ^ 1 };
}

/**
 * The ranks of one branch as a room of their own: group rank c is parent rank 2c + branch. Every
 * operation goes through the parent's tagged send / receive, so messages of the two branches never
 * meet (they come from different ranks) even though their tags are equal.
 */
export class BranchCollective implements Collective {
  readonly rank: number;
  readonly worldSize: number;

  constructor(
    private readonly parent: Collective,
    private readonly branch: GuidanceBranch,
  ) {
    const place = splitPlace(parent.rank, parent.worldSize);
    check(place.branch === branch, EngineError, 'BranchCollective', 'branch', branch, `rank ${parent.rank}'s branch (${place.branch})`);
    this.rank = place.clip;
    this.worldSize = parent.worldSize / 2;
  }

  private parentRank(groupRank: number): number {
    check(Number.isInteger(groupRank) && groupRank >= 0 && groupRank < this.worldSize, EngineError, 'BranchCollective', 'rank', groupRank, `in 0..${this.worldSize - 1}`);
    return 2 * groupRank + this.branch;
  }

  send(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void> {
    return this.parent.send(this.parentRank(toRank), tag, tensor);
  }

  recv(fromRank: number, tag: MessageTag): Promise<WireTensor> {
    return this.parent.recv(this.parentRank(fromRank), tag);
  }

  exchangeHalo(tag: MessageTag, toLeft: WireTensor | null, toRight: WireTensor | null): Promise<HaloResult> {
    return exchangeHaloP2P(this, tag, toLeft, toRight);
  }

  allGather(tag: MessageTag, mine: WireTensor): Promise<WireTensor[]> {
    return allGatherP2P(this, tag, mine);
  }

  allReduceSum(tag: MessageTag, values: Float64Array): Promise<Float64Array> {
    return allReduceSumP2P(this, tag, values);
  }

  barrier(tag: MessageTag): Promise<void> {
    return barrierP2P(this, tag);
  }

  /** The parent's counters: a rank's traffic is one figure, the swap included. */
  stats(): CollectiveStats {
    return this.parent.stats();
  }

  resetStats(): void {
    this.parent.resetStats();
  }
}

/**
 * Swaps this step's noise prediction with the partner and returns the pair as the batch guidance
 * expects: [uncond, cond] (uncond first, whichever branch this rank runs).
 */
export async function swapNoisePredictions(collective: Collective, place: SplitPlace, jobId: number, step: number, mine: Float32Array): Promise<Float32Array> {
  const tag: MessageTag = { jobId, step, pointId: GUIDANCE_SWAP_POINT, kind: 'p2p' };
  const [theirs] = await Promise.all([
    collective.recv(place.partner, tag),
    collective.send(place.partner, tag, { dtype: 'float32', shape: [mine.length], data: mine }),
  ]);
  if (theirs.dtype !== 'float32' || theirs.data.length !== mine.length) {
    throw new EngineError('shape-mismatch', `guidance split: rank ${place.partner} sent ${theirs.dtype}[${theirs.data.length}] as its noise prediction of step ${step}, expected float32[${mine.length}]`);
  }
  const both = new Float32Array(2 * mine.length);
  both.set(place.branch === 0 ? mine : (theirs.data as Float32Array), 0);
  both.set(place.branch === 0 ? (theirs.data as Float32Array) : mine, mine.length);
  return both;
}
