// The exchange pattern of a whole job, step by step, for one tab in one exchange mode: what each
// exchange point sends at step s and whether the step waits for it. The sizes are exchange-budget.ts's
// `ourMessages` (the one source of bytes); this module only adds *when*. It mirrors the engine's
// ClipExchange (src/engine/clip-exchange.ts) rule for rule, and a unit test checks it against the
// bytes ClipExchange really sends at every step. bench:exchange replays it on real tabs.
//
// - exact / exact-fp16: every point, every step, waited for.
// - stale: a point of a stale kind (halo and attention always; statistics when `staleStats`) is
//   waited for ('sync') until step `warmupSteps`; from then on the step sends its own parts without
//   waiting and waits only for the previous step's ('overlap'); the job's last step sends nothing and
//   waits for the previous step's ('previous'). Step 0 has no previous step and is always 'sync'.
// - sparse-global: the global gather of an attention point runs on step 0, on every global-phase
//   step, and on local-phase steps (t < T_phase, from `firstLocalStep`) every `globalEvery` steps
//   counted from the first local one; halos and statistics as exact.
// - cfgSplit (with any of the above): the budget's halved batch, and after the UNet call ε to the
//   partner tab of the same clip, waited for (both need it to step the sampler).
// Pure arithmetic: no engine, no network.
import { cfgPartnerBytes, ourMessages, type ClipPlace, type PointMessages, type WirePrecision } from './exchange-budget.js';
import type { SegmentPlan } from './segment-plan.js';

/** 'sync': send and wait; 'overlap': send, wait only for the previous step's; 'previous': send nothing, wait for the previous step's. */
export type ReplayTiming = 'sync' | 'overlap' | 'previous';

/** An exchange mode as the replay needs it (the engine's mode and options, resolved). */
export interface ModePattern {
  /** Which step's context a rank assembles and which steps gather the globals. */
  rule: 'exact' | 'stale' | 'sparse-global';
  precision: WirePrecision;
  /** stale: synchronous steps at the start. */
  warmupSteps: number;
  /** stale: whether the statistics are stale too (else synchronous every step). */
  staleStats: boolean;
  /** sparse-global: local-phase steps between global gathers. */
  globalEvery: number;
  /** One CFG branch per tab (the budget's `cfgSplit`). */
  cfgSplit: boolean;
}

/** The job's steps as the modes see them. */
export interface JobSteps {
  steps: number;
  /** First step with t < T_phase (the local phase), -1 when there is none (ClipExchange.firstLocalStep). */
  firstLocalStep: number;
}

export interface ScheduledExchange extends PointMessages {
  timing: ReplayTiming;
  /** Whether this step runs the point's all-gather (statistics, attention globals), even of 0 bytes: every tab of the group takes part. */
  gathers: boolean;
}

export interface ScheduledStep {
  step: number;
  /** Every exchange point in plan order; bytes are what this step sends (0 where it sends nothing). */
  exchanges: ScheduledExchange[];
  /** CFG split: ε payload to the partner tab after the UNet call; 0 otherwise. */
  partnerBytes: number;
}

function checkJob(job: JobSteps): void {
  if (!(Number.isInteger(job.steps) && job.steps >= 1)) throw new RangeError(`job steps must be an integer >= 1, got ${job.steps}`);
  if (!(Number.isInteger(job.firstLocalStep) && job.firstLocalStep >= -1 && job.firstLocalStep < job.steps)) {
    throw new RangeError(`firstLocalStep must be -1 or a step index in [0, ${job.steps}), got ${job.firstLocalStep}`);
  }
}

function checkMode(m: ModePattern): void {
  if (!(Number.isInteger(m.warmupSteps) && m.warmupSteps >= 0)) throw new RangeError(`warmupSteps must be an integer >= 0, got ${m.warmupSteps}`);
  if (!(Number.isInteger(m.globalEvery) && m.globalEvery >= 1)) throw new RangeError(`globalEvery must be an integer >= 1, got ${m.globalEvery}`);
}

/** How step `step` treats a point of `kind` (ClipExchange.partsFor). */
export function stepTiming(mode: ModePattern, kind: PointMessages['kind'], step: number, job: JobSteps): ReplayTiming {
  if (mode.rule !== 'stale' || (kind === 'stats' && !mode.staleStats)) return 'sync';
  const usePrevious = step >= 1 && step >= mode.warmupSteps;
  if (!usePrevious) return 'sync';
  return step === job.steps - 1 ? 'previous' : 'overlap';
}

