/**
 * The exchange modes a job can render with (docs/exchange-points.md, "Exchange modes"): which
 * exist, their parameters and defaults, and the check of both as they come from outside. A mode is
 * part of the job (JobParams.exchangeMode / exchangeOptions) and of its video identity, so every
 * rank of a room, a resumed render and a joining tab all use the same one.
 *
 * - exact:         every exchange every step, float32 (the contract: the same video on any partition).
 * - exact-fp16:    as exact, but halo and attention tensors cross the wire as float16 (half the
 *                  bytes); GroupNorm statistics stay float64.
 * - stale:         after `warmupSteps` synchronous steps, a rank uses the neighbours' halo and
 *                  attention context of the previous step (DistriFusion): the current one is sent
 *                  without waiting and arrives while the rest of the step computes. Own frames are
 *                  always current. `staleStats`: GroupNorm statistics of the other ranks are also
 *                  the previous step's (combined with my current ones), so nothing waits; false keeps
 *                  them exact (a small but synchronous all-gather at every norm).
 * - sparse-global: in the local phase (t < phaseTimestep) the global frames of other ranks are
 *                  gathered only every `globalEvery` steps and reused between; window halos and
 *                  statistics stay exact.
 * `float16Wire` (stale, sparse-global): their halo and attention tensors travel as float16 too.
 * - isolated:      no exchanges at all (the seam ablation's control; not a rendering mode).
 *
 * Imports only `errors.ts`.
 */

import { check, EngineError } from './errors.js';

export const EXCHANGE_MODES = ['exact', 'exact-fp16', 'stale', 'sparse-global', 'isolated'] as const;
export type ExchangeMode = (typeof EXCHANGE_MODES)[number];

/** Parameters of the modes that have any; a job may set only its own mode's. */
export interface ExchangeOptions {
  /** stale: synchronous steps at the start (≥ steps: the render equals exact). */
  readonly warmupSteps?: number;
  /** stale: whether the other ranks' GroupNorm statistics are the previous step's too. */
  readonly staleStats?: boolean;
  /** sparse-global: re-gather the global frames every this many local-phase steps (1: every step, = exact). */
  readonly globalEvery?: number;
  /** stale, sparse-global: halo and attention tensors travel as float16, as in 'exact-fp16'. */
  readonly float16Wire?: boolean;
}

export type ResolvedExchangeOptions = Required<ExchangeOptions>;

export const EXCHANGE_OPTION_DEFAULTS: ResolvedExchangeOptions = Object.freeze({ warmupSteps: 2, staleStats: true, globalEvery: 4, float16Wire: false });

/** Which options each mode reads. */
const MODE_OPTIONS: Readonly<Record<ExchangeMode, readonly (keyof ExchangeOptions)[]>> = {
  exact: [],
  'exact-fp16': [],
  stale: ['warmupSteps', 'staleStats', 'float16Wire'],
  'sparse-global': ['globalEvery', 'float16Wire'],
  isolated: [],
};

/** The largest warm-up / refresh interval accepted (a job has at most this many steps anyway). */
const MAX_OPTION_STEPS = 1000;

type Obj = Record<string, unknown>;

/** Checks a mode and its options from outside; throws EngineError naming the field, its value and the rule. */
export function parseExchangeSettings(mode: unknown, options: unknown, where: string): { mode: ExchangeMode | undefined; options: ExchangeOptions | undefined } {
  check(mode === undefined || EXCHANGE_MODES.includes(mode as ExchangeMode), EngineError, where, 'job.exchangeMode', mode, `one of ${EXCHANGE_MODES.map((m) => `'${m}'`).join(', ')}`);
  if (options === undefined) return { mode: mode as ExchangeMode | undefined, options: undefined };
  check(typeof options === 'object' && options !== null && !Array.isArray(options), EngineError, where, 'job.exchangeOptions', options, 'an object');
  const o = options as Obj;
  const allowed = MODE_OPTIONS[(mode as ExchangeMode | undefined) ?? 'exact'];
  const out: { -readonly [K in keyof ExchangeOptions]: ExchangeOptions[K] } = {};
  for (const key of Object.keys(o)) {
    check(allowed.includes(key as keyof ExchangeOptions), EngineError, where, `job.exchangeOptions.${key}`, o[key], allowed.length ? `absent: mode '${mode ?? 'exact'}' takes only ${allowed.join(', ')}` : `absent: mode '${mode ?? 'exact'}' takes no options`);
  }
  if ('warmupSteps' in o) {
    const v = o.warmupSteps;
    check(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_OPTION_STEPS, EngineError, where, 'job.exchangeOptions.warmupSteps', v, `an integer in [0, ${MAX_OPTION_STEPS}]`);
    out.warmupSteps = v as number;
  }
  if ('staleStats' in o) {
    check(typeof o.staleStats === 'boolean', EngineError, where, 'job.exchangeOptions.staleStats', o.staleStats, 'true or false');
    out.staleStats = o.staleStats as boolean;
  }
  if ('float16Wire' in o) {
    check(typeof o.float16Wire === 'boolean', EngineError, where, 'job.exchangeOptions.float16Wire', o.float16Wire, 'true or false');
    out.float16Wire = o.float16Wire as boolean;
  }
  if ('globalEvery' in o) {
    const v = o.globalEvery;
    check(Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_OPTION_STEPS, EngineError, where, 'job.exchangeOptions.globalEvery', v, `an integer in [1, ${MAX_OPTION_STEPS}]`);
    out.globalEvery = v as number;
  }
  return { mode: mode as ExchangeMode | undefined, options: out };
}

/** The options `mode` reads, defaults filled in (what the video depends on; {} for modes without any). */
export function resolveExchangeOptions(mode: ExchangeMode, options: ExchangeOptions | undefined): Partial<ResolvedExchangeOptions> {
  const out: Partial<Record<keyof ExchangeOptions, number | boolean>> = {};
  for (const key of MODE_OPTIONS[mode]) out[key] = options?.[key] ?? EXCHANGE_OPTION_DEFAULTS[key];
  return out as Partial<ResolvedExchangeOptions>;
}
