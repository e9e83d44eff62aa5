/**
 * The host's checkpoints, kept off the UI thread. Every rank's checkpoint after every step comes to
 * the host; at a real model's size that is tens of MB per tab per step, and cutting the whole
 * video's state out of them for the copy saved in this browser is hundreds of MB. So the
 * CheckpointStores live in a Web Worker (checkpoint.worker.ts): the page hands each checkpoint
 * over (its buffer transferred, not copied), hears back the newest step every rank has finished,
 * and asks for re-cut states (a restart's resume states, the saved copy as a Blob) when it needs
 * them. `CheckpointKeeperCore` is the worker's side, driven by messages (unit-tested in Node with
 * the two sides wired back to back); `CheckpointKeeper` is the page's side of one store.
 */
import type { JobParams } from '../../engine/job-state.js';
import type { FrameRange } from '../../engine/partition.js';
import { CheckpointStore } from './checkpoint-store.js';

export type KeeperRequest =
  | { readonly type: 'open'; readonly store: number; readonly job: JobParams; readonly ranges: readonly FrameRange[]; readonly perFrame: number }
  | { readonly type: 'add'; readonly store: number; readonly id: number; readonly rank: number; readonly nextStep: number; readonly bytes: Uint8Array }
  | { readonly type: 'recut'; readonly store: number; readonly id: number; readonly step: number; readonly ranges: readonly FrameRange[] }
  /** The whole video's state after `step`, as a Blob (for the copy saved in this browser). */
  | { readonly type: 'whole'; readonly store: number; readonly id: number; readonly step: number; readonly totalFrames: number }
  | { readonly type: 'close'; readonly store: number };

export type KeeperReply =
  | { readonly type: 'added'; readonly store: number; readonly id: number; readonly latestCommonStep: number | null }
  | { readonly type: 'recut'; readonly store: number; readonly id: number; readonly states: Uint8Array[] }
  | { readonly type: 'whole'; readonly store: number; readonly id: number; readonly state: Blob }
  | { readonly type: 'failed'; readonly store: number; readonly id: number; readonly message: string };

/** The two ends of a message channel: a Worker, the worker's `self`, or a test's in-process pair. */
export interface KeeperPort<Out, In> {
  postMessage(m: Out, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<In>) => void) | null;
}

/** The worker's side: one CheckpointStore per open store id. */
export class CheckpointKeeperCore {
  private readonly stores = new Map<number, CheckpointStore>();

  constructor(private readonly port: KeeperPort<KeeperReply, KeeperRequest>) {
    port.onmessage = (e) => this.handle(e.data);
  }

  handle(m: KeeperRequest): void {
    if (m.type === 'open') return void this.stores.set(m.store, new CheckpointStore(m.job, m.ranges, m.perFrame));
    if (m.type === 'close') return void this.stores.delete(m.store);
    const store = this.stores.get(m.store);
    try {
      if (!store) throw new Error(`no checkpoint store ${m.store} (closed)`);
      if (m.type === 'add') {
        store.add(m.rank, m.nextStep, m.bytes);
        this.port.postMessage({ type: 'added', store: m.store, id: m.id, latestCommonStep: store.latestCommonStep() });
      } else if (m.type === 'recut') {
        const states = store.recut(m.step, m.ranges);
        this.port.postMessage({ type: 'recut', store: m.store, id: m.id, states }, states.map((s) => s.buffer as ArrayBuffer));
      } else {
        const [whole] = store.recut(m.step, [{ start: 0, end: m.totalFrames }]);
        this.port.postMessage({ type: 'whole', store: m.store, id: m.id, state: new Blob([whole! as BlobPart]) });
      }
    } catch (e) {
      this.port.postMessage({ type: 'failed', store: m.store, id: m.id, message: e instanceof Error ? e.message : String(e) });
    }
  }
}

type Pending = { resolve: (r: KeeperReply) => void; reject: (e: Error) => void };
/** A request as the caller writes it: the channel adds the id. */
type Unsent<T> = T extends { id: number } ? Omit<T, 'id'> : never;

/** The page's end of the keeper worker, shared by the stores of one render job. */
export class KeeperChannel {
  private nextStore = 1;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly port: KeeperPort<KeeperRequest, KeeperReply>) {
    port.onmessage = (e) => {
      const p = this.pending.get(e.data.id);
      if (!p) return;
      this.pending.delete(e.data.id);
      if (e.data.type === 'failed') p.reject(new Error(e.data.message));
      else p.resolve(e.data);
    };
  }

  /** A new store for an attempt's job and partition. */
  open(job: JobParams, ranges: readonly FrameRange[], perFrame: number): CheckpointKeeper {
    const store = this.nextStore++;
    this.port.postMessage({ type: 'open', store, job, ranges, perFrame });
    return new CheckpointKeeper(this, store);
  }

  /** Sends a request that names an id and resolves with its reply (rejects with the worker's reason). */
  request<T extends KeeperReply['type']>(m: Unsent<KeeperRequest>, transfer: Transferable[] = []): Promise<Extract<KeeperReply, { type: T }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: KeeperReply) => void, reject });
      this.port.postMessage({ ...m, id } as KeeperRequest, transfer);
    });
  }

  close(store: number): void {
    this.port.postMessage({ type: 'close', store });
  }
}

/**
 * A keeper without a Worker: both sides in this thread, each message delivered later and cloned with
 * its transfers as postMessage does (tests, and Node tools that keep checkpoints).
 */
export function inProcessKeepers(): KeeperChannel {
  type Listener<T> = { onmessage: ((e: MessageEvent<T>) => void) | null };
  const deliver = <T>(to: Listener<T>, m: T, transfer: Transferable[] = []) => {
    const copy = structuredClone(m, { transfer });
    setTimeout(() => to.onmessage?.({ data: copy } as MessageEvent<T>), 0);
  };
  const page: KeeperPort<KeeperRequest, KeeperReply> = { onmessage: null, postMessage: (m, t) => deliver(worker, m, t) };
  const worker: KeeperPort<KeeperReply, KeeperRequest> = { onmessage: null, postMessage: (m, t) => deliver(page, m, t) };
  new CheckpointKeeperCore(worker);
  return new KeeperChannel(page);
}

/** One store of checkpoints (an attempt's partition), kept in the worker. */
export class CheckpointKeeper {
  /** The newest step every rank's checkpoint is here for, as the worker last said (null: none yet). */
  latestCommonStep: number | null = null;

  constructor(
    private readonly channel: KeeperChannel,
    private readonly store: number,
  ) {}

  /** Hands rank `rank`'s checkpoint over (its buffer is transferred: do not use `bytes` after); rejects naming why it was refused. */
  async add(rank: number, nextStep: number, bytes: Uint8Array): Promise<number | null> {
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    const r = await this.channel.request<'added'>({ type: 'add', store: this.store, rank, nextStep, bytes: own }, [own.buffer as ArrayBuffer]);
    this.latestCommonStep = r.latestCommonStep;
    return r.latestCommonStep;
  }

  /** The states after `step`, re-cut for `ranges`, in wire form. */
  async recut(step: number, ranges: readonly FrameRange[]): Promise<Uint8Array[]> {
    return (await this.channel.request<'recut'>({ type: 'recut', store: this.store, step, ranges })).states;
  }

  /** The whole video's state after `step`, as a Blob, cut in the worker. */
  async whole(step: number, totalFrames: number): Promise<Blob> {
    return (await this.channel.request<'whole'>({ type: 'whole', store: this.store, step, totalFrames })).state;
  }

  close(): void {
    this.channel.close(this.store);
  }
}
