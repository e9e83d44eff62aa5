/**
 * A worker tab's mailbox for one kind of blob the host sends a run on the bulk link: the job's
 * prompt embeddings, or the state a restarted job resumes from. The host sends it right after the
 * job's start, on another channel, so it may arrive before the run asks (the mesh is still forming)
 * or after; `take` waits for the blob of (job, rank), and fails after `waitMs` or when the run is
 * cancelled. Only the latest blob is kept.
 */

/** How long a run waits for the host's blob after its start (sent right after it). */
export const BLOB_WAIT_MS = 60_000;

interface Waiter {
  readonly renderJobId: number;
  readonly rank: number;
  readonly resolve: (bytes: Uint8Array) => void;
  readonly reject: (e: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class BlobInbox {
  private arrived: { renderJobId: number; rank: number; bytes: Uint8Array } | null = null;
  private waiter: Waiter | null = null;

  /** `what`: the blob in words, for the timeout's message. */
  constructor(
    private readonly what: string,
    private readonly waitMs = BLOB_WAIT_MS,
  ) {}

  accept(renderJobId: number, rank: number, bytes: Uint8Array): void {
    this.arrived = { renderJobId, rank, bytes };
    this.deliver();
  }

  /** The blob for (renderJobId, rank), once it is here. */
  take(renderJobId: number, rank: number): Promise<Uint8Array> {
    this.cancel('a newer run asked');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(Object.assign(new Error(`the host's ${this.what} did not arrive within ${this.waitMs / 1000} s`), { code: 'timeout' }));
      }, this.waitMs);
      this.waiter = { renderJobId, rank, resolve, reject, timer };
      this.deliver();
    });
  }

  /** Fails a pending `take` (the run was cancelled). */
  cancel(reason: string): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    clearTimeout(w.timer);
    w.reject(Object.assign(new Error(`cancelled: ${reason}`), { code: 'aborted' }));
  }

  private deliver(): void {
    const w = this.waiter;
    const a = this.arrived;
    if (!w || a?.renderJobId !== w.renderJobId || a.rank !== w.rank) return;
    this.waiter = null;
    this.arrived = null;
    clearTimeout(w.timer);
    w.resolve(a.bytes);
  }
}
