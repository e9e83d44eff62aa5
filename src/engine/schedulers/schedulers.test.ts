import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { alphasCumprod, linspaceTimesteps, resolveSchedulerConfig, roundHalfEven } from './beta-schedule.js';
import { createScheduler, schedulerFromState } from './create-scheduler.js';
import { DDIMScheduler } from './ddim.js';
import { DPMSolverPP2MScheduler } from './dpm-solver-pp-2m.js';
import type { PredictionType, SamplerSpec, Scheduler, SchedulerState } from './scheduler.js';

interface GoldenStep {
  timestep: number;
  sample: number[];
  model_output: number[];
  noise: number[] | null;
  prev_sample: number[];
  pred_original_sample: number[];
}
interface GoldenRun {
  sampler: 'ddim-eta0' | 'ddim-eta1' | 'dpmsolver++' | 'sde-dpmsolver++';
  prediction_type: PredictionType;
  num_inference_steps: number;
  timesteps: number[];
  steps: GoldenStep[];
}
const golden = JSON.parse(readFileSync(new URL('../../../training/golden/samplers.json', import.meta.url), 'utf8')) as {
  alphas_cumprod: Record<string, number>;
  timesteps: Record<string, number[]>;
  runs: GoldenRun[];
};

const TOL = 1e-5; // docs/samplers.md: TS vs Python, per element, absolute (values are O(1))

function specOf(run: GoldenRun): SamplerSpec {
  const config = { predictionType: run.prediction_type };
  switch (run.sampler) {
    case 'ddim-eta0':
      return { kind: 'ddim', eta: 0, config };
    case 'ddim-eta1':
      return { kind: 'ddim', eta: 1, config };
    default:
      return { kind: 'dpm-solver++-2m', algorithmType: run.sampler, config };
  }
}

/** The golden's toy model: float32(0.1·x + (j − 8)/64). */
function toyModel(x: Float32Array): Float32Array {
  return Float32Array.from(x, (v, j) => 0.1 * v + (j - 8) / 64);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('schedule and timesteps vs training/samplers.py', () => {
  it('alphas_cumprod', () => {
    const abar = alphasCumprod(resolveSchedulerConfig());
    for (const [i, v] of Object.entries(golden.alphas_cumprod)) expect(Math.abs(abar[Number(i)]! - v) / v).toBeLessThan(1e-14);
  });
  it('linspace timesteps (incl. the float tie at n = 26)', () => {
    for (const [n, ts] of Object.entries(golden.timesteps)) expect(linspaceTimesteps(Number(n))).toEqual(ts);
    expect(linspaceTimesteps(5)).toEqual([999, 799, 599, 400, 200]);
  });
  it('roundHalfEven', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 0, 2, 3]);
  });
});

describe('sampler trajectories vs training/samplers.py golden (≤ 1e-5)', () => {
  for (const run of golden.runs) {
    it(`${run.sampler} ${run.prediction_type} ${run.num_inference_steps} steps`, () => {
      const s = createScheduler(specOf(run));
      s.setTimesteps(run.num_inference_steps);
      expect(s.timesteps).toEqual(run.timesteps);
      expect(s.isStochastic).toBe(run.steps[0]!.noise !== null);
      let x: Float32Array = Float32Array.from(run.steps[0]!.sample);
      run.steps.forEach((g, k) => {
        expect(maxAbsDiff(x, g.sample)).toBeLessThanOrEqual(TOL);
        const out = toyModel(x);
        expect(maxAbsDiff(out, g.model_output)).toBeLessThanOrEqual(TOL);
        const noise = g.noise === null ? undefined : Float32Array.from(g.noise);
        const r = s.step(out, s.timesteps[k]!, x, noise);
        expect(maxAbsDiff(r.prevSample, g.prev_sample)).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(r.predOriginalSample, g.pred_original_sample)).toBeLessThanOrEqual(TOL);
        x = r.prevSample;
      });
    });
  }
});

/** A perfect model for data at x0: ε = (x − √ᾱ x0)/√(1−ᾱ), v = √ᾱ ε − √(1−ᾱ) x0. */
function oracle(pred: PredictionType, x0: Float64Array) {
  const abar = alphasCumprod(resolveSchedulerConfig());
  return (x: Float32Array, t: number) => {
    const a = Math.sqrt(abar[t]!);
    const s = Math.sqrt(1 - abar[t]!);
    return Float32Array.from(x, (v, j) => {
      const eps = (v - a * x0[j]!) / s;
      return pred === 'epsilon' ? eps : a * eps - s * x0[j]!;
    });
  };
}

