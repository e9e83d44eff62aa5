/**
 * Test support: a `Collective` that forwards everything to a real one but zeroes what one rank
 * receives from one neighbour in one halo exchange. That is what a real bug in the exchange
 * produces (a frame lost, an index off by the halo, a peer that sends zeros), and it is small:
 * one exchange point of one UNet call, touching only the frames next to one seam. Negative
 * controls use it to show that a partition-invariance or PSNR bound rejects a wrong render.
 * Not part of the shipped engine.
 */
import type { Collective, CollectiveStats, HaloResult, MessageTag, WireTensor } from '../collective.js';

/** Which halo exchange is corrupted, and on which side of the receiving rank. */
export interface HaloCorruption {
  /** Denoising step whose exchange is hit. */
  readonly step: number;
  /** Exchange point index in plan.exchangePoints (the tag's pointId). */
  readonly pointId: number;
  /** The neighbour whose frames arrive as zeros. */
  readonly side: 'left' | 'right';
}

/** Wraps `inner`; `corruption` applies to halos that `inner`'s rank receives. Hits are counted. */
export class CorruptingCollective implements Collective {
  /** How many halo tensors were zeroed (a control that corrupted nothing proves nothing). */
  hits = 0;

  constructor(
    private readonly inner: Collective,
    private readonly corruption: HaloCorruption,
  ) {}

  get rank(): number {
    return this.inner.rank;
  }

  get worldSize(): number {
    return this.inner.worldSize;
  }

  async exchangeHalo(tag: MessageTag, toLeft: WireTensor | null, toRight: WireTensor | null): Promise<HaloResult> {
    const got = await this.inner.exchangeHalo(tag, toLeft, toRight);
    const c = this.corruption;
    if (tag.step !== c.step || tag.pointId !== c.pointId) return got;
    const victim = c.side === 'left' ? got.fromLeft : got.fromRight;
    if (!victim) return got;
    this.hits++;
    const zeroed: WireTensor = { dtype: victim.dtype, shape: victim.shape, data: new (victim.data.constructor as Float32ArrayConstructor)(victim.data.length) };
    return c.side === 'left' ? { fromLeft: zeroed, fromRight: got.fromRight } : { fromLeft: got.fromLeft, fromRight: zeroed };
  }

  allGather(tag: MessageTag, mine: WireTensor): Promise<WireTensor[]> {
    return this.inner.allGather(tag, mine);
  }

  allReduceSum(tag: MessageTag, values: Float64Array): Promise<Float64Array> {
    return this.inner.allReduceSum(tag, values);
  }

  barrier(tag: MessageTag): Promise<void> {
    return this.inner.barrier(tag);
  }

  send(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void> {
    return this.inner.send(toRank, tag, tensor);
  }

  recv(fromRank: number, tag: MessageTag): Promise<WireTensor> {
    return this.inner.recv(fromRank, tag);
  }

  stats(): CollectiveStats {
    return this.inner.stats();
  }

  resetStats(): void {
    this.inner.resetStats();
  }
}
