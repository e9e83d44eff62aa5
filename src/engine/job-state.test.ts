/**
 * The checkpoint's wire form (job-state.ts): what a worker sends the host after every step and the
 * host sends back, re-cut, when a lost tab's frames are reassigned. Bytes from the network are
 * untrusted: every malformed form must fail with a clear 'bad-state' error.
 */
import { describe, expect, it } from 'vitest';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { checkClipState, decodeClipState, encodeClipState, recutStates, type ClipState, type JobParams } from './job-state.js';
import { createScheduler } from './schedulers/create-scheduler.js';
import type { SamplerSpec } from './schedulers/scheduler.js';
import { syntheticClipState } from './testing/clip-states.js';

const PER_FRAME = 6;

function job(sampler: SamplerSpec, extra: Partial<JobParams> = {}): JobParams {
  return {
    jobId: 3, totalFrames: 10, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 5, steps: 4, guidanceScale: 7.5,
    sampler, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null, ...extra,
  };
}

const stateAfter = (j: JobParams, start: number, end: number, steps: number) => syntheticClipState(j, start, end, steps, PER_FRAME);

const DPM = job({ kind: 'dpm-solver++-2m', algorithmType: 'sde-dpmsolver++' });
const DDIM = job({ kind: 'ddim', eta: 0 });

describe('checkpoint wire form', () => {
  it.each([
    ['DPM-Solver++ after 2 steps', DPM, 2],
    ['DPM-Solver++ before the first step', DPM, 0],
    ['DDIM after 3 steps', DDIM, 3],
  ])('%s: decode(encode(state)) is the state, value for value', (_, j, steps) => {
    const state = stateAfter(j, 4, 10, steps);
    const back = decodeClipState(encodeClipState(state), j, PER_FRAME);
    expect(back.range).toEqual(state.range);
    expect(back.nextStep).toBe(steps);
    expect(back.latents).toEqual(state.latents);
    expect(back.scheduler).toEqual(state.scheduler);
    const s = createScheduler(j.sampler);
    s.loadState(back.scheduler); // the engine loads it into the job's own sampler
    expect(s.getState()).toEqual(state.scheduler);
  });

  it('re-cut states round-trip too (what the host sends each survivor)', () => {
    const states = [stateAfter(DPM, 0, 4, 2), stateAfter(DPM, 4, 10, 2)];
    for (const s of recutStates(states, [{ start: 0, end: 7 }, { start: 7, end: 10 }], PER_FRAME)) {
      expect(decodeClipState(encodeClipState(s), DPM, PER_FRAME).latents).toEqual(s.latents);
    }
  });

  it('refuses malformed bytes with a reason', () => {
    const good = encodeClipState(stateAfter(DPM, 4, 10, 2));
    const edit = (f: (b: Uint8Array, v: DataView) => void) => {
      const b = good.slice();
      f(b, new DataView(b.buffer));
      return b;
    };
    const header = (patch: (h: Record<string, unknown>) => void) => {
      const len = new DataView(good.buffer).getUint32(4, true);
      const h = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + len))) as Record<string, unknown>;
      patch(h);
      const state = stateAfter(DPM, 4, 10, 2);
      return encodeClipState({ ...state, ...h, scheduler: { ...state.scheduler, ...(h.scheduler as object) } } as ClipState);
    };
    const bad: [Uint8Array, RegExp][] = [
      [new Uint8Array(3), /too short/],
      [edit((b) => (b[0] = 0)), /do not start with 'VICS'/],
      [edit((_, v) => v.setUint32(4, 1e9, true)), /header of 1000000000 bytes/],
      [edit((b) => (b[8] = 0x7b + 1)), /not JSON/],
      [good.subarray(0, good.length - 4), /needs/],
      [header((h) => (h.range = { start: 4, end: 11 })), /range must lie in \[0, 10\]/],
      [header((h) => (h.nextStep = 3)), /scheduler is not at step 3/],
      [header((h) => (h.scheduler = { ...(h.scheduler as object), kind: 'ddim' })), /scheduler must be a dpm-solver\+\+-2m state/],
      [header((h) => (h.scheduler = { numInferenceSteps: 5 })), /set to 4 steps/],
      [edit((b) => b.set(new TextEncoder().encode('"video":"00000000"'), new TextDecoder().decode(b).indexOf('"video":'))), /saved for a different job/],
      [header((h) => (h.nextStep = 9)), /nextStep must be an integer in \[0, 4\]/],
    ];
    for (const [bytes, why] of bad) expect(() => decodeClipState(bytes, DPM, PER_FRAME)).toThrow(why);
    // another sampler's checkpoint, or one for another job
    expect(() => decodeClipState(good, DDIM, PER_FRAME)).toThrow(/saved for a different job/);
    expect(() => decodeClipState(good, { ...DPM, seed: 6 }, PER_FRAME)).toThrow(/saved for a different job/);
    expect(() => decodeClipState(good, { ...DPM, steps: 5 }, PER_FRAME)).toThrow(/saved for a different job/);
    expect(() => decodeClipState(good, DPM, PER_FRAME + 1)).toThrow(/needs/);
  });

  it('checkClipState refuses a DPM state whose last model output is missing', () => {
    const s = stateAfter(DPM, 0, 4, 1);
    expect(() => checkClipState({ ...s, scheduler: { ...s.scheduler, lastModelOutput: null } as ClipState['scheduler'] }, DPM, s.range, PER_FRAME)).toThrow(/last model output/);
  });
});
