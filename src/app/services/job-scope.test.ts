import { describe, expect, it } from 'vitest';
import { CONTROL_VERSION, type ControlMessage, type RenderBlob } from '../protocol.js';
import { judgeJobMessage, type JobScope } from './job-scope.js';

/** Job 3: the host computes (rank 0), w1 and w2 are ranks 1 and 2; its render's messages carry 777. */
const job: JobScope = { meshJobId: 3, renderJobId: 777, roster: ['host', 'w1', 'w2'] };
const error = (meshJobId: number | undefined, rank?: number): ControlMessage => ({ type: 'error', ...(meshJobId !== undefined && { meshJobId }), error: { code: 'engine-failed', message: 'x', ...(rank !== undefined && { rank }) } });
const step = (renderJobId: number, rank: number): ControlMessage => ({ type: 'step', renderJobId, rank, step: 0, steps: 2, stepMs: 1, computeMs: 1, networkWaitMs: 0, bytesSent: 0, bytesReceived: 0, checkpointBytes: 0 });

describe('who may speak for a job', () => {
  it('a peer outside the roster is dropped for every job-scoped message that names the job', () => {
    const named: (ControlMessage | RenderBlob)[] = [
      error(3), error(3, 1), { type: 'claim', meshJobId: 3, rank: 1 },
      { type: 'mesh-check-result', meshJobId: 3, rank: 1, pairs: [] }, { type: 'engine', renderJobId: 777, rank: 1, provider: 'wasm', loadMs: 1 }, step(777, 2),
      { type: 'clip', renderJobId: 777, rank: 1, bytes: new Uint8Array(1) }, { type: 'checkpoint', renderJobId: 777, rank: 1, nextStep: 1, bytes: new Uint8Array(1) },
    ];
    for (const m of named) expect(judgeJobMessage(job, 'evil', m), m.type).toEqual({ kind: 'drop', why: 'evil is not in job 3' });
  });

  it('a member naming another rank is dropped; at its own rank, or naming none, it is accepted', () => {
    expect(judgeJobMessage(job, 'w1', error(3, 2))).toEqual({ kind: 'drop', why: 'w1 is rank 1 of job 3, the message names rank 2' });
    expect(judgeJobMessage(job, 'w1', step(777, 0))).toEqual({ kind: 'drop', why: 'w1 is rank 1 of job 3, the message names rank 0' });
    expect(judgeJobMessage(job, 'w2', { type: 'claim', meshJobId: 3, rank: 1 })).toMatchObject({ kind: 'drop' });
    expect(judgeJobMessage(job, 'w1', error(3, 1))).toEqual({ kind: 'accept' });
    expect(judgeJobMessage(job, 'w1', error(3))).toEqual({ kind: 'accept' });
    expect(judgeJobMessage(job, 'w2', step(777, 2))).toEqual({ kind: 'accept' });
  });

  it('another job\'s id is not this job\'s business; messages about no job are the sender\'s own', () => {
    expect(judgeJobMessage(job, 'evil', error(4))).toEqual({ kind: 'other-job' });
    expect(judgeJobMessage(job, 'w1', step(778, 1))).toEqual({ kind: 'other-job' });
    expect(judgeJobMessage(undefined, 'w1', error(1))).toEqual({ kind: 'other-job' });
    expect(judgeJobMessage(job, 'evil', error(undefined))).toEqual({ kind: 'accept' });
    expect(judgeJobMessage(job, 'evil', { type: 'join', v: CONTROL_VERSION, name: 'evil', adapter: { backend: 'wasm' } })).toEqual({ kind: 'accept' });
    expect(judgeJobMessage({ meshJobId: 3, roster: ['w1'] }, 'w1', step(777, 0))).toEqual({ kind: 'other-job' }); // a job without a render task
    // The two ids are never mixed up: a render's id names no mesh job, a mesh job's id no render.
    expect(judgeJobMessage(job, 'w1', error(777, 1))).toEqual({ kind: 'other-job' });
    expect(judgeJobMessage(job, 'w1', step(3, 1))).toEqual({ kind: 'other-job' });
  });
});
