import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ControlEndpoint } from '../../net/control-link.js';
import { CONTROL_VERSION, type ControlMessage, type RenderTask } from '../protocol.js';
import { parseControlMessage } from '../protocol-check.js';
import { HostService } from './host-service.js';

/** A worker's control link as the host sees it: what the host sent it, and a way to speak as it. */
class FakeWorker {
  readonly sent: ControlMessage[] = [];
  readonly link = { isClosed: false, onClose: (_h: (reason: string) => void): void => undefined };
  private handler: ((m: ControlMessage, from: string) => void) | null = null;

  constructor(readonly peerId: string) {}

  send(m: ControlMessage): void {
    this.sent.push(m);
  }

  onMessage(h: (m: ControlMessage, from: string) => void): void {
    this.handler = h;
  }

  onError(): void {}

  /** A message from this worker, checked as the real control link checks it. */
  say(m: unknown): void {
    this.handler!(parseControlMessage(m), this.peerId);
  }

  cancels(): ControlMessage[] {
    return this.sent.filter((m) => m.type === 'cancel');
  }
}

const RENDER_JOB_ID = 0x5eed;

function renderTask(): RenderTask {
  return {
    kind: 'render', packageUrl: '/models/tiny/', export: { codec: 'vp8', scale: 1 },
    job: {
      jobId: RENDER_JOB_ID, totalFrames: 16, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 1, steps: 2, guidanceScale: 3,
      sampler: { kind: 'ddim', eta: 0 }, dualScope: { window: 4, topK: 2, phaseTimestep: 500, phaseBias: 0 }, fps: 8, partition: { totalFrames: 16, ranges: [{ start: 0, end: 8 }, { start: 8, end: 16 }] },
    },
  };
}

/** A host with three workers in its room; w1 and w2 render job 1 as ranks 0 and 1, `evil` is not in it. */
async function runningJob() {
  const host = new HostService();
  const [w1, w2, evil] = ['w1', 'w2', 'evil'].map((id) => new FakeWorker(id)) as [FakeWorker, FakeWorker, FakeWorker];
  for (const w of [w1, w2, evil]) {
    host.onWorker(w as unknown as ControlEndpoint<ControlMessage>);
    w.say({ type: 'join', v: CONTROL_VERSION, name: w.peerId, adapter: { backend: 'wasm' } });
  }
  const started = host.startJob(renderTask(), undefined, { workers: ['w1', 'w2'] });
  w1.say({ type: 'claim', meshJobId: 1, rank: 0 });
  w2.say({ type: 'claim', meshJobId: 1, rank: 1 });
  expect((await started).status).toBe('running');
  return { host, w1, w2, evil };
}

const error = (jobId: number, code: string, message: string, rank?: number) => ({ type: 'error', meshJobId: jobId, error: { code, message, ...(rank !== undefined && { rank }) } });

afterEach(() => {
  vi.useRealTimers();
});

describe('host service: job messages only from the job\'s members', () => {
  it('a peer outside the job cannot fail it: its errors for every guessable job id are dropped, and the log says who', async () => {
    const { host, w1, w2, evil } = await runningJob();
    for (let jobId = 1; jobId <= 20; jobId++) {
      evil.say(error(jobId, 'forged', `job ${jobId} failed`));
      evil.say(error(jobId, 'forged', `rank 0 of job ${jobId} failed`, 0));
      evil.say({ type: 'claim', meshJobId: jobId, rank: 0 });
    }
    expect(host.state.job).toMatchObject({ meshJobId: 1, status: 'running', claimed: [0, 1] });
    expect(host.state.job?.error).toBeUndefined();
    expect([...w1.cancels(), ...w2.cancels(), ...evil.cancels()]).toEqual([]);
    const lines = host.state.log.filter((l) => l.includes('evil'));
    expect(lines.some((l) => /dropped .*'error' from evil: evil is not in job 1/.test(l))).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(3); // once per kind of drop, not once per message
  });

  it('a member cannot speak for another rank: its error naming that rank is dropped', async () => {
    const { host, w1, w2 } = await runningJob();
    w1.say(error(1, 'engine-failed', 'rank 1 is broken', 1)); // w1 is rank 0
    expect(host.state.job?.status).toBe('running');
    expect(host.state.log.some((l) => /dropped 'error' from w1: w1 is rank 0 of job 1, the message names rank 1/.test(l))).toBe(true);
    expect([...w1.cancels(), ...w2.cancels()]).toEqual([]);
  });

  it('a member\'s error fails the job, and every member of the job is told to cancel it (and nobody else)', async () => {
    const { host, w1, w2, evil } = await runningJob();
    const long = `the engine crashed: ${'x'.repeat(3000)}`; // longer than a cancel's reason may be
    w2.say(error(1, 'engine-failed', long, 1));
    expect(host.state.job).toMatchObject({ meshJobId: 1, status: 'failed', error: long, errorCode: 'engine-failed' });
    for (const w of [w1, w2]) {
      expect(w.cancels()).toHaveLength(1);
      expect(w.cancels()[0]).toMatchObject({ type: 'cancel', meshJobId: 1 });
      expect(() => parseControlMessage(w.cancels()[0]), 'the worker accepts the cancel').not.toThrow();
    }
    expect(evil.cancels()).toEqual([]);
  });

  it('a job its owner fails (the render job: a stall, a lost member with nobody left) is cancelled on every member, once', async () => {
    const { host, w1, w2 } = await runningJob();
    host.finishJob(1, 'nothing happened for 20 minutes (no progress from any member)');
    host.finishJob(1, 'nothing happened for 20 minutes (no progress from any member)');
    expect(host.state.job?.status).toBe('failed');
    for (const w of [w1, w2]) expect(w.cancels()).toEqual([{ type: 'cancel', meshJobId: 1, reason: 'nothing happened for 20 minutes (no progress from any member)' }]);
  });

  it('ranks that never claim fail the job after the claim timeout, and the ranks that did claim are told to cancel', async () => {
    vi.useFakeTimers();
    const host = new HostService();
    const [w1, w2] = ['w1', 'w2'].map((id) => new FakeWorker(id)) as [FakeWorker, FakeWorker];
    for (const w of [w1, w2]) {
      host.onWorker(w as unknown as ControlEndpoint<ControlMessage>);
      w.say({ type: 'join', v: CONTROL_VERSION, name: w.peerId, adapter: { backend: 'wasm' } });
    }
    const started = host.startJob(renderTask(), undefined, { workers: ['w1', 'w2'] });
    w1.say({ type: 'claim', meshJobId: 1, rank: 0 }); // w1 starts rendering; w2 never joins the mesh
    await vi.advanceTimersByTimeAsync(60_000);
    expect((await started).status).toBe('failed');
    for (const w of [w1, w2]) expect(w.cancels()).toMatchObject([{ type: 'cancel', meshJobId: 1 }]);
  });

  it('a render that lost a member is not cancelled at once: the render job restarts it on the others or fails it', async () => {
    const { host, w1, w2 } = await runningJob();
    w1.say(error(1, 'peer-lost', 'rank 1 went silent', 0));
    expect(host.state.job).toMatchObject({ status: 'failed', errorCode: 'peer-lost' });
    expect([...w1.cancels(), ...w2.cancels()]).toEqual([]);
    host.cancel('lost w2: restarting on the others'); // what the render job does next
    for (const w of [w1, w2]) expect(w.cancels()).toMatchObject([{ type: 'cancel', meshJobId: 1 }]);
  });
});
