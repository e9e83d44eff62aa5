import { describe, expect, it } from 'vitest';
import { EMBEDDED_DUAL_SCOPE } from '../../engine/dual-scope.js';
import { decodeClipState, encodeClipState, type JobParams } from '../../engine/job-state.js';
import { syntheticClipState } from '../../engine/testing/clip-states.js';
import { CheckpointStore } from './checkpoint-store.js';
import { ChunkedBytes, toBase64Pieces } from './chunked-bytes.js';

const PER_FRAME = 3000; // 12 kB a frame: a checkpoint spans several control-channel pieces
const job: JobParams = {
  jobId: 2, totalFrames: 12, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 9, steps: 5, guidanceScale: 7.5,
  sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
};
const ranges = [{ start: 0, end: 5 }, { start: 5, end: 12 }];
const wire = (rank: number, steps: number) => encodeClipState(syntheticClipState(job, ranges[rank]!.start, ranges[rank]!.end, steps, PER_FRAME));

/** Sends a checkpoint to the store as a worker does: in pieces, here in reverse order. */
function send(store: CheckpointStore, rank: number, steps: number): void {
  const pieces = toBase64Pieces(wire(rank, steps));
  expect(pieces.length).toBeGreaterThan(1);
  for (const p of [...pieces].reverse()) store.addChunk(rank, steps, p.index, p.count, p.base64);
}

describe('chunked bytes', () => {
  it('pieces decode alone and join to the bytes in any order; a count that changes is refused', () => {
    const bytes = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7) & 255);
    const pieces = toBase64Pieces(bytes).map((p) => p.base64);
    const blob = new ChunkedBytes(pieces.length);
    expect(pieces.length).toBe(5);
    expect([2, 0, 4, 1, 3].map((i) => blob.add(i, pieces.length, pieces[i]!))).toEqual([false, false, false, false, true]);
    expect(blob.bytes()).toEqual(bytes);
    expect(() => blob.add(0, 6, pieces[0]!)).toThrow(/different counts/);
    expect(toBase64Pieces(new Uint8Array(0))).toEqual([{ index: 0, count: 1, base64: '' }]);
  });
});

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
    expect(() => store.addChunk(2, 1, 0, 1, 'AAAA')).toThrow(/the job has 2 ranks/);
    expect(() => store.addChunk(0, 1, 0, 1, 'AAAA')).toThrow(/too short/);
    send(store, 0, 1);
    send(store, 1, 1);
    expect(store.latestCommonStep()).toBe(1);
  });
});

describe('checkpoint store: a member cannot pile up pieces', () => {
  it('refuses a checkpoint of more pieces than a state of the rank\'s frames can fill', () => {
    const store = new CheckpointStore(job, ranges, PER_FRAME);
    const pieces = toBase64Pieces(wire(0, 1)).length;
    expect(() => store.addChunk(0, 1, 0, 100 * pieces, 'AAAA')).toThrow(/rank 0: \d+ pieces, a state of its frames fills at most \d+/);
    send(store, 0, 1); // a real one still fits
    send(store, 1, 1);
    expect(store.latestCommonStep()).toBe(1);
  });

  it('keeps at most two checkpoints arriving per rank: pieces of older unfinished ones are dropped', () => {
    const store = new CheckpointStore(job, ranges, PER_FRAME);
    const [first] = toBase64Pieces(wire(0, 1));
    for (const step of [1, 2, 3, 4]) store.addChunk(0, step, 0, first!.count, first!.base64); // never completed
    const arriving = (store as unknown as { arriving: Map<number, unknown>[] }).arriving[0]!;
    expect([...arriving.keys()]).toEqual([3, 4]);
    send(store, 0, 5);
    expect(arriving.size).toBe(0);
  });
});
