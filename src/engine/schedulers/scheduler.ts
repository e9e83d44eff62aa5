/**
 * The scheduler contract (docs/samplers.md): what the denoising loop may call on a sampler.
 * Implementations: `ddim.ts`, `dpm-solver-pp-2m.ts`, built by `create-scheduler.ts`; the Python
 * twins are in `training/samplers.py` and write the goldens these are tested against.
 *
 * Rules, so that samplers stay swappable and any partition gives the same video: one algorithm per
 * file, diffusers method names, pure and elementwise (a call on a tab's frames gives the same values
 * as on the whole video), never draws noise (noise comes
 * from `rng.ts`, PURPOSE_SAMPLER_NOISE, keyed by step index and global frame). Imports only
 * `../errors.ts`.
 */

export type PredictionType = 'epsilon' | 'v_prediction';
export type BetaScheduleKind = 'scaled_linear' | 'linear';

/** diffusers' scheduler config keys, camelCased at the parse boundary. */
export interface SchedulerConfig {
  readonly numTrainTimesteps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly betaSchedule: BetaScheduleKind;
  readonly predictionType: PredictionType;
}

/** The embedded model's (and VideoCrafter2's) schedule: docs/model-architecture.md §4. */
export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  predictionType: 'epsilon',
});

/** Inputs may be float32 (from ONNX Runtime) or float64; outputs are float32. */
export type FloatArray = Float32Array | Float64Array;

export interface StepResult {
  /** x_{t_prev}, float32, same length as the sample. */
  readonly prevSample: Float32Array;
  /** The x0 prediction, float32. */
  readonly predOriginalSample: Float32Array;
}

export type SchedulerKind = 'ddim' | 'dpm-solver++-2m';
export type DPMSolverAlgorithm = 'dpmsolver++' | 'sde-dpmsolver++';

/** Serialisable (structured clone; JSON after converting the array) state for resuming a job. */
export type SchedulerState =
  | {
      readonly kind: 'ddim';
      readonly eta: number;
      readonly config: SchedulerConfig;
      readonly numInferenceSteps: number | null;
    }
  | {
      readonly kind: 'dpm-solver++-2m';
      readonly algorithmType: DPMSolverAlgorithm;
      readonly config: SchedulerConfig;
      readonly numInferenceSteps: number | null;
      /** Index of the next step into `timesteps`, or null before the first step. */
      readonly stepIndex: number | null;
      readonly lowerOrderNums: number;
      /** float32 x0 prediction of the previous step (this tab's elements), or null. */
      readonly lastModelOutput: Float32Array | null;
    };

/** What the loop needs to pick and rebuild a sampler (e.g. from the job description). */
export type SamplerSpec =
  | { readonly kind: 'ddim'; readonly eta: number; readonly config?: Partial<SchedulerConfig> }
  | { readonly kind: 'dpm-solver++-2m'; readonly algorithmType: DPMSolverAlgorithm; readonly config?: Partial<SchedulerConfig> };

export interface Scheduler {
  readonly kind: SchedulerKind;
  readonly config: SchedulerConfig;
  /** x_T = initNoiseSigma · N(0, I); 1 for both samplers. */
  readonly initNoiseSigma: number;
  /** True when `step` requires `noise` (DDIM eta > 0, SDE-DPM-Solver++), at every step. */
  readonly isStochastic: boolean;
  /** Integer timesteps, descending; throws `not-initialized` before `setTimesteps`. */
  readonly timesteps: readonly number[];
  setTimesteps(numInferenceSteps: number): void;
  /** Identity for both samplers (kept for the diffusers contract). */
  scaleModelInput(sample: FloatArray, timestep: number): FloatArray;
  /** One step t → t_prev. Elementwise; all arrays have the sample's length. */
  step(modelOutput: FloatArray, timestep: number, sample: FloatArray, noise?: FloatArray): StepResult;
  getState(): SchedulerState;
  loadState(state: SchedulerState): void;
}
