import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipExchange, type ExchangeMode, type ExchangeOptions } from '../engine/clip-exchange.js';
import { UPSTREAM_DUAL_SCOPE, type DualScopeParams } from '../engine/dual-scope.js';
import { partitionFrames } from '../engine/partition.js';
import { clipLayout, type ClipLayout } from '../engine/unet-call-inputs.js';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import { cfgPartnerBytes, globalRefreshShare, ourStepBudget, type ClipPlace } from './exchange-budget.js';
import { gathersGlobals, sampleSteps, scheduleJob, scheduleStep, stepBytesSent, stepTiming, type JobSteps, type ModePattern } from './exchange-replay.js';
import type { ExchangePoint, SegmentPlan } from './segment-plan.js';

const plan = JSON.parse(readFileSync(new URL('../../public/models/vi-shapes-tiny/onnx/segment-plan.json', import.meta.url), 'utf8')) as SegmentPlan;
const SCOPE: DualScopeParams = { ...UPSTREAM_DUAL_SCOPE, window: 4, topK: 8 };
/** Six steps; t < 800 from step 2 on (the local phase). */
const TIMESTEPS = [999, 900, 700, 500, 300, 100];
const JOB: JobSteps = { steps: TIMESTEPS.length, firstLocalStep: 2 };

const EXACT: ModePattern = { rule: 'exact', precision: 'fp32', warmupSteps: 0, staleStats: false, globalEvery: 1, cfgSplit: false };

const placeOf = (l: ClipLayout, worldSize: number): ClipPlace => ({
  worldSize, frames: l.frames, hasLeft: l.range.start > 0, hasRight: l.range.end < l.totalFrames, ownedGlobal: l.ownedGlobal.localFrames.length,
});

function sendShape(p: ExchangePoint, l: ClipLayout): number[] {
  if (p.kind === 'stats') return [plan.batch, p.groups, 2];
  if (p.kind === 'halo') return [plan.batch, p.channels, 2 * p.width, p.height, p.widthPx];
  return [p.tokens, l.sendLocalFrames.length, p.channels];
}

/** Every step of a job through the engine's real ClipExchange on in-process ranks: bytes each rank sent at each step ([rank][step]). */
async function measuredPerStep(W: number, mode: ExchangeMode, options: ExchangeOptions): Promise<{ layouts: ClipLayout[]; bytes: number[][] }> {
  const total = 12 * W + 1;
  const ranges = partitionFrames(total, W, plan.tconvHalo).ranges;
  const cols = createInProcessCollectives(W);
  const layouts = ranges.map((r) => clipLayout(r, total, SCOPE, plan.tconvHalo));
  const exs = cols.map((c, rank) => new ClipExchange(c, layouts[rank]!, plan, 7, mode, options, { timesteps: TIMESTEPS, phaseTimestep: 800 }));
  const bytes: number[][] = cols.map(() => []);
  for (let step = 0; step < TIMESTEPS.length; step++) {
    const before = cols.map((c) => c.stats().bytesSent);
    await Promise.all(exs.map(async (ex, rank) => {
      for (const [i, p] of plan.exchangePoints.entries()) {
        const dims = sendShape(p, layouts[rank]!);
        const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(p.kind === 'stats' ? 1 : 0);
        await ex.exchange(p, i, { dtype: 'float32', dims, data }, step);
      }
    }));
    await new Promise((r) => setTimeout(r, 10)); // stale: this step's own sends finish without waiting for the next step
    cols.forEach((c, rank) => bytes[rank]!.push(c.stats().bytesSent - before[rank]!));
  }
  return { layouts, bytes };
}

function predictedPerStep(layouts: ClipLayout[], W: number, mode: ModePattern): number[][] {
  return layouts.map((l) => scheduleJob(plan, placeOf(l, W), SCOPE.window, mode, JOB).map((s) => stepBytesSent(s, placeOf(l, W))));
}

