/**
 * The headline property, the correctness contract of the whole design: the video does not depend on
 * how many ranks compute it or how the frames are split. Runs the real loop, executor and exchanges
 * over the in-process collective on the compiler's random-weight tiny model (onnxruntime-node,
 * CPU).
 *
 * Tolerances. One UNet call differs between partitions only by float32 roundoff (reduction order
 * of GroupNorm statistics and softmax sums): measured ~4e-6 on noise_pred, checked at 2e-5 on both
 * CFG halves. The sampler's first step at t = 999 turns ε into x0 with a gain of σ/α ≈ 15; at
 * guidance 1 the final latents after two steps differ by 6.8–7.4e-5 across partitions, held to
 * TOL = 1e-4. Guidance s combines the halves as (1 − s)·ε_u + s·ε_c, so roundoff of δ in each half
 * comes out as at most (|1 − s| + |s|)·δ, while a difference already in the latents reaches both
 * halves alike and passes with weights that sum to 1. The loop is held to (|1 − s| + |s|)·TOL at
 * guidance s: 1.4e-3 at 7.5, where 5.3–6.4e-4 is measured (7–10× the guidance-1 figure, not the
 * worst case 14×: the two halves' roundoff is partly the same).
 * Negative control: rank 1 receiving zeros instead of its left neighbour's frames in one
 * temporal-conv halo of the last step (one exchange, one seam, no later step to amplify it) moves
 * the latents by 1.4e-1 at guidance 1 and 8.6e-2 at 7.5, 60× and more the bound, so the bound
 * would catch a real partition bug (isolated clips: 32 and 110).
 */
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import { ClipExchange } from './clip-exchange.js';
import type { Collective } from './collective.js';
import { denoise, denoiseWhole, frameMajorToChannelMajor, type StepProgress } from './denoise.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import type { EngineModel } from './engine-model.js';
import { cfgBatch } from './guidance.js';
import { recutStates, type ClipState, type JobParams } from './job-state.js';
import { partitionFrames, type FrameRange, type Partition } from './partition.js';
import { initialLatent } from './rng.js';
import type { OrtModule } from './session-runner.js';
import { CorruptingCollective } from './testing/corrupting-collective.js';
import { openTinyEngine } from './testing/tiny-engine.js';
import { clipLayout, segmentedCallInputs, wholeCallInputs } from './unet-call-inputs.js';

const PER_FRAME = 48 * 8 * 8;
/** Final latents after two steps at guidance 1, any partition against W = 1 (see the header). */
const TOL = 1e-4;
/** The same at guidance s: CFG multiplies a per-call difference by up to |1 − s| + |s|. */
const tolAt = (s: number): number => (Math.abs(1 - s) + Math.abs(s)) * TOL;

let model: EngineModel;
beforeAll(async () => {
  model = await openTinyEngine(ort as unknown as OrtModule);
});

function job(totalFrames: number, extra: Partial<JobParams> = {}): JobParams {
  return {
    jobId: 7,
    totalFrames,
    promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle moving right' }, { fromFrame: Math.floor(totalFrames / 2) - 1, prompt: 'a blue square on a white background' }] },
    seed: 1234,
    steps: 2,
    guidanceScale: 1,
    sampler: { kind: 'dpm-solver++-2m', algorithmType: 'sde-dpmsolver++' },
    dualScope: EMBEDDED_DUAL_SCOPE,
    fps: 8,
    partition: null,
    ...extra,
  };
}

function ranges(lengths: number[]): Partition {
  const out: FrameRange[] = [];
  let s = 0;
  for (const n of lengths) out.push({ start: s, end: (s += n) });
  return { totalFrames: s, ranges: out };
}

/**
 * Runs every rank in-process; returns the video's latents [N, C, H, W] and the per-rank results.
 * `wrap`: what a rank's collective becomes (negative controls corrupt one).
 */
