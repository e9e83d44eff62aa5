/**
 * `InProcessCollective`: N virtual ranks in one JS process sharing an in-memory router. The
 * reference implementation of the Collective contract (unit tests, one-tab runs): every tensor is
 * copied on send, so ranks never alias each other's memory, and delivery is asynchronous (a
 * macrotask later), like a network. Knows nothing of UNets.
 */
import type { MessageTag, WireTensor } from '../engine/collective.js';
import { TaggedCollective, type TaggedCollectiveOptions } from './tagged-collective.js';
import { copyTensor } from './wire-tensor.js';

export type InProcessOptions = TaggedCollectiveOptions;

class InProcessRouter {
  readonly ranks: InProcessCollective[] = [];
}

export class InProcessCollective extends TaggedCollective {
  /** Use `createInProcessCollectives`; a lone rank is only useful with worldSize 1. */
  constructor(
    rank: number,
    worldSize: number,
    private readonly router: InProcessRouter,
    options: InProcessOptions = {},
  ) {
    super(rank, worldSize, options);
  }

  protected transmit(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void> {
    const copy = copyTensor(tensor); // copied now: the caller may reuse its buffer once send resolves
    const target = this.router.ranks[toRank];
    setTimeout(() => target?.receiveFrom(this.rank, tag, copy), 0);
    return Promise.resolve();
  }

  /** @internal router delivery */
  receiveFrom(fromRank: number, tag: MessageTag, tensor: WireTensor): void {
    this.deliver(fromRank, tag, tensor);
  }

  /** Simulates losing a peer (tests): both sides see `peer-lost`. */
  disconnectFrom(peerRank: number, reason = 'disconnected'): void {
    this.markPeerLost(peerRank, reason);
    this.router.ranks[peerRank]?.markPeerLost(this.rank, reason);
  }
}

/** Creates all `worldSize` ranks of one job, wired to each other. */
export function createInProcessCollectives(worldSize: number, options: InProcessOptions = {}): InProcessCollective[] {
  const router = new InProcessRouter();
  for (let r = 0; r < worldSize; r++) router.ranks.push(new InProcessCollective(r, worldSize, router, options));
  return router.ranks;
}
