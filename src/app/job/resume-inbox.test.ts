import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ResumeChunkMessage } from '../../net/control.js';
import { toBase64Pieces } from './chunked-bytes.js';
import { ResumeInbox } from './resume-inbox.js';

const state = Uint8Array.from({ length: 30_000 }, (_, i) => (i * 13) & 255);
const pieces = (jobId: number, rank: number, bytes = state): ResumeChunkMessage[] => toBase64Pieces(bytes).map((p) => ({ type: 'resume-chunk', jobId, rank, ...p }));

afterEach(() => vi.useRealTimers());

describe('resume inbox (a worker tab waiting for the state its restarted job resumes from)', () => {
  it('pieces that arrive before the run asks are kept; the run gets the whole state', async () => {
    const inbox = new ResumeInbox();
    const all = pieces(5, 1);
    expect(all.length).toBeGreaterThan(2);
    for (const m of all) inbox.accept(m);
    await expect(inbox.take(5, 1)).resolves.toEqual(state);
  });

  it('a run that asks first waits for the last piece; pieces of another job or rank do not count', async () => {
    const inbox = new ResumeInbox();
    const got = inbox.take(5, 1);
    let done = false;
    void got.then(() => (done = true));
    for (const m of pieces(4, 1)) inbox.accept(m); // an older job's
    const mine = pieces(5, 1);
    for (const m of mine.slice(1)) inbox.accept(m);
    await Promise.resolve();
    expect(done).toBe(false);
    inbox.accept(mine[0]!);
    await expect(got).resolves.toEqual(state);
  });

  it('fails after the wait, or at once when the run is cancelled', async () => {
    vi.useFakeTimers();
    const inbox = new ResumeInbox(1_000);
    const late = inbox.take(5, 1);
    const failed = expect(late).rejects.toMatchObject({ code: 'timeout', message: /did not arrive within 1 s/ });
    vi.advanceTimersByTime(1_001);
    await failed;
    const cancelled = inbox.take(6, 0);
    inbox.cancel('restarting');
    await expect(cancelled).rejects.toMatchObject({ code: 'aborted', message: 'cancelled: restarting' });
  });
});