describe('exchange replay schedule', () => {
  const cases: { name: string; engine: [ExchangeMode, ExchangeOptions]; pattern: ModePattern; unlike: ModePattern }[] = [
    { name: 'sparse-global, every 2', engine: ['sparse-global', { globalEvery: 2 }], pattern: { ...EXACT, rule: 'sparse-global', globalEvery: 2 }, unlike: { ...EXACT, rule: 'sparse-global', globalEvery: 3 } },
    { name: 'sparse-global fp16, every 4', engine: ['sparse-global', { globalEvery: 4, float16Wire: true }], pattern: { ...EXACT, rule: 'sparse-global', globalEvery: 4, precision: 'fp16' }, unlike: { ...EXACT, precision: 'fp16' } },
    { name: 'stale, 2 warm-up steps, stale statistics', engine: ['stale', { warmupSteps: 2, staleStats: true }], pattern: { ...EXACT, rule: 'stale', warmupSteps: 2, staleStats: true }, unlike: EXACT },
    { name: 'stale, 3 warm-up steps, exact statistics', engine: ['stale', { warmupSteps: 3, staleStats: false }], pattern: { ...EXACT, rule: 'stale', warmupSteps: 3, staleStats: false }, unlike: { ...EXACT, rule: 'stale', warmupSteps: 3, staleStats: true } },
    { name: 'exact-fp16', engine: ['exact-fp16', {}], pattern: { ...EXACT, precision: 'fp16' }, unlike: EXACT },
  ];
  for (const c of cases) {
    it(`${c.name}: every rank's bytes at every step equal what ClipExchange sends (W = 3)`, async () => {
      const { layouts, bytes } = await measuredPerStep(3, ...c.engine);
      expect(predictedPerStep(layouts, 3, c.pattern)).toEqual(bytes);
      // Negative control: a neighbouring setting of the mode predicts other bytes.
      expect(predictedPerStep(layouts, 3, c.unlike)).not.toEqual(bytes);
    });
  }

  it('stale: synchronous warm-up, then overlapped, and the last step only receives', () => {
    const stale: ModePattern = { ...EXACT, rule: 'stale', warmupSteps: 2, staleStats: true };
    expect(TIMESTEPS.map((_, s) => stepTiming(stale, 'halo', s, JOB))).toEqual(['sync', 'sync', 'overlap', 'overlap', 'overlap', 'previous']);
    expect(TIMESTEPS.map((_, s) => stepTiming({ ...stale, staleStats: false }, 'stats', s, JOB))).toEqual(Array(6).fill('sync'));
    expect(TIMESTEPS.map((_, s) => stepTiming({ ...stale, warmupSteps: 0 }, 'attention', s, JOB))[0]).toBe('sync'); // no previous step yet
    expect(TIMESTEPS.map((_, s) => stepTiming({ ...stale, warmupSteps: 6 }, 'attention', s, JOB))).toEqual(Array(6).fill('sync')); // = exact
    expect(TIMESTEPS.map((_, s) => stepTiming(EXACT, 'attention', s, JOB))).toEqual(Array(6).fill('sync'));
    const last = scheduleStep(plan, { worldSize: 2, frames: 12, hasLeft: true, hasRight: false, ownedGlobal: 4 }, 4, stale, JOB, 5);
    expect(last.exchanges.every((e) => e.haloBytes === 0 && e.gatherBytes === 0)).toBe(true);
  });

  it('sparse-global gathers on step 0, in the global phase and every k-th local step', () => {
    const m: ModePattern = { ...EXACT, rule: 'sparse-global', globalEvery: 3 };
    const job: JobSteps = { steps: 10, firstLocalStep: 2 };
    expect(Array.from({ length: 10 }, (_, s) => gathersGlobals(m, s, job))).toEqual([true, true, true, false, false, true, false, false, true, false]);
    expect(Array.from({ length: 4 }, (_, s) => gathersGlobals(m, s, { steps: 4, firstLocalStep: -1 }))).toEqual([true, true, true, true]);
    expect(Array.from({ length: 4 }, (_, s) => gathersGlobals(EXACT, s, job))).toEqual([true, true, true, true]);
  });

  it("a job's mean bytes per step equal the budget's (globalRefreshShare for sparse-global)", () => {
    const place: ClipPlace = { worldSize: 4, frames: 16, hasLeft: true, hasRight: true, ownedGlobal: 2 };
    const job: JobSteps = { steps: 30, firstLocalStep: 6 };
    for (const precision of ['fp32', 'fp16'] as const) {
      for (const k of [1, 4, 7]) {
        const m: ModePattern = { ...EXACT, rule: 'sparse-global', globalEvery: k, precision };
        const mean = scheduleJob(plan, place, 4, m, job).reduce((a, s) => a + stepBytesSent(s, place), 0) / job.steps;
        expect(mean).toBeCloseTo(ourStepBudget(plan, place, 4, { precision, globalShare: globalRefreshShare(30, 6, k), cfgSplit: false }).total, 6);
      }
    }
    const exact = scheduleJob(plan, place, 4, EXACT, job).map((s) => stepBytesSent(s, place));
    expect(new Set(exact)).toEqual(new Set([ourStepBudget(plan, place, 4).total]));
  });

  it('a CFG split halves every exchange and adds ε to the partner at every step', () => {
    const place: ClipPlace = { worldSize: 2, frames: 16, hasLeft: true, hasRight: false, ownedGlobal: 4 };
    const split = scheduleStep(plan, place, 4, { ...EXACT, cfgSplit: true }, JOB, 0);
    const whole = scheduleStep(plan, place, 4, EXACT, JOB, 0);
    expect(split.partnerBytes).toBe(cfgPartnerBytes(plan, 16, 'fp32'));
    expect(split.partnerBytes).toBe(plan.latent.channels * 16 * plan.latent.height * plan.latent.width * 4);
    expect(whole.partnerBytes).toBe(0);
    expect(split.exchanges.map((e) => 2 * e.haloBytes)).toEqual(whole.exchanges.map((e) => e.haloBytes));
    expect(stepBytesSent(split, place)).toBe(ourStepBudget(plan, place, 4, { precision: 'fp32', globalShare: 1, cfgSplit: true }).total);
  });

  it('a sample of each kind of step, weighted, gives the job mean bytes per step exactly', () => {
    const place: ClipPlace = { worldSize: 4, frames: 16, hasLeft: true, hasRight: true, ownedGlobal: 2 };
    const job: JobSteps = { steps: 30, firstLocalStep: 6 };
    const modes: ModePattern[] = [EXACT, { ...EXACT, rule: 'sparse-global', globalEvery: 4, precision: 'fp16' }, { ...EXACT, rule: 'stale', warmupSteps: 2, staleStats: true }];
    for (const m of modes) {
      const all = scheduleJob(plan, place, 4, m, job);
      const bytes = all.map((s) => stepBytesSent(s, place));
      const jobMean = bytes.reduce((a, b) => a + b, 0) / 30;
      const sample = sampleSteps(all, 2);
      expect(sample.weights.reduce((a, b) => a + b, 0)).toBe(30);
      expect(sample.steps.reduce((a, s, i) => a + sample.weights[i]! * bytes[s]!, 0) / 30).toBeCloseTo(jobMean, 6);
      expect(sampleSteps(all, Infinity)).toEqual({ steps: all.map((s) => s.step), weights: Array(30).fill(1) });
    }
    // The sample keeps each kind in job order: stale's warm-up, two overlapped steps, the last step.
    expect(sampleSteps(scheduleJob(plan, place, 4, modes[2]!, job), 2).steps).toEqual([0, 1, 2, 3, 29]);
    expect(sampleSteps(scheduleJob(plan, place, 4, modes[1]!, job), 2).steps).toEqual([0, 1, 7, 8]);
    // Negative control: the unweighted mean of the sparse-global sample is not the job's mean.
    const sparse = scheduleJob(plan, place, 4, modes[1]!, job);
    const sb = sparse.map((s) => stepBytesSent(s, place));
    const unweighted = sampleSteps(sparse, 2).steps.reduce((a, s) => a + sb[s]!, 0) / 4;
    expect(Math.abs(unweighted - sb.reduce((a, b) => a + b, 0) / 30)).toBeGreaterThan(1000);
  });

  it('rejects a step outside the job and a bad mode', () => {
    const place: ClipPlace = { worldSize: 2, frames: 16, hasLeft: true, hasRight: false, ownedGlobal: 4 };
    expect(() => scheduleStep(plan, place, 4, EXACT, JOB, 6)).toThrow(/step must be/);
    expect(() => scheduleStep(plan, place, 4, { ...EXACT, globalEvery: 0 }, JOB, 0)).toThrow(/globalEvery/);
    expect(() => scheduleStep(plan, place, 4, EXACT, { steps: 6, firstLocalStep: 6 }, 0)).toThrow(/firstLocalStep/);
  });
});
