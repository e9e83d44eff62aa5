import { describe, expect, it } from 'vitest';
import { EMBEDDED_DUAL_SCOPE } from '../../engine/dual-scope.js';
import { decodeClipState, encodeClipState, type JobParams } from '../../engine/job-state.js';
import { syntheticClipState } from '../../engine/testing/clip-states.js';
import { inProcessKeepers } from './checkpoint-keeper.js';

const PER_FRAME = 300;
const job: JobParams = {
  jobId: 2, totalFrames: 12, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 9, steps: 5, guidanceScale: 7.5,
  sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
};
const ranges = [{ start: 0, end: 5 }, { start: 5, end: 12 }];
const wire = (rank: number, steps: number) => encodeClipState(syntheticClipState(job, ranges[rank]!.start, ranges[rank]!.end, steps, PER_FRAME));

describe('checkpoint keeper: the host\'s checkpoints in a worker', () => {
  it('keeps every rank\'s checkpoints, says the newest common step, re-cuts them for a new partition and the whole video', async () => {
    const keeper = inProcessKeepers().open(job, ranges, PER_FRAME);
    const sent = wire(0, 1);
    expect(await keeper.add(0, 1, sent)).toBeNull(); // rank 1 has none yet
    expect(sent.byteLength).toBe(0); // handed over, not copied
    expect(await keeper.add(1, 1, wire(1, 1))).toBe(1);
    expect(keeper.latestCommonStep).toBe(1);
    const [a, b] = await keeper.recut(1, [{ start: 0, end: 8 }, { start: 8, end: 12 }]);
    expect(decodeClipState(a!, job, PER_FRAME).range).toEqual({ start: 0, end: 8 });
    expect(decodeClipState(b!, job, PER_FRAME).range).toEqual({ start: 8, end: 12 });
    const whole = decodeClipState(new Uint8Array(await (await keeper.whole(1, 12)).arrayBuffer()), job, PER_FRAME);
    expect(whole.latents.subarray(0, 5 * PER_FRAME)).toEqual(decodeClipState(wire(0, 1), job, PER_FRAME).latents);
    expect(whole.latents.subarray(5 * PER_FRAME)).toEqual(decodeClipState(wire(1, 1), job, PER_FRAME).latents);
  });

  it('a refused checkpoint rejects naming why, and the store goes on; a closed store answers no more', async () => {
    const channel = inProcessKeepers();
    const keeper = channel.open(job, ranges, PER_FRAME);
    await expect(keeper.add(1, 1, wire(0, 1))).rejects.toThrow(/rank 1: frames \[0, 5\) at step 1, expected \[5, 12\)/);
    await expect(keeper.add(0, 1, new Uint8Array(3))).rejects.toThrow(/too short/);
    await expect(keeper.recut(1, ranges)).rejects.toThrow(/no checkpoint of rank 0 after step 1/);
    expect(await keeper.add(0, 1, wire(0, 1))).toBeNull();
    keeper.close();
    await expect(keeper.add(1, 1, wire(1, 1))).rejects.toThrow(/closed/);
    expect(await channel.open(job, ranges, PER_FRAME).add(0, 2, wire(0, 2))).toBeNull(); // other stores are unaffected
  });
});
