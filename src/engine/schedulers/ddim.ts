/**
 * DDIM (Song et al. 2020, arXiv 2010.02502), eta = 0 deterministic, eta ∈ (0, 1] stochastic.
 * Twin of `DDIMScheduler` in training/samplers.py (docs/samplers.md). Owns one algorithm; imports
 * only the contract, the shared schedule and `../errors.ts`.
 *
 * Deliberate differences from diffusers' DDIMScheduler defaults: "linspace" timesteps (the same as
 * DPM-Solver), previous timestep = the next list entry (diffusers: t − T // n), no clip_sample,
 * set_alpha_to_one (the last step lands on ᾱ = 1 and returns x0).
 *
 * | code | paper |
 * |---|---|
 * | alphaT, alphaPrev | α_t, α_{t−1} (cumulative products ᾱ) |
 * | x0 | "predicted x_0", eq. (12) |
 * | std | σ_t(η), eq. (16) |
 */

import { check, SchedulerError } from '../errors.js';
import { alphasCumprod, checkLengths, linspaceTimesteps, resolveSchedulerConfig, sameConfig } from './beta-schedule.js';
import type { FloatArray, Scheduler, SchedulerConfig, SchedulerState, StepResult } from './scheduler.js';

export interface DDIMCoefficients {
  /** √ᾱ_t and √(1 − ᾱ_t): x_t = alpha·x0 + sigma·ε. */
  readonly alpha: number;
  readonly sigma: number;
  readonly cX0: number;
  readonly cEps: number;
  readonly cNoise: number;
}

export class DDIMScheduler implements Scheduler {
  readonly kind = 'ddim';
  readonly initNoiseSigma = 1;
  readonly config: SchedulerConfig;
  readonly eta: number;
  private readonly alphasCumprod: Float64Array;
  private timestepList: number[] | null = null;

  constructor(options: { eta?: number; config?: Partial<SchedulerConfig> } = {}) {
    const eta = options.eta ?? 0;
    check(typeof eta === 'number' && eta >= 0 && eta <= 1, SchedulerError, 'DDIMScheduler', 'eta', eta, 'a number in [0, 1]');
    this.eta = eta;
    this.config = resolveSchedulerConfig(options.config);
    this.alphasCumprod = alphasCumprod(this.config);
  }

  get isStochastic(): boolean {
    return this.eta > 0;
  }

  get timesteps(): readonly number[] {
    return this.requireTimesteps('timesteps');
  }

  setTimesteps(numInferenceSteps: number): void {
    this.timestepList = linspaceTimesteps(numInferenceSteps, this.config.numTrainTimesteps);
  }

  scaleModelInput(sample: FloatArray): FloatArray {
    return sample;
  }

  /** The float64 scalars of the step from `timestep` to the next list entry. */
  coefficients(timestep: number): DDIMCoefficients {
    const ts = this.requireTimesteps('step');
    const i = ts.indexOf(timestep);
    if (i < 0) throw new SchedulerError('unknown-timestep', `DDIMScheduler.step: timestep ${timestep} is not in this scheduler's timesteps [${ts.join(', ')}]`);
    // 1. ᾱ at t and at the previous (smaller) timestep; 1 after the last
    const alphaT = this.alphasCumprod[ts[i]!]!;
    const alphaPrev = i + 1 < ts.length ? this.alphasCumprod[ts[i + 1]!]! : 1;
    const betaT = 1 - alphaT;
    const betaPrev = 1 - alphaPrev;
    // 2. σ_t(η)² of eq. (16) at η = 1
    const variance = (betaPrev / betaT) * (1 - alphaT / alphaPrev);
    const std = this.eta * Math.sqrt(variance);
    return {
      alpha: Math.sqrt(alphaT),
      sigma: Math.sqrt(betaT),
      cX0: Math.sqrt(alphaPrev),
      cEps: Math.sqrt(Math.max(0, 1 - alphaPrev - std * std)),
      cNoise: std,
    };
  }

  step(modelOutput: FloatArray, timestep: number, sample: FloatArray, noise?: FloatArray): StepResult {
    const c = this.coefficients(timestep);
    const n = sample.length;
    checkLengths('DDIMScheduler.step', n, { modelOutput, noise });
    if (this.isStochastic && noise === undefined) {
      throw new SchedulerError('noise-required', `DDIMScheduler.step: eta=${this.eta} needs noise (rng PURPOSE_SAMPLER_NOISE)`);
    }
    const prevSample = new Float32Array(n);
    const predOriginalSample = new Float32Array(n);
    const v = this.config.predictionType === 'v_prediction';
    for (let j = 0; j < n; j++) {
      const x = sample[j]!;
      const out = modelOutput[j]!;
      // 3. x0 and ε from the model output, eq. (12)
      const x0 = v ? c.alpha * x - c.sigma * out : (x - c.sigma * out) / c.alpha;
      const eps = v ? c.alpha * out + c.sigma * x : out;
      // 4. x_prev = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ²)·ε [+ σ·z]
      let prev = c.cX0 * x0 + c.cEps * eps;
      if (noise !== undefined && this.isStochastic) prev = prev + c.cNoise * noise[j]!;
      prevSample[j] = prev;
      predOriginalSample[j] = x0;
    }
    return { prevSample, predOriginalSample };
  }

  getState(): SchedulerState {
    return { kind: 'ddim', eta: this.eta, config: this.config, numInferenceSteps: this.timestepList?.length ?? null };
  }

  loadState(state: SchedulerState): void {
    if (state.kind !== 'ddim' || state.eta !== this.eta || !sameConfig(state.config, this.config)) {
      throw new SchedulerError('bad-state', `DDIMScheduler.loadState: state (kind ${state.kind}) does not match this scheduler (ddim, eta ${this.eta})`);
    }
    this.timestepList = state.numInferenceSteps === null ? null : linspaceTimesteps(state.numInferenceSteps, this.config.numTrainTimesteps);
  }

  private requireTimesteps(what: string): number[] {
    if (this.timestepList === null) {
      throw new SchedulerError('not-initialized', `DDIMScheduler.${what} used before setTimesteps(numInferenceSteps): call setTimesteps first`);
    }
    return this.timestepList;
  }
}
