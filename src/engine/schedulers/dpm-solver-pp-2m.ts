/**
 * DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095, Algorithm 2, "midpoint" form), ODE
 * ('dpmsolver++') and SDE ('sde-dpmsolver++'). Twin of `DPMSolverPP2MScheduler` in
 * training/samplers.py (docs/samplers.md); as diffusers' DPMSolverMultistepScheduler with
 * solver_order 2, final_sigmas_type "zero", lower_order_final: step 0 and the last step are first
 * order, the others second order. Imports only the contract, the shared schedule and `../errors.ts`.
 *
 * | code | paper |
 * |---|---|
 * | alphaS, sigmaS | α_s, σ_s at the current time s = t_i (α = 1/√(1+σ̂²), σ = σ̂·α, σ̂ = √((1−ᾱ)/ᾱ)) |
 * | alphaT, sigmaT | the same at the target time t = t_{i+1} (σ̂_n = 0) |
 * | lambda | λ = ln α − ln σ (half log-SNR) |
 * | h, r0 | h_i = λ_t − λ_s, r = h_{i−1} / h_i |
 * | m0, m1 | data predictions x_θ at s and at the previous step (m1 is the history) |
 */

import { check, SchedulerError } from '../errors.js';
import { alphasCumprod, checkLengths, linspaceTimesteps, resolveSchedulerConfig, sameConfig } from './beta-schedule.js';
import type { DPMSolverAlgorithm, FloatArray, Scheduler, SchedulerConfig, SchedulerState, StepResult } from './scheduler.js';

const ALGORITHMS: readonly DPMSolverAlgorithm[] = ['dpmsolver++', 'sde-dpmsolver++'];

export interface DPMCoefficients {
  readonly alphaS: number;
  readonly sigmaS: number;
  readonly cX: number;
  readonly cM0: number;
  /** Weight of (m0 − m1); 0 at first order. */
  readonly cD: number;
  readonly cNoise: number;
}

export class DPMSolverPP2MScheduler implements Scheduler {
  readonly kind = 'dpm-solver++-2m';
  readonly initNoiseSigma = 1;
  readonly config: SchedulerConfig;
  readonly algorithmType: DPMSolverAlgorithm;
  private readonly alphasCumprod: Float64Array;
  private timestepList: number[] | null = null;
  private sigmas: Float64Array = new Float64Array(0); // [n + 1], σ̂_n = 0
  private stepIndex: number | null = null;
  private lowerOrderNums = 0;
  private lastModelOutput: Float32Array | null = null;

  constructor(options: { algorithmType?: DPMSolverAlgorithm; config?: Partial<SchedulerConfig> } = {}) {
    const algorithmType = options.algorithmType ?? 'dpmsolver++';
    check(ALGORITHMS.includes(algorithmType), SchedulerError, 'DPMSolverPP2MScheduler', 'algorithmType', algorithmType, `one of ${ALGORITHMS.join(', ')}`);
    this.algorithmType = algorithmType;
    this.config = resolveSchedulerConfig(options.config);
    this.alphasCumprod = alphasCumprod(this.config);
  }

  get isStochastic(): boolean {
    return this.algorithmType === 'sde-dpmsolver++';
  }

  get timesteps(): readonly number[] {
    return this.requireTimesteps('timesteps');
  }

  setTimesteps(numInferenceSteps: number): void {
    const ts = linspaceTimesteps(numInferenceSteps, this.config.numTrainTimesteps);
    this.timestepList = ts;
    this.sigmas = new Float64Array(ts.length + 1);
    ts.forEach((t, i) => {
      const abar = this.alphasCumprod[t]!;
      this.sigmas[i] = Math.sqrt((1 - abar) / abar);
    });
    this.stepIndex = null;
    this.lowerOrderNums = 0;
    this.lastModelOutput = null;
  }

  scaleModelInput(sample: FloatArray): FloatArray {
    return sample;
  }

  private alphaSigmaLambda(i: number): { alpha: number; sigma: number; lambda: number } {
    const s = this.sigmas[i]!;
    const alpha = 1 / Math.sqrt(s * s + 1);
    const sigma = s * alpha;
    return { alpha, sigma, lambda: sigma > 0 ? Math.log(alpha) - Math.log(sigma) : Infinity };
  }

  /** Scalars of step index i at order 1 or 2. */
  coefficients(i: number, order: 1 | 2): DPMCoefficients {
    const s = this.alphaSigmaLambda(i);
    const t = this.alphaSigmaLambda(i + 1);
    if (t.sigma === 0) {
      // last step to σ = 0: x_prev = m0 exactly (both variants)
      return { alphaS: s.alpha, sigmaS: s.sigma, cX: 0, cM0: 1, cD: 0, cNoise: 0 };
    }
    const h = t.lambda - s.lambda;
    let cX: number;
    let cM0: number;
    let cNoise = 0;
    if (this.algorithmType === 'dpmsolver++') {
      cX = t.sigma / s.sigma;
      cM0 = -t.alpha * (Math.exp(-h) - 1);
    } else {
      cX = (t.sigma / s.sigma) * Math.exp(-h);
      cM0 = t.alpha * (1 - Math.exp(-2 * h));
      cNoise = t.sigma * Math.sqrt(1 - Math.exp(-2 * h));
    }
    let cD = 0;
    if (order === 2) {
      const r0 = (s.lambda - this.alphaSigmaLambda(i - 1).lambda) / h;
      cD = (0.5 * cM0) / r0; // D1 = (m0 − m1)/r0, weighted ½·cM0 (midpoint)
    }
    return { alphaS: s.alpha, sigmaS: s.sigma, cX, cM0, cD, cNoise };
  }

