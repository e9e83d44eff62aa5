/**
 * The job description and the per-rank checkpoint of the denoising loop (DESIGN §5: a job survives
 * losing a tab). Both are plain objects with typed arrays, so they cross a worker boundary by
 * structured clone and can be stored in IndexedDB as they are.
 *
 * The checkpoint after step s holds the clip's latents x_{t_s} (frame-major [F, C, H, W]), the
 * scheduler state (whose arrays are elementwise per frame, same layout) and the index of the next
 * step. Because every random number is keyed by global frame and every operation is partition
 * independent (DESIGN §1), resuming from it gives the identical result, and checkpoints of several
 * clips can be re-cut for a different partition (`recutStates`). Imports only engine contracts.
 */

import type { DualScopeParams } from './dual-scope.js';
import { EngineError } from './errors.js';
import type { FrameRange, Partition } from './partition.js';
import type { PromptSchedule } from './prompt-schedule.js';
import type { SamplerSpec, SchedulerState } from './schedulers/scheduler.js';
import type { ExchangeMode } from './clip-exchange.js';

/** Everything the video is a function of (DESIGN §1), plus how the work is split. */
export interface JobParams {
  /** uint32 tag of the job's messages. */
  readonly jobId: number;
  readonly totalFrames: number;
  readonly promptSchedule: PromptSchedule;
  readonly seed: number;
  readonly steps: number;
  readonly guidanceScale: number;
  readonly sampler: SamplerSpec;
  readonly dualScope: DualScopeParams;
  /** fps condition of the UNet. */
  readonly fps: number;
  /** Frame ranges per rank; null = even split over the collective's world size. */
  readonly partition: Partition | null;
  /** 'exact' (the contract) or 'isolated' (no exchanges: seam ablation). Default 'exact'. */
  readonly exchangeMode?: ExchangeMode;
}

export interface ClipState {
  readonly format: 'vi-clip-state';
  readonly version: 1;
  readonly job: JobParams;
  readonly range: FrameRange;
  /** Index of the next denoising step (= steps when done). */
  readonly nextStep: number;
  /** x_t of the clip, frame-major [F, C, H, W], float32. */
  readonly latents: Float32Array;
  readonly scheduler: SchedulerState;
}

export function checkClipState(state: ClipState, job: JobParams, range: FrameRange, perFrame: number): void {
  const fail = (m: string): never => {
    throw new EngineError('bad-state', `resume state: ${m}`);
  };
  if (state?.format !== 'vi-clip-state' || state.version !== 1) fail(`format must be vi-clip-state v1, got ${JSON.stringify(state?.format)} v${state?.version}`);
  if (state.range.start !== range.start || state.range.end !== range.end) fail(`range is [${state.range.start}, ${state.range.end}), this rank's clip is [${range.start}, ${range.end})`);
  if (!Number.isInteger(state.nextStep) || state.nextStep < 0 || state.nextStep > job.steps) fail(`nextStep must be an integer in [0, ${job.steps}], got ${state.nextStep}`);
  if (!(state.latents instanceof Float32Array) || state.latents.length !== (range.end - range.start) * perFrame) {
    fail(`latents must be a Float32Array of ${(range.end - range.start) * perFrame} values, got ${state.latents?.length}`);
  }
  const a = state.job;
  const same =
    a.totalFrames === job.totalFrames && a.seed === job.seed && a.steps === job.steps && a.guidanceScale === job.guidanceScale && a.fps === job.fps &&
    JSON.stringify(a.promptSchedule) === JSON.stringify(job.promptSchedule) && JSON.stringify(a.sampler) === JSON.stringify(job.sampler) &&
    JSON.stringify(a.dualScope) === JSON.stringify(job.dualScope) && (a.exchangeMode ?? 'exact') === (job.exchangeMode ?? 'exact');
  if (!same) fail('was saved for a different job (frames, seed, steps, guidance, fps, prompts, sampler, attention or mode differ)');
}

/**
 * Re-cuts the checkpoints of all clips (same step) for new ranges, e.g. after a tab was lost and
 * its frames were reassigned. Works because latents and scheduler arrays are frame-major.
 */
export function recutStates(states: readonly ClipState[], ranges: readonly FrameRange[], perFrame: number): ClipState[] {
  if (states.length === 0) throw new EngineError('bad-state', 'recutStates: no states');
  const s0 = states[0]!;
  const total = s0.job.totalFrames;
  for (const s of states) if (s.nextStep !== s0.nextStep) throw new EngineError('bad-state', `recutStates: states are at different steps (${s0.nextStep}, ${s.nextStep})`);
  const sorted = [...states].sort((a, b) => a.range.start - b.range.start);
  let at = 0;
  for (const s of sorted) {
    if (s.range.start !== at) throw new EngineError('bad-state', `recutStates: states do not cover frames contiguously (gap or overlap at frame ${at})`);
    at = s.range.end;
  }
  if (at !== total) throw new EngineError('bad-state', `recutStates: states cover [0, ${at}), the video has ${total} frames`);
  const join = (pick: (s: ClipState) => Float32Array | null): Float32Array | null => {
    const parts = sorted.map(pick);
    if (parts.every((p) => p === null)) return null;
    if (parts.some((p) => p === null)) throw new EngineError('bad-state', 'recutStates: scheduler states disagree on having a previous model output');
    const all = new Float32Array(total * perFrame);
    sorted.forEach((s, k) => all.set(parts[k]!, s.range.start * perFrame));
    return all;
  };
  const latents = join((s) => s.latents)!;
  const last = join((s) => (s.scheduler.kind === 'dpm-solver++-2m' ? s.scheduler.lastModelOutput : null));
  return ranges.map((r) => ({
    ...s0,
    range: r,
    latents: latents.slice(r.start * perFrame, r.end * perFrame),
    scheduler: s0.scheduler.kind === 'dpm-solver++-2m' ? { ...s0.scheduler, lastModelOutput: last ? last.slice(r.start * perFrame, r.end * perFrame) : null } : s0.scheduler,
  }));
}
