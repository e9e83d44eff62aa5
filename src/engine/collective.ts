/**
 * The `Collective` contract: how the ranks of one job exchange tensors (halo, global gather, stats
 * all-reduce: the context the UNet needs across clip borders).
 *
 * The engine talks to the network only through this interface. Implementations live in
 * `src/net/` (in-process ranks for tests and one-tab runs; the WebRTC mesh between tabs) and are
 * chosen at construction. This file must not import anything from `src/net/`, peerjs or lit.
 *
 * Every operation is tagged, so messages need no global ordering: a message for (job, step,
 * point, kind) that arrives early waits in the receiver's inbox until the matching call.
 * Every operation has a timeout and rejects with a `CollectiveError` naming the peer and tag.
 */

/** What kind of exchange a message belongs to. Fixed on the wire: append, never renumber. */
export const EXCHANGE_KINDS = ['halo', 'global-gather', 'stats-reduce', 'all-reduce', 'barrier', 'p2p'] as const;
export type ExchangeKind = (typeof EXCHANGE_KINDS)[number];

/** Identifies one exchange. `pointId` is the index of the exchange point in the segment plan. */
export interface MessageTag {
  readonly jobId: number; // uint32
  readonly step: number; // uint32: denoising step index
  readonly pointId: number; // uint32
  readonly kind: ExchangeKind;
}

export type WireDType = 'float32' | 'float64' | 'float16' | 'int32' | 'uint8';

export interface WireTypedArrayMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array; // raw IEEE half bits
  int32: Int32Array;
  uint8: Uint8Array;
}

/** A tensor as it crosses the network: dtype, shape, data. A shape may contain 0 (empty). */
export interface WireTensor<D extends WireDType = WireDType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: WireTypedArrayMap[D];
}

/** Halo exchange result: the neighbours' boundary frames, or null at the ends of the video. */
export interface HaloResult {
  /** Last frames of rank − 1 (what it sent right), or null for rank 0. */
  readonly fromLeft: WireTensor | null;
  /** First frames of rank + 1 (what it sent left), or null for the last rank. */
  readonly fromRight: WireTensor | null;
}

export interface CollectiveStats {
  bytesSent: number;
  bytesReceived: number;
  /** Total time spent awaiting remote data inside collective calls. */
  waitMs: number;
}

export interface Collective {
  readonly rank: number;
  readonly worldSize: number;

  /**
   * Send `toLeft` (my first frames) to rank − 1 and `toRight` (my last frames) to rank + 1, both at
   * once, and receive theirs. Pass null where there is no neighbour.
   */
  exchangeHalo(tag: MessageTag, toLeft: WireTensor | null, toRight: WireTensor | null): Promise<HaloResult>;

  /** Everyone contributes one tensor (possibly empty); everyone receives all, indexed by rank. */
  allGather(tag: MessageTag, mine: WireTensor): Promise<WireTensor[]>;

  /** Elementwise sum over ranks, in float64, the same on every rank (summed in rank order). */
  allReduceSum(tag: MessageTag, values: Float64Array): Promise<Float64Array>;

  /** Resolves when every rank has entered the barrier with the same tag. */
  barrier(tag: MessageTag): Promise<void>;

  /** Point-to-point send / receive by tag. */
  send(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void>;
  recv(fromRank: number, tag: MessageTag): Promise<WireTensor>;

  /** Byte and wait counters since construction (or the last reset). */
  stats(): CollectiveStats;
  resetStats(): void;
}

export type CollectiveErrorCode = 'timeout' | 'peer-lost' | 'bad-message' | 'closed' | 'invalid-argument';

export class CollectiveError extends Error {
  override readonly name = 'CollectiveError';
  constructor(
    readonly code: CollectiveErrorCode,
    message: string,
    readonly peerRank?: number,
    readonly tag?: MessageTag,
  ) {
    super(message);
  }
}
