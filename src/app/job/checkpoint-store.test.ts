import { describe, expect, it } from 'vitest';
import { EMBEDDED_DUAL_SCOPE } from '../../engine/dual-scope.js';
import { decodeClipState, encodeClipState, type JobParams } from '../../engine/job-state.js';
import { syntheticClipState } from '../../engine/testing/clip-states.js';
import { CheckpointStore } from './checkpoint-store.js';

const PER_FRAME = 3000; // 12 kB a frame
const job: JobParams = {
  jobId: 2, totalFrames: 12, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 9, steps: 5, guidanceScale: 7.5,
  sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
};
const ranges = [{ start: 0, end: 5 }, { start: 5, end: 12 }];
const wire = (rank: number, steps: number) => encodeClipState(syntheticClipState(job, ranges[rank]!.start, ranges[rank]!.end, steps, PER_FRAME));

/** A checkpoint of `rank` after `steps`, as it arrives from the rank. */
function send(store: CheckpointStore, rank: number, steps: number): void {
  store.add(rank, steps, wire(rank, steps));
}

describe('checkpoint store', () => {
  it('the latest step every rank finished; re-cut for the members left, value for value', () => {
    const store = new CheckpointStore(job, ranges, PER_FRAME);
    expect(store.latestCommonStep()).toBeNull();
    send(store, 0, 1);
    expect(store.latestCommonStep()).toBeNull(); // rank 1 has none yet
    send(store, 1, 1);
    send(store, 0, 2);
    expect(store.latestCommonStep()).toBe(1); // rank 1 was lost before its step-2 checkpoint arrived
    const [alone] = store.recut(1, [{ start: 0, end: 12 }]);
    const whole = decodeClipState(alone!, job, PER_FRAME);
    expect(whole.nextStep).toBe(1);
    expect(whole.latents.subarray(0, 5 * PER_FRAME)).toEqual(decodeClipState(wire(0, 1), job, PER_FRAME).latents);
    expect(whole.latents.subarray(5 * PER_FRAME)).toEqual(decodeClipState(wire(1, 1), job, PER_FRAME).latents);
  });

  it('keeps two steps per rank: an older common step is gone', () => {
    const store = new CheckpointStore(job, ranges, PER_FRAME);
    for (const s of [1, 2, 3]) send(store, 0, s);
    send(store, 1, 1);
    expect(store.latestCommonStep()).toBeNull();
    expect(() => store.recut(1, ranges)).toThrow(/no checkpoint of rank 0 after step 1/);
  });

  it('refuses a checkpoint that is not the rank\'s, or not for this job, naming why; the store goes on', () => {
    const store = new CheckpointStore(job, ranges, PER_FRAME);
    expect(() => store.add(1, 1, wire(0, 1))).toThrow(/rank 1: frames \[0, 5\) at step 1, expected \[5, 12\) at step 1/);
    expect(() => store.add(0, 2, wire(0, 1))).toThrow(/expected \[0, 5\) at step 2/);
    expect(() => store.add(0, 1, encodeClipState(syntheticClipState({ ...job, seed: 10 }, 0, 5, 1, PER_FRAME)))).toThrow(/saved for a different job/);
    expect(() => store.add(2, 1, wire(1, 1))).toThrow(/the job has 2 ranks/);
    expect(() => store.add(0, 1, new Uint8Array(3))).toThrow(/too short/);
    send(store, 0, 1);
    send(store, 1, 1);
    expect(store.latestCommonStep()).toBe(1);
  });
});
