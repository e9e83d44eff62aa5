/**
 * The main-thread side of collective-proxy.ts: runs the worker's collective calls on a real
 * `Collective` (the WebRTC mesh) and posts the answers back with their buffers transferred.
 * No tensor maths here (this runs on the UI thread, which must stay free): the mesh moves bytes,
 * this file only routes.
 * Imports engine contracts only.
 */
import type { Collective } from '../collective.js';
import { toErrorData, transferablesOf, type CollectiveOp, type CollectiveOut, type MainToWorker, type PortLike } from './protocol.js';

export class CollectiveBridge {
  private closed = false;

  /**
   * `transferResults`: hand received buffers to the worker instead of copying them. Right for the
   * mesh (every received tensor is fresh); wrong where one tensor object is shared by several ranks
   * (the in-process collective), so it is opt-in.
   */
  constructor(
    private readonly port: PortLike,
    private readonly collective: Collective,
    private readonly options: { readonly transferResults?: boolean } = {},
  ) {}

  /** Runs one forwarded call; the answer is posted when it settles. */
  serve(id: number, op: CollectiveOp): void {
    void this.run(op).then(
      ([out, transfer]) => this.post({ kind: 'collective-result', id, out, stats: this.collective.stats() }, this.options.transferResults ? transfer : []),
      (e: unknown) => this.post({ kind: 'collective-error', id, error: toErrorData(e, { rank: this.collective.rank }), stats: this.collective.stats() }, []),
    );
  }

  close(): void {
    this.closed = true;
  }

  private post(m: MainToWorker, transfer: Transferable[]): void {
    if (!this.closed) this.port.postMessage(m, transfer);
  }

  private async run(op: CollectiveOp): Promise<[CollectiveOut, Transferable[]]> {
    const c = this.collective;
    switch (op.op) {
      case 'exchangeHalo': {
        const halo = await c.exchangeHalo(op.tag, op.toLeft, op.toRight);
        return [{ op: 'exchangeHalo', halo }, transferablesOf(halo.fromLeft, halo.fromRight)];
      }
      case 'allGather': {
        const tensors = await c.allGather(op.tag, op.mine);
        return [{ op: 'allGather', tensors }, transferablesOf(...tensors)];
      }
      case 'allReduceSum': {
        const values = await c.allReduceSum(op.tag, op.values);
        return [{ op: 'allReduceSum', values }, transferablesOf(values)];
      }
      case 'barrier':
        await c.barrier(op.tag);
        return [{ op: 'barrier' }, []];
      case 'send':
        await c.send(op.toRank, op.tag, op.tensor);
        return [{ op: 'send' }, []];
      case 'recv': {
        const tensor = await c.recv(op.fromRank, op.tag);
        return [{ op: 'recv', tensor }, transferablesOf(tensor)];
      }
    }
  }
}
