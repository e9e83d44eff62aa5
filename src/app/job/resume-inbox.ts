/**
 * A worker tab's mailbox for the state a restarted job resumes from (`resume-chunk`s from the host).
 * The pieces follow the job's start on the control channel, so they may arrive before the run asks
 * (the mesh is still forming) or after; `take` waits for the whole state of (job, rank), and fails
 * after `waitMs` or when the run is cancelled. Only the latest job's pieces are kept.
 */
import type { ResumeChunkMessage } from '../../net/control.js';
import { ChunkedBytes } from './chunked-bytes.js';

/** How long a resumed job waits for the host's state after its start (sent right after it). */
export const RESUME_WAIT_MS = 60_000;

interface Waiter {
  readonly jobId: number;
  readonly rank: number;
  readonly resolve: (bytes: Uint8Array) => void;
  readonly reject: (e: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class ResumeInbox {
  private arriving: { jobId: number; rank: number; blob: ChunkedBytes } | null = null;
  private waiter: Waiter | null = null;

  constructor(private readonly waitMs = RESUME_WAIT_MS) {}

  accept(m: ResumeChunkMessage): void {
    const a = this.arriving;
    const blob = a?.jobId === m.jobId && a.rank === m.rank && a.blob.count === m.count ? a.blob : new ChunkedBytes(m.count);
    this.arriving = { jobId: m.jobId, rank: m.rank, blob };
    if (blob.add(m.index, m.count, m.base64)) this.deliver();
  }

  /** The whole state for (jobId, rank), once all its pieces are in. */
  take(jobId: number, rank: number): Promise<Uint8Array> {
    this.cancel('a newer run asked');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(Object.assign(new Error(`the host's resume state did not arrive within ${this.waitMs / 1000} s`), { code: 'timeout' }));
      }, this.waitMs);
      this.waiter = { jobId, rank, resolve, reject, timer };
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
    const a = this.arriving;
    if (!w || a?.jobId !== w.jobId || a.rank !== w.rank || !a.blob.complete) return;
    this.waiter = null;
    this.arriving = null;
    clearTimeout(w.timer);
    w.resolve(a.blob.bytes());
  }
}
