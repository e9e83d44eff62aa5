/**
 * The worker side of the collective: a `Collective` whose every operation is forwarded to the main
 * thread (RTCPeerConnection exists only there) and answered by collective-bridge.ts. Tensor buffers
 * are transferred both ways. Byte and wait counters are the main collective's, returned with every
 * answer, so `stats()` stays synchronous. Imports engine contracts only.
 */
import { CollectiveError, type Collective, type CollectiveErrorCode, type CollectiveStats, type HaloResult, type MessageTag, type WireTensor } from '../collective.js';
import { transferablesOf, type CollectiveOp, type CollectiveOut, type ErrorData, type MainToWorker, type PortLike } from './protocol.js';

interface Pending {
  resolve(out: CollectiveOut): void;
  reject(e: Error): void;
}

const COLLECTIVE_CODES: readonly CollectiveErrorCode[] = ['timeout', 'peer-lost', 'bad-message', 'closed', 'invalid-argument'];

export class CollectiveProxy implements Collective {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private latest: CollectiveStats = { bytesSent: 0, bytesReceived: 0, waitMs: 0 };
  private base: CollectiveStats = { bytesSent: 0, bytesReceived: 0, waitMs: 0 };
  private closedReason: string | null = null;

  constructor(
    private readonly port: PortLike,
    readonly rank: number,
    readonly worldSize: number,
  ) {}

  /** Feed every main→worker message here; returns true if it was a collective answer. */
  accept(m: MainToWorker): boolean {
    if (m.kind !== 'collective-result' && m.kind !== 'collective-error') return false;
    const p = this.pending.get(m.id);
    if (!p) return true;
    this.pending.delete(m.id);
    this.latest = m.stats;
    if (m.kind === 'collective-result') p.resolve(m.out);
    else p.reject(toCollectiveError(m.error));
    return true;
  }

  /** Rejects every pending call (the render ended or the worker is shutting down). */
  close(reason: string): void {
    this.closedReason = reason;
    for (const p of this.pending.values()) p.reject(new CollectiveError('closed', `collective proxy closed: ${reason}`));
    this.pending.clear();
  }

  async exchangeHalo(tag: MessageTag, toLeft: WireTensor | null, toRight: WireTensor | null): Promise<HaloResult> {
    const l = own(toLeft);
    const r = own(toRight);
    const out = await this.call({ op: 'exchangeHalo', tag, toLeft: l, toRight: r }, transferablesOf(l, r));
    return (out as Extract<CollectiveOut, { op: 'exchangeHalo' }>).halo;
  }

  async allGather(tag: MessageTag, mine: WireTensor): Promise<WireTensor[]> {
    const t = own(mine)!;
    return ((await this.call({ op: 'allGather', tag, mine: t }, transferablesOf(t))) as Extract<CollectiveOut, { op: 'allGather' }>).tensors;
  }

  async allReduceSum(tag: MessageTag, values: Float64Array): Promise<Float64Array> {
    const v = values.slice();
    return ((await this.call({ op: 'allReduceSum', tag, values: v }, [v.buffer])) as Extract<CollectiveOut, { op: 'allReduceSum' }>).values;
  }

  async barrier(tag: MessageTag): Promise<void> {
    await this.call({ op: 'barrier', tag }, []);
  }

  async send(toRank: number, tag: MessageTag, tensor: WireTensor): Promise<void> {
    const t = own(tensor)!;
    await this.call({ op: 'send', toRank, tag, tensor: t }, transferablesOf(t));
  }

  async recv(fromRank: number, tag: MessageTag): Promise<WireTensor> {
    return ((await this.call({ op: 'recv', fromRank, tag }, [])) as Extract<CollectiveOut, { op: 'recv' }>).tensor;
  }

  stats(): CollectiveStats {
    return { bytesSent: this.latest.bytesSent - this.base.bytesSent, bytesReceived: this.latest.bytesReceived - this.base.bytesReceived, waitMs: this.latest.waitMs - this.base.waitMs };
  }

  resetStats(): void {
    this.base = { ...this.latest };
  }

  private call(op: CollectiveOp, transfer: Transferable[]): Promise<CollectiveOut> {
    if (this.closedReason !== null) return Promise.reject(new CollectiveError('closed', `collective proxy closed: ${this.closedReason}`));
    const id = this.nextId++;
    return new Promise<CollectiveOut>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ kind: 'collective', id, op }, transfer);
    });
  }
}

/** A copy that owns its whole buffer (so it can be transferred without detaching the engine's arrays). */
function own(t: WireTensor | null): WireTensor | null {
  if (!t) return null;
  return { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() } as WireTensor;
}

function toCollectiveError(e: ErrorData): CollectiveError {
  const code = (COLLECTIVE_CODES as readonly string[]).includes(e.code) ? (e.code as CollectiveErrorCode) : 'closed';
  return new CollectiveError(code, e.message, e.rank);
}