  step(modelOutput: FloatArray, timestep: number, sample: FloatArray, noise?: FloatArray): StepResult {
    // 1. where are we: the first call looks the timestep up, later calls must follow the list
    const ts = this.requireTimesteps('step');
    if (this.stepIndex === null) {
      const found = ts.indexOf(timestep);
      if (found < 0) throw new SchedulerError('unknown-timestep', `DPMSolverPP2MScheduler.step: timestep ${timestep} is not in this scheduler's timesteps [${ts.join(', ')}]`);
      this.stepIndex = found;
    }
    const i = this.stepIndex;
    if (i >= ts.length) throw new SchedulerError('finished', `DPMSolverPP2MScheduler.step: all ${ts.length} steps are done; call setTimesteps to start again`);
    if (ts[i] !== timestep) throw new SchedulerError('unexpected-timestep', `DPMSolverPP2MScheduler.step: expected timestep ${ts[i]} at step index ${i}, got ${timestep}`);
    const n = sample.length;
    checkLengths('DPMSolverPP2MScheduler.step', n, { modelOutput, noise });
    if (this.isStochastic && noise === undefined) {
      throw new SchedulerError('noise-required', 'DPMSolverPP2MScheduler.step: sde-dpmsolver++ needs noise (rng PURPOSE_SAMPLER_NOISE)');
    }
    // 2. order: first at the start and at the last step (lower_order_final), else second
    const order: 1 | 2 = this.lowerOrderNums < 1 || i === ts.length - 1 ? 1 : 2;
    const m1 = this.lastModelOutput;
    if (order === 2 && (m1 === null || m1.length !== n)) {
      throw new SchedulerError('bad-state', `DPMSolverPP2MScheduler.step: second-order step ${i} needs the previous x0 of length ${n}, have ${m1?.length ?? 'none'}`);
    }
    const c = this.coefficients(i, order);
    const v = this.config.predictionType === 'v_prediction';
    const prevSample = new Float32Array(n);
    const m0Out = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const x = sample[j]!;
      const out = modelOutput[j]!;
      // 3. data prediction m0 = x_θ(x_s, s), rounded to float32 as the history stores it
      m0Out[j] = v ? c.alphaS * x - c.sigmaS * out : (x - c.sigmaS * out) / c.alphaS;
      const m0 = m0Out[j]!;
      // 4. x_t = c_x·x_s + c_m0·m0 [+ c_d·(m0 − m1)] [+ c_noise·z]
      let prev = c.cX * x + c.cM0 * m0;
      if (order === 2) prev = prev + c.cD * (m0 - m1![j]!);
      if (this.isStochastic) prev = prev + c.cNoise * noise![j]!;
      prevSample[j] = prev;
    }
    // 5. history
    this.lastModelOutput = m0Out;
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, 2);
    this.stepIndex = i + 1;
    return { prevSample, predOriginalSample: m0Out.slice() };
  }

  getState(): SchedulerState {
    return {
      kind: 'dpm-solver++-2m',
      algorithmType: this.algorithmType,
      config: this.config,
      numInferenceSteps: this.timestepList?.length ?? null,
      stepIndex: this.stepIndex,
      lowerOrderNums: this.lowerOrderNums,
      lastModelOutput: this.lastModelOutput?.slice() ?? null,
    };
  }

  loadState(state: SchedulerState): void {
    if (state.kind !== 'dpm-solver++-2m' || state.algorithmType !== this.algorithmType || !sameConfig(state.config, this.config)) {
      throw new SchedulerError('bad-state', `DPMSolverPP2MScheduler.loadState: state (kind ${state.kind}) does not match this scheduler (${this.algorithmType})`);
    }
    if (state.numInferenceSteps === null) {
      this.timestepList = null;
      this.sigmas = new Float64Array(0);
    } else {
      this.setTimesteps(state.numInferenceSteps);
    }
    const steps = this.timestepList?.length ?? 0;
    check(state.stepIndex === null || (Number.isSafeInteger(state.stepIndex) && state.stepIndex >= 0 && state.stepIndex <= steps), SchedulerError, 'DPMSolverPP2MScheduler.loadState', 'state.stepIndex', state.stepIndex, `null or an integer in [0, ${steps}]`, 'bad-state');
    check([0, 1, 2].includes(state.lowerOrderNums), SchedulerError, 'DPMSolverPP2MScheduler.loadState', 'state.lowerOrderNums', state.lowerOrderNums, '0, 1 or 2', 'bad-state');
    this.stepIndex = state.stepIndex;
    this.lowerOrderNums = state.lowerOrderNums;
    this.lastModelOutput = state.lastModelOutput?.slice() ?? null;
  }

  private requireTimesteps(what: string): number[] {
    if (this.timestepList === null) {
      throw new SchedulerError('not-initialized', `DPMSolverPP2MScheduler.${what} used before setTimesteps(numInferenceSteps): call setTimesteps first`);
    }
    return this.timestepList;
  }
}
