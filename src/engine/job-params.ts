/**
 * The one check of a job's parameters, for every place a job comes from outside the code that
 * built it: the host's start message, a saved render's resume state, the engine's own entry.
 * Every field is checked (type, range, the prompt schedule's order, the dual-scope parameters,
 * the sampler, the partition's cover of the video, the exchange mode and its options, the guidance split) and the first problem is thrown as an
 * EngineError naming the field, its value and the rule. What comes back holds only the known
 * fields, so an unknown key from the network goes no further.
 */
import { parseExchangeSettings } from './clip-exchange-mode.js';
import { validateDualScopeParams } from './dual-scope.js';
import { check, EngineError, isPositiveInteger, isUint32 } from './errors.js';
import type { JobParams } from './job-state.js';
import type { Partition } from './partition.js';
import { validatePromptSchedule } from './prompt-schedule.js';
import type { SamplerSpec } from './schedulers/scheduler.js';

/** Bounds of a job from outside: far above any real render, low enough that nothing from the network is unbounded. */
export const JOB_LIMITS = {
  maxFrames: 100_000,
  maxSteps: 1000,
  maxPrompts: 256,
  maxPromptChars: 1024,
  maxRanks: 64,
} as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `raw` as JobParams; throws EngineError (or the prompt schedule's / dual scope's error) on the first problem. */
export function parseJobParams(raw: unknown, where = 'job'): JobParams {
  const j = raw as Obj;
  check(isObj(raw), EngineError, where, 'job', raw, 'an object');
  check(isUint32(j.jobId), EngineError, where, 'job.jobId', j.jobId, 'a uint32');
  check(isPositiveInteger(j.totalFrames) && j.totalFrames <= JOB_LIMITS.maxFrames, EngineError, where, 'job.totalFrames', j.totalFrames, `an integer in [1, ${JOB_LIMITS.maxFrames}]`);
  check(isUint32(j.seed), EngineError, where, 'job.seed', j.seed, 'a uint32');
  check(isPositiveInteger(j.steps) && j.steps <= JOB_LIMITS.maxSteps, EngineError, where, 'job.steps', j.steps, `an integer in [1, ${JOB_LIMITS.maxSteps}]`);
  check(Number.isFinite(j.guidanceScale), EngineError, where, 'job.guidanceScale', j.guidanceScale, 'a finite number');
  check(Number.isFinite(j.fps) && (j.fps as number) > 0, EngineError, where, 'job.fps', j.fps, 'a number > 0');
  const exchange = parseExchangeSettings(j.exchangeMode, j.exchangeOptions, where);
  check(j.cfgSplit === undefined || typeof j.cfgSplit === 'boolean', EngineError, where, 'job.cfgSplit', j.cfgSplit, 'true, false or absent');
  const totalFrames = j.totalFrames as number;
  const job: JobParams = {
    jobId: j.jobId as number,
    totalFrames,
    promptSchedule: parsePromptSchedule(j.promptSchedule, totalFrames, where),
    seed: j.seed as number,
    steps: j.steps as number,
    guidanceScale: j.guidanceScale as number,
    sampler: parseSampler(j.sampler, where),
    dualScope: parseDualScope(j.dualScope, where),
    fps: j.fps as number,
    partition: parsePartition(j.partition, totalFrames, where),
    ...(exchange.mode !== undefined && { exchangeMode: exchange.mode }),
    ...(exchange.options !== undefined && { exchangeOptions: exchange.options }),
    ...(j.cfgSplit === true && { cfgSplit: true }),
  };
  return job;
}

function parsePromptSchedule(raw: unknown, totalFrames: number, where: string): JobParams['promptSchedule'] {
  const entries = isObj(raw) ? raw.entries : undefined;
  check(Array.isArray(entries) && entries.length <= JOB_LIMITS.maxPrompts, EngineError, where, 'job.promptSchedule.entries', entries, `an array of at most ${JOB_LIMITS.maxPrompts} entries`);
  const schedule = {
    entries: entries.map((e: unknown, k) => {
      const x = (isObj(e) ? e : {}) as Obj;
      check(typeof x.prompt === 'string' && x.prompt.length <= JOB_LIMITS.maxPromptChars, EngineError, where, `job.promptSchedule.entries[${k}].prompt`, x.prompt, `a string of at most ${JOB_LIMITS.maxPromptChars} characters`);
      return { fromFrame: x.fromFrame as number, prompt: x.prompt };
    }),
  };
  validatePromptSchedule(schedule, totalFrames);
  return schedule;
}

function parseSampler(raw: unknown, where: string): SamplerSpec {
  const s = (isObj(raw) ? raw : {}) as Obj;
  if (s.kind === 'ddim' && Number.isFinite(s.eta) && (s.eta as number) >= 0) return { kind: 'ddim', eta: s.eta as number };
  if (s.kind === 'dpm-solver++-2m' && (s.algorithmType === 'dpmsolver++' || s.algorithmType === 'sde-dpmsolver++')) return { kind: 'dpm-solver++-2m', algorithmType: s.algorithmType };
  return check(false, EngineError, where, 'job.sampler', raw, "{kind: 'ddim', eta ≥ 0} or {kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' | 'sde-dpmsolver++'}") as never;
}

function parseDualScope(raw: unknown, where: string): JobParams['dualScope'] {
  check(isObj(raw), EngineError, where, 'job.dualScope', raw, 'an object');
  const d = { window: raw.window as number, topK: raw.topK as number, phaseTimestep: raw.phaseTimestep as number, phaseBias: raw.phaseBias as number };
  validateDualScopeParams(d);
  return d;
}

/** null (an even split over the ranks), or ranges of integers, at most JOB_LIMITS.maxRanks; the engine checks the cover against its minimum clip. */
function parsePartition(raw: unknown, totalFrames: number, where: string): Partition | null {
  if (raw === null || raw === undefined) return null;
  const ranges = isObj(raw) ? raw.ranges : undefined;
  check(Array.isArray(ranges) && ranges.length >= 1 && ranges.length <= JOB_LIMITS.maxRanks, EngineError, where, 'job.partition.ranges', ranges, `an array of 1 to ${JOB_LIMITS.maxRanks} ranges`);
  const out = ranges.map((r: unknown, k) => {
    const x = (isObj(r) ? r : {}) as Obj;
    check(Number.isSafeInteger(x.start) && Number.isSafeInteger(x.end), EngineError, where, `job.partition.ranges[${k}]`, r, '{start, end} integers');
    return { start: x.start as number, end: x.end as number };
  });
  return { totalFrames, ranges: out };
}