/** Whether step `step` gathers the other tabs' global frames (ClipExchange.gathersGlobals). */
export function gathersGlobals(mode: ModePattern, step: number, job: JobSteps): boolean {
  if (mode.rule !== 'sparse-global' || step === 0) return true;
  const local = job.firstLocalStep >= 0 && step >= job.firstLocalStep;
  return !local || (step - job.firstLocalStep) % mode.globalEvery === 0;
}

/** Step `step` of the job for the tab at `place`: its messages at every point and how it waits. */
export function scheduleStep(plan: SegmentPlan, place: ClipPlace, p: number, mode: ModePattern, job: JobSteps, step: number): ScheduledStep {
  checkJob(job);
  checkMode(mode);
  if (!(Number.isInteger(step) && step >= 0 && step < job.steps)) throw new RangeError(`step must be an integer in [0, ${job.steps}), got ${step}`);
  const gather = gathersGlobals(mode, step, job);
  const exchanges = ourMessages(plan, place, p, { precision: mode.precision, globalShare: 1, cfgSplit: mode.cfgSplit }).map((m): ScheduledExchange => {
    const timing = stepTiming(mode, m.kind, step, job);
    if (timing === 'previous') return { ...m, haloBytes: 0, gatherBytes: 0, timing, gathers: false };
    const gathers = m.kind === 'stats' || (m.kind === 'attention' && gather);
    return { ...m, gatherBytes: gathers ? m.gatherBytes : 0, timing, gathers };
  });
  return { step, exchanges, partnerBytes: mode.cfgSplit ? cfgPartnerBytes(plan, place.frames, mode.precision) : 0 };
}

/** Every step of the job, in order. */
export function scheduleJob(plan: SegmentPlan, place: ClipPlace, p: number, mode: ModePattern, job: JobSteps): ScheduledStep[] {
  return Array.from({ length: job.steps }, (_, s) => scheduleStep(plan, place, p, mode, job, s));
}

/** Payload bytes the tab at `place` sends in one scheduled step (halos to each neighbour, gathers to every other tab, ε to the partner). */
export function stepBytesSent(s: ScheduledStep, place: ClipPlace): number {
  const neighbours = (place.hasLeft ? 1 : 0) + (place.hasRight ? 1 : 0);
  const others = place.worldSize - 1;
  return s.exchanges.reduce((a, e) => a + neighbours * e.haloBytes + others * e.gatherBytes, 0) + s.partnerBytes;
}

/** Steps that wait and send alike (same timing and gathers at every point, same ε swap) are of one kind. */
export function stepKind(s: ScheduledStep): string {
  return `${s.partnerBytes > 0 ? 'ε' : ''}${s.exchanges.map((e) => `${e.timing[0]}${e.gathers ? 'g' : ''}`).join('')}`;
}

/** A representative sample of a job's steps: which to replay and how many of the job's steps each one stands for. */
export interface StepSample {
  /** Step indices to replay, in job order. */
  steps: number[];
  /** weights[i]: job steps that steps[i] stands for (its kind's count / the kind's sampled count); they sum to the job's steps. */
  weights: number[];
}

/**
 * The first `perKind` steps of every kind, in job order, each weighted so that a weighted mean over
 * the sample is the job's mean per step (exactly, for anything that is the same on steps of one kind,
 * such as bytes). A replay of the sample keeps each kind's place in the job, so a stale step still
 * follows a step that sent what it waits for. `perKind` = Infinity replays the whole job.
 */
export function sampleSteps(job: readonly ScheduledStep[], perKind: number): StepSample {
  if (!(perKind >= 1)) throw new RangeError(`perKind must be >= 1, got ${perKind}`);
  const count = new Map<string, number>();
  for (const s of job) count.set(stepKind(s), (count.get(stepKind(s)) ?? 0) + 1);
  const taken = new Map<string, number>();
  const steps: number[] = [];
  for (const s of job) {
    const k = stepKind(s);
    if ((taken.get(k) ?? 0) >= perKind) continue;
    taken.set(k, (taken.get(k) ?? 0) + 1);
    steps.push(s.step);
  }
  return { steps, weights: steps.map((i) => count.get(stepKind(job[i]!))! / taken.get(stepKind(job[i]!))!) };
}