describe('sampler properties', () => {
  const specs: SamplerSpec[] = [
    { kind: 'ddim', eta: 0 },
    { kind: 'ddim', eta: 1 },
    { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' },
    { kind: 'dpm-solver++-2m', algorithmType: 'sde-dpmsolver++' },
  ];
  for (const spec of specs) {
    for (const pred of ['epsilon', 'v_prediction'] as const) {
      it(`${JSON.stringify(spec)} ${pred}: a perfect model lands on x0`, () => {
        const s = createScheduler({ ...spec, config: { predictionType: pred } });
        s.setTimesteps(10);
        const x0 = Float64Array.from({ length: 32 }, (_, j) => -1 + (2 * j) / 31);
        const model = oracle(pred, x0);
        let x: Float32Array = Float32Array.from({ length: 32 }, (_, j) => Math.sin(j * 12.9898) * 1.3);
        s.timesteps.forEach((t, k) => {
          const noise = Float32Array.from({ length: 32 }, (_, j) => Math.cos(j * 7.1 + k));
          x = s.step(model(x, t), t, x, noise).prevSample;
        });
        expect(maxAbsDiff(x, x0)).toBeLessThan(1e-4);
      });
    }
  }

  it('is elementwise: stepping a slice gives the slice of the full step', () => {
    const full = new DPMSolverPP2MScheduler({ algorithmType: 'sde-dpmsolver++' });
    const part = new DPMSolverPP2MScheduler({ algorithmType: 'sde-dpmsolver++' });
    full.setTimesteps(4);
    part.setTimesteps(4);
    let x: Float32Array = Float32Array.from({ length: 20 }, (_, j) => Math.sin(j));
    let y: Float32Array = x.slice(5, 12);
    for (const t of full.timesteps) {
      const noise = Float32Array.from({ length: 20 }, (_, j) => Math.cos(j + t));
      x = full.step(toyModel(x), t, x, noise).prevSample;
      y = part.step(Float32Array.from(y, (v, j) => 0.1 * v + (j + 5 - 8) / 64), t, y, noise.slice(5, 12)).prevSample;
      expect(y).toEqual(x.slice(5, 12));
    }
  });

  it('resumes bit for bit from getState (structured clone)', () => {
    const run = (cut: number | null): Float32Array[] => {
      let s: Scheduler = new DPMSolverPP2MScheduler({ algorithmType: 'dpmsolver++' });
      s.setTimesteps(6);
      let x: Float32Array = Float32Array.from({ length: 8 }, (_, j) => j / 8 - 0.4);
      const outs: Float32Array[] = [];
      s.timesteps.forEach((t, k) => {
        if (k === cut) s = schedulerFromState(structuredClone(s.getState()));
        x = s.step(toyModel(x), t, x).prevSample;
        outs.push(x);
      });
      return outs;
    };
    expect(run(3)).toEqual(run(null));
  });

  it('fails early with named errors', () => {
    const d = new DPMSolverPP2MScheduler();
    const z = new Float32Array(4);
    expect(() => d.step(z, 999, z)).toThrow(/before setTimesteps\(numInferenceSteps\)/);
    expect(() => d.timesteps).toThrow(expect.objectContaining({ code: 'not-initialized' }));
    d.setTimesteps(4);
    expect(() => d.step(z, 998, z)).toThrow(expect.objectContaining({ code: 'unknown-timestep' }));
    d.step(z, 999, z);
    expect(() => d.step(z, 999, z)).toThrow(/expected timestep 749 at step index 1, got 999/);
    expect(() => d.step(z, 749, new Float32Array(3))).toThrow(expect.objectContaining({ code: 'shape-mismatch' }));
    const sde = new DDIMScheduler({ eta: 0.5 });
    sde.setTimesteps(3);
    expect(() => sde.step(z, 999, z)).toThrow(expect.objectContaining({ code: 'noise-required' }));
    expect(() => new DDIMScheduler({ eta: 1.5 })).toThrow(/eta must be a number in \[0, 1\], got 1.5/);
    expect(() => new DDIMScheduler({ config: { predictionType: 'sample' as PredictionType } })).toThrow(/predictionType must be one of/);
    expect(() => d.setTimesteps(1000)).toThrow(/numInferenceSteps must be an integer in \[1, 999\], got 1000/);
    expect(() => schedulerFromState({ ...d.getState(), lowerOrderNums: 7 } as SchedulerState)).toThrow(expect.objectContaining({ code: 'bad-state' }));
  });
});
