import { afterEach, describe, expect, it, vi } from 'vitest';
import { BlobInbox } from './blob-inbox.js';

const state = Uint8Array.from({ length: 30_000 }, (_, i) => (i * 13) & 255);

afterEach(() => vi.useRealTimers());

describe('blob inbox (a worker tab waiting for a blob the host sends its run, e.g. the resume state)', () => {
  it('a state that arrives before the run asks is kept; the run gets it', async () => {
    const inbox = new BlobInbox('resume state');
    inbox.accept(5, 1, state);
    await expect(inbox.take(5, 1)).resolves.toEqual(state);
  });

  it('a run that asks first waits for its state; states of another job or rank do not count', async () => {
    const inbox = new BlobInbox('resume state');
    const got = inbox.take(5, 1);
    let done = false;
    void got.then(() => (done = true));
    inbox.accept(4, 1, new Uint8Array(3)); // an older job's
    inbox.accept(5, 0, new Uint8Array(3)); // another rank's
    await Promise.resolve();
    expect(done).toBe(false);
    inbox.accept(5, 1, state);
    await expect(got).resolves.toEqual(state);
  });

  it('fails after the wait, or at once when the run is cancelled', async () => {
    vi.useFakeTimers();
    const inbox = new BlobInbox('resume state', 1_000);
    const late = inbox.take(5, 1);
    const failed = expect(late).rejects.toMatchObject({ code: 'timeout', message: /resume state did not arrive within 1 s/ });
    vi.advanceTimersByTime(1_001);
    await failed;
    const cancelled = inbox.take(6, 0);
    inbox.cancel('restarting');
    await expect(cancelled).rejects.toMatchObject({ code: 'aborted', message: 'cancelled: restarting' });
  });
});
