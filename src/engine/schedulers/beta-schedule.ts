/**
 * The noise schedule and the timestep list shared by both samplers (docs/samplers.md), float64,
 * in the operation order of `training/samplers.py`. Owns config validation too. Imports only
 * `../errors.ts` and the contract.
 */

import { check, SchedulerError } from '../errors.js';
import { DEFAULT_SCHEDULER_CONFIG, type SchedulerConfig } from './scheduler.js';

const PREDICTION_TYPES = ['epsilon', 'v_prediction'] as const;
const BETA_SCHEDULES = ['scaled_linear', 'linear'] as const;

/** Fills defaults, validates, freezes. */
export function resolveSchedulerConfig(partial: Partial<SchedulerConfig> = {}): SchedulerConfig {
  const c = { ...DEFAULT_SCHEDULER_CONFIG, ...partial };
  const where = 'SchedulerConfig';
  check(Number.isSafeInteger(c.numTrainTimesteps) && c.numTrainTimesteps >= 2, SchedulerError, where, 'numTrainTimesteps', c.numTrainTimesteps, 'an integer >= 2', 'invalid-argument');
  check(0 < c.betaStart && c.betaStart < c.betaEnd && c.betaEnd < 1, SchedulerError, where, 'betaStart, betaEnd', [c.betaStart, c.betaEnd], 'numbers with 0 < betaStart < betaEnd < 1');
  check((BETA_SCHEDULES as readonly string[]).includes(c.betaSchedule), SchedulerError, where, 'betaSchedule', c.betaSchedule, `one of ${BETA_SCHEDULES.join(', ')}`);
  check((PREDICTION_TYPES as readonly string[]).includes(c.predictionType), SchedulerError, where, 'predictionType', c.predictionType, `one of ${PREDICTION_TYPES.join(', ')}`);
  return Object.freeze(c);
}

/** betas [T]: scaled_linear = linspace(sqrt(b0), sqrt(b1), T)², linear = linspace(b0, b1, T). */
export function betaSchedule(config: SchedulerConfig): Float64Array {
  const t = config.numTrainTimesteps;
  const scaled = config.betaSchedule === 'scaled_linear';
  const a = scaled ? Math.sqrt(config.betaStart) : config.betaStart;
  const b = scaled ? Math.sqrt(config.betaEnd) : config.betaEnd;
  const step = (b - a) / (t - 1);
  const betas = new Float64Array(t);
  for (let i = 0; i < t; i++) {
    const x = i === t - 1 ? b : i * step + a;
    betas[i] = scaled ? x * x : x;
  }
  return betas;
}

/** ᾱ_i = Π_{k ≤ i} (1 − β_k), multiplied left to right. */
export function alphasCumprod(config: SchedulerConfig): Float64Array {
  const betas = betaSchedule(config);
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc = acc * (1 - betas[i]!);
    out[i] = acc;
  }
  return out;
}

/** numpy's round(): to nearest, ties to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5 || (d === 0.5 && f % 2 !== 0)) return f + 1;
  return f;
}

/**
 * diffusers' "linspace" spacing, np.linspace(0, T−1, n+1).round()[::-1][:-1]:
 * t_i = roundHalfEven(k · ((T − 1) / n)), k = n − i (k = n gives exactly T − 1). 1 ≤ n ≤ T − 1.
 */
export function linspaceTimesteps(numInferenceSteps: number, numTrainTimesteps = 1000): number[] {
  const n = numInferenceSteps;
  const t = numTrainTimesteps;
  check(Number.isSafeInteger(n) && n >= 1 && n <= t - 1, SchedulerError, 'setTimesteps', 'numInferenceSteps', n, `an integer in [1, ${t - 1}]`);
  const step = (t - 1) / n;
  const out: number[] = [];
  for (let k = n; k >= 1; k--) out.push(k === n ? t - 1 : roundHalfEven(k * step));
  return out;
}

/** Checks that every array has the sample's length. */
export function checkLengths(where: string, sampleLength: number, arrays: Record<string, ArrayLike<number> | undefined>): void {
  for (const [name, arr] of Object.entries(arrays)) {
    if (arr === undefined) continue;
    check(arr.length === sampleLength, SchedulerError, where, `${name}.length`, arr.length, `equal to sample.length (${sampleLength})`, 'shape-mismatch');
  }
}

/** Field-by-field equality of two configs (for loadState). */
export function sameConfig(a: SchedulerConfig, b: SchedulerConfig): boolean {
  return (
    a.numTrainTimesteps === b.numTrainTimesteps &&
    a.betaStart === b.betaStart &&
    a.betaEnd === b.betaEnd &&
    a.betaSchedule === b.betaSchedule &&
    a.predictionType === b.predictionType
  );
}
