import { afterEach, describe, expect, it, vi } from 'vitest';
import { ResumeInbox } from './resume-inbox.js';

const state = Uint8Array.from({ length: 30_000 }, (_, i) => (i * 13) & 255);

afterEach(() => vi.useRealTimers());

describe('resume inbox (a worker tab waiting for the state its restarted job resumes from)', () => {
  it('a state that arrives before the run asks is kept; the run gets it', async () => {
    const inbox = new ResumeInbox();
    inbox.accept(5, 1, state);
    await expect(inbox.take(5, 1)).resolves.toEqual(state);
  });

  it('a run that asks first waits for its state; states of another job or rank do not count', async () => {
    const inbox = new ResumeInbox();
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
