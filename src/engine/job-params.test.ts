import { describe, expect, it } from 'vitest';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { JOB_LIMITS, parseJobParams } from './job-params.js';
import type { JobParams } from './job-state.js';

const job: JobParams = {
  jobId: 7, totalFrames: 16, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }, { fromFrame: 8, prompt: 'a blue square' }] }, seed: 3, steps: 4, guidanceScale: 7.5,
  sampler: { kind: 'dpm-solver++-2m', algorithmType: 'sde-dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: { totalFrames: 16, ranges: [{ start: 0, end: 8 }, { start: 8, end: 16 }] },
};

describe('parseJobParams: the one check of a job from outside', () => {
  it('a valid job comes back equal, through JSON too; unknown keys go no further', () => {
    expect(parseJobParams(job)).toEqual(job);
    expect(parseJobParams(JSON.parse(JSON.stringify({ ...job, extra: 'x', sampler: { ...job.sampler, config: { evil: 1 } } })))).toEqual(job);
    expect(parseJobParams({ ...job, partition: null }).partition).toBeNull();
    expect(parseJobParams({ ...job, partition: { ranges: job.partition!.ranges } }).partition).toEqual(job.partition); // totalFrames is the job's
  });

  it.each([
    ['not an object', 'job', /job must be an object, got "job"/],
    ['jobId', { ...job, jobId: -1 }, /job.jobId must be a uint32/],
    ['too many frames', { ...job, totalFrames: JOB_LIMITS.maxFrames + 1 }, /job.totalFrames must be an integer in \[1, 100000\]/],
    ['steps', { ...job, steps: 0 }, /job.steps must be an integer in \[1, 1000\]/],
    ['guidance', { ...job, guidanceScale: Number.NaN }, /job.guidanceScale must be a finite number/],
    ['fps', { ...job, fps: 0 }, /job.fps must be a number > 0/],
    ['exchange mode', { ...job, exchangeMode: 'fast' }, /job.exchangeMode/],
    ['sampler', { ...job, sampler: { kind: 'euler' } }, /job.sampler must be/],
    ['negative eta', { ...job, sampler: { kind: 'ddim', eta: -1 } }, /job.sampler must be/],
    ['prompt not first at 0', { ...job, promptSchedule: { entries: [{ fromFrame: 2, prompt: 'x' }] } }, /entries\[0\].fromFrame must be 0/],
    ['prompt too long', { ...job, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'x'.repeat(1025) }] } }, /prompt must be a string of at most 1024/],
    ['too many prompts', { ...job, promptSchedule: { entries: Array.from({ length: 257 }, (_, i) => ({ fromFrame: i, prompt: 'x' })) } }, /at most 256 entries/],
    ['dual scope', { ...job, dualScope: { ...EMBEDDED_DUAL_SCOPE, window: -1 } }, /window must be a non-negative integer/],
    ['too many ranks', { ...job, partition: { ranges: Array.from({ length: 65 }, (_, i) => ({ start: i, end: i + 1 })) } }, /1 to 64 ranges/],
    ['range bounds', { ...job, partition: { ranges: [{ start: 0, end: '8' }] } }, /ranges\[0\] must be \{start, end\} integers/],
  ])('refuses %s, naming the field', (_name, raw, message) => {
    expect(() => parseJobParams(raw)).toThrow(message);
  });
});
