/**
 * The collective operations (halo exchange, all-gather, all-reduce, barrier) built on tagged
 * point-to-point send / receive, once, for every `Collective`: the network's implementations and
 * the engine's rank groups (guidance-split.ts) run the same code, so they behave alike.
 * Imports only the contract.
 */

import { CollectiveError, type HaloResult, type MessageTag, type WireTensor } from './collective.js';

/** What the operations need of a collective: its place and tagged point-to-point messages. */
export interface PointToPoint {
  readonly rank: number;
  readonly worldSize: number;
  send(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void>;
  recv(fromRank: number, tag: MessageTag): Promise<WireTensor>;
}

const tagText = (tag: MessageTag) => `job ${tag.jobId} step ${tag.step} point ${tag.pointId} ${tag.kind}`;

/** Sends my first frames left and my last frames right, both at once, and receives theirs. */
export async function exchangeHaloP2P(c: PointToPoint, tag: MessageTag, toLeft: WireTensor | null, toRight: WireTensor | null): Promise<HaloResult> {
  const left = c.rank > 0 ? c.rank - 1 : null;
  const right = c.rank < c.worldSize - 1 ? c.rank + 1 : null;
  if ((left === null) !== (toLeft === null)) {
    throw new CollectiveError('invalid-argument', `rank ${c.rank}: toLeft must be ${left === null ? 'null (no left neighbour)' : 'a tensor'} in halo ${tagText(tag)}`);
  }
  if ((right === null) !== (toRight === null)) {
    throw new CollectiveError('invalid-argument', `rank ${c.rank}: toRight must be ${right === null ? 'null (no right neighbour)' : 'a tensor'} in halo ${tagText(tag)}`);
  }
  const [fromLeft, fromRight] = await Promise.all([
    left === null ? null : c.recv(left, tag),
    right === null ? null : c.recv(right, tag),
    left === null ? null : c.send(left, tag, toLeft!),
    right === null ? null : c.send(right, tag, toRight!),
  ]);
  return { fromLeft, fromRight };
}

/** Everyone's tensor, indexed by rank; mine is copied, so the result never aliases what I sent. */
export async function allGatherP2P(c: PointToPoint, tag: MessageTag, mine: WireTensor): Promise<WireTensor[]> {
  const others: number[] = [];
  for (let r = 0; r < c.worldSize; r++) if (r !== c.rank) others.push(r);
  const [received] = await Promise.all([Promise.all(others.map((r) => c.recv(r, tag))), Promise.all(others.map((r) => c.send(r, tag, mine)))]);
  const out: WireTensor[] = [];
  others.forEach((r, i) => (out[r] = received[i]!));
  out[c.rank] = { dtype: mine.dtype, shape: [...mine.shape], data: mine.data.slice() } as WireTensor;
  return out;
}

/** Elementwise float64 sum, added in rank order so that every rank gets the same bits. */
export async function allReduceSumP2P(c: PointToPoint, tag: MessageTag, values: Float64Array): Promise<Float64Array> {
  if (!(values instanceof Float64Array)) throw new CollectiveError('invalid-argument', 'allReduceSum needs a Float64Array');
  const parts = await allGatherP2P(c, tag, { dtype: 'float64', shape: [values.length], data: values });
  const sum = new Float64Array(values.length);
  for (let r = 0; r < parts.length; r++) {
    const p = parts[r]!;
    if (p.dtype !== 'float64' || p.data.length !== values.length) {
      throw new CollectiveError('bad-message', `rank ${c.rank}: rank ${r} contributed ${p.dtype}[${p.data.length}] to all-reduce ${tagText(tag)}, expected float64[${values.length}]`, r, tag);
    }
    const d = p.data as Float64Array;
    for (let i = 0; i < sum.length; i++) sum[i]! += d[i]!;
  }
  return sum;
}

/** Resolves when every rank has entered the barrier with the same tag. */
export async function barrierP2P(c: PointToPoint, tag: MessageTag): Promise<void> {
  await allGatherP2P(c, tag, { dtype: 'uint8', shape: [0], data: new Uint8Array(0) });
}