async function renderParallel(j: JobParams, worldSize: number, opts: { onProgress?: (p: StepProgress) => void; resume?: ClipState[]; wrap?: (c: Collective) => Collective } = {}) {
  const cols = createInProcessCollectives(worldSize).map((c) => opts.wrap?.(c) ?? c);
  const results = await Promise.all(cols.map((c, r) => denoise(model, j, c, { onProgress: opts.onProgress, resume: opts.resume?.[r] })));
  const latents = new Float32Array(j.totalFrames * PER_FRAME);
  for (const res of results) latents.set(res.latents, res.range.start * PER_FRAME);
  return { latents, results };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('one UNet call', () => {
  it('segmented on 1, 2 (uneven) and 3 ranks equals the whole graph (noise_pred within 2e-5)', async () => {
    const N = 12;
    const plan = model.plan;
    const lat = initialLatent(5, [...Array(N).keys()], PER_FRAME);
    const row = await model.encodePrompt!('a red circle');
    const values = (r: FrameRange) => {
      const f = r.end - r.start;
      const ehs = new Float32Array(2 * f * row.length);
      for (let i = 0; i < 2 * f; i++) ehs.set(row, i * row.length);
      return { sample: cfgBatch(frameMajorToChannelMajor(lat.slice(r.start * PER_FRAME, r.end * PER_FRAME), f, 48, 64)), timestep: 999, fps: 8, encoderHiddenStates: ehs };
    };
    const whole = (await model.whole!.call(wholeCallInputs(plan, N, EMBEDDED_DUAL_SCOPE, values({ start: 0, end: N })))).noisePred; // [2, C, N, P]
    for (const lengths of [[12], [5, 7], [4, 4, 4]]) {
      const p = ranges(lengths);
      const cols = createInProcessCollectives(lengths.length);
      const outs = await Promise.all(
        cols.map((c, r) => {
          const layout = clipLayout(p.ranges[r]!, N, EMBEDDED_DUAL_SCOPE, plan.tconvHalo);
          return model.segments!.call(segmentedCallInputs(plan, layout, values(p.ranges[r]!)), new ClipExchange(c, layout, plan, 1), 0);
        }),
      );
      let m = 0;
      outs.forEach((o, r) => {
        const { start, end } = p.ranges[r]!;
        const f = end - start;
        for (let bc = 0; bc < 2 * 48; bc++)
          for (let j = 0; j < f; j++)
            for (let q = 0; q < 64; q++) m = Math.max(m, Math.abs(o.noisePred[(bc * f + j) * 64 + q]! - whole[(bc * N + start + j) * 64 + q]!));
      });
      expect(m, `partition ${lengths.join('+')}`).toBeLessThanOrEqual(2e-5);
    }
  });
});

for (const guidance of [1, 7.5]) {
  const tol = tolAt(guidance);
  describe(`partition invariance of the whole loop at guidance ${guidance} (final latents within ${tol.toExponential(1)})`, () => {
    const N = 16;
    const j = (extra: Partial<JobParams> = {}) => job(N, { guidanceScale: guidance, ...extra });
    let reference: Float32Array;
    /** Measured max |Δ| per case, logged with the bound so the margin shows in every run. */
    const seen: string[] = [];

    beforeAll(async () => {
      reference = (await denoise(model, j(), null)).latents; // W = 1, segmented
    });
    afterAll(() => console.log(`[partition invariance] guidance ${guidance}, bound ${tol.toExponential(2)}: ${seen.join(', ')}`));

    it('segmented W = 1 equals the whole graph', async () => {
      const whole = await denoiseWhole(model, j());
      const d = maxAbsDiff(whole.latents, reference);
      seen.push(`whole ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(tol);
    });

    const cases: [string, number, number[] | null][] = [
      ['W = 2 even', 2, null],
      ['W = 2 uneven 5+11', 2, [5, 11]],
      ['W = 3 even', 3, null],
      ['W = 3 uneven 4+8+4', 3, [4, 8, 4]],
      ['W = 4 even', 4, null],
    ];
    for (const [name, w, lengths] of cases) {
      it(name, async () => {
        const { latents, results } = await renderParallel(j({ partition: lengths ? ranges(lengths) : null }), w);
        if (!lengths) expect(results.map((r) => r.range)).toEqual(partitionFrames(N, w, 4).ranges);
        const d = maxAbsDiff(latents, reference);
        seen.push(`${name} ${d.toExponential(2)}`);
        expect(d).toBeLessThanOrEqual(tol);
      });
    }

    it("negative control: W = 3 with rank 1's left halo zeroed in one temporal conv of the last step exceeds the bound", async () => {
      const pointId = model.plan.exchangePoints.findIndex((p) => p.kind === 'halo');
      const corrupting: CorruptingCollective[] = [];
      const wrap = (c: Collective): Collective => {
        if (c.rank !== 1) return c;
        const w = new CorruptingCollective(c, { step: j().steps - 1, pointId, side: 'left' }); // the last step
        corrupting.push(w);
        return w;
      };
      const { latents } = await renderParallel(j(), 3, { wrap });
      expect(corrupting.map((c) => c.hits)).toEqual([1]); // exactly one exchange was wrong
      const d = maxAbsDiff(latents, reference);
      seen.push(`negative control ${d.toExponential(2)} (${(d / tol).toFixed(0)}× the bound)`);
      expect(d).toBeGreaterThan(tol);
    });
  });
}

describe('partition invariance, decoded frames', () => {
  it('W = 4 uneven (4+6+4+4 of 18 frames) equals W = 1, and the decoded frames agree', async () => {
    const j = job(18);
    const one = await denoise(model, j, null);
    const { latents, results } = await renderParallel({ ...j, partition: ranges([4, 6, 4, 4]) }, 4);
    expect(maxAbsDiff(latents, one.latents)).toBeLessThanOrEqual(TOL);
    const frames = new Uint8Array(one.frames!.data.length);
    for (const r of results) frames.set(r.frames!.data, r.range.start * 32 * 32 * 3);
    let off = 0;
    for (let i = 0; i < frames.length; i++) off = Math.max(off, Math.abs(frames[i]! - one.frames!.data[i]!));
    expect(off).toBeLessThanOrEqual(1); // a byte may round the other way at x.5
  });
});

describe('resume and progress', () => {
  it('resuming every rank from its mid-job checkpoint gives the identical result', async () => {
    const j = job(12, { steps: 3 });
    const cols = createInProcessCollectives(2);
    const checkpoints: ClipState[][] = [[], []];
    const full = await Promise.all(cols.map((c, r) => denoise(model, j, c, { onCheckpoint: (s) => checkpoints[r]!.push(s) })));
    expect(checkpoints.map((c) => c.length)).toEqual([3, 3]);
    // The tab is lost after step 1: the checkpoint survives a structured clone (IndexedDB / postMessage).
    const saved = checkpoints.map((c) => structuredClone(c[0]!));
    const cols2 = createInProcessCollectives(2);
    const resumed = await Promise.all(cols2.map((c, r) => denoise(model, j, c, { resume: saved[r] })));
    for (let r = 0; r < 2; r++) expect(resumed[r]!.latents).toEqual(full[r]!.latents);
  });

  it('a job stopped after step 1 and resumed on a different partition (2 → 3 ranks) matches the uninterrupted run', async () => {
    const j = job(12, { steps: 3 });
    const full = await denoise(model, j, null);
    const cols = createInProcessCollectives(2);
    const half = await Promise.all(cols.map((c) => denoise(model, j, c, { stopAfterStep: 1 })));
    expect(half.every((h) => h.frames === null && h.state.nextStep === 1)).toBe(true);
    const p3 = partitionFrames(12, 3, 4);
    const states = recutStates(half.map((h) => h.state), p3.ranges, PER_FRAME);
    const { latents } = await renderParallel({ ...j, partition: p3 }, 3, { resume: states.map((s) => ({ ...s, job: { ...s.job, partition: p3 } })) });
    expect(maxAbsDiff(latents, full.latents)).toBeLessThanOrEqual(TOL);
  });

  it('an explicit warm-up call is left out of the timings and does not change the result', async () => {
    const j = job(8);
    const plain = await denoise(model, j, null);
    const before = model.runner.timings();
    const warmed = await denoise(model, j, null, { warmUp: true });
    const after = model.runner.timings();
    expect(warmed.latents).toEqual(plain.latents);
    expect(after.warmUpRuns - before.warmUpRuns).toBe(model.plan.segments.length);
    expect(after.runs - before.runs).toBe(j.steps * model.plan.segments.length + 3); // + text encoder: "" and the two prompts
  });

  it('reports one progress event per step with bytes, timings and an x0 preview', async () => {
    const events: StepProgress[] = [];
    const j = job(12);
    await renderParallel(j, 2, { onProgress: (p) => events.push(p) });
    expect(events.length).toBe(2 * j.steps);
    for (const e of events) {
      expect(e.bytesSent).toBeGreaterThan(0);
      expect(e.bytesReceived).toBeGreaterThan(0);
      expect(e.computeMs).toBeGreaterThan(0);
      expect(e.preview.rgb.frames).toBe(6);
      expect(e.preview.rgb.data.length).toBe(6 * 32 * 32 * 3);
      expect(e.preview.globalFrames[0]).toBe(e.rank * 6);
    }
  });

  it("exchange mode 'isolated' sends nothing and changes the video; on one rank it changes nothing", async () => {
    const j = job(12, { exchangeMode: 'isolated' });
    const events: StepProgress[] = [];
    const iso = await renderParallel(j, 2, { onProgress: (p) => events.push(p) });
    expect(events.every((e) => e.bytesSent === 0 && e.bytesReceived === 0)).toBe(true);
    const exact = await denoise(model, job(12), null);
    expect(maxAbsDiff(iso.latents, exact.latents)).toBeGreaterThan(1e-2);
    const isoOne = await denoise(model, j, null);
    expect(maxAbsDiff(isoOne.latents, exact.latents)).toBe(0);
  });
});

describe('validation', () => {
  it('names the argument, its value and the rule', async () => {
    await expect(denoise(model, job(12, { steps: 0 }), null)).rejects.toThrow('denoise: job.steps must be an integer in [1, 1000], got 0');
    await expect(denoise(model, job(3, { promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] } }), null)).rejects.toThrow(/clip \[0, 3\) length must be at least the temporal conv halo \(4\)/);
    await expect(denoise(model, job(12, { partition: ranges([6, 6]) }), null)).rejects.toThrow(/job.partition.ranges.length must be the world size \(1\), got 2/);
    await expect(denoise(model, job(12, { promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a purple circle' }] } }), null)).rejects.toThrow(/not in the vocabulary: 'purple'/);
  });
});
