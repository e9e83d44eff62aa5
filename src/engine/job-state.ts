/**
 * The job description and the per-rank checkpoint of the denoising loop (so that a job survives
 * losing a tab). Both are plain objects with typed arrays, so they cross a worker boundary by
 * structured clone and can be stored in IndexedDB as they are.
 *
 * The checkpoint after step s holds the clip's latents x_{t_s} (frame-major [F, C, H, W]), the
 * scheduler state (whose arrays are elementwise per frame, same layout) and the index of the next
 * step. Because every random number is keyed by global frame and every operation is partition
 * independent, resuming from it gives the identical result, and checkpoints of several
 * clips can be re-cut for a different partition (`recutStates`). Imports only engine contracts.
 */

import type { DualScopeParams } from './dual-scope.js';
import { EngineError } from './errors.js';
import type { FrameRange, Partition } from './partition.js';
import type { PromptSchedule } from './prompt-schedule.js';
import type { SamplerSpec, SchedulerState } from './schedulers/scheduler.js';
import { resolveExchangeOptions, type ExchangeMode, type ExchangeOptions } from './clip-exchange-mode.js';

/** Everything the video is a function of (never the partition), plus how the work is split. */
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
  /** How clips exchange context (clip-exchange-mode.ts); part of the video's identity. Default 'exact'. */
  readonly exchangeMode?: ExchangeMode;
  /** The mode's parameters (only its own; defaults filled in by the engine). */
  readonly exchangeOptions?: ExchangeOptions;
  /**
   * Each clip's two guidance branches on a pair of ranks (guidance-split.ts), with batch-1 graphs;
   * part of the identity, since batch-1 and batch-2 kernels need not round alike. Default false.
   */
  readonly cfgSplit?: boolean;
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
  const sch = state.scheduler;
  if (sch?.kind !== job.sampler.kind || sch.numInferenceSteps !== job.steps) fail(`scheduler must be a ${job.sampler.kind} state set to ${job.steps} steps`);
  if (sch.kind === 'dpm-solver++-2m') {
    // after step s-1 the solver points at step s and has s previous outputs (at most 2 count)
    if (sch.stepIndex !== (state.nextStep === 0 ? null : state.nextStep) || sch.lowerOrderNums !== Math.min(state.nextStep, 2)) fail(`scheduler is not at step ${state.nextStep}`);
    const last = sch.lastModelOutput;
    if (state.nextStep === 0 ? last !== null : !(last instanceof Float32Array) || last.length !== state.latents.length) fail(`scheduler's last model output must be ${state.nextStep === 0 ? 'null' : `a Float32Array of ${state.latents.length} values`}`);
  }
  const same = videoIdentity(state.job) === videoIdentity(job);
  if (!same) fail('was saved for a different job (frames, seed, steps, guidance, fps, prompts, sampler, attention or mode differ)');
}

/** What the video is a function of, as one string: two jobs with equal ones render the same video. */
export function videoIdentity(job: JobParams): string {
  const { totalFrames, seed, steps, guidanceScale, fps, promptSchedule, sampler, dualScope } = job;
  const mode = job.exchangeMode ?? 'exact';
  const options = resolveExchangeOptions(mode, job.exchangeOptions);
  // Modes without options keep the identity they had before options existed (saved renders stay valid).
  return JSON.stringify([
    totalFrames, seed, steps, guidanceScale, fps, promptSchedule, sampler, dualScope, mode,
    ...(Object.keys(options).length ? [options] : []),
    ...(job.cfgSplit ? ['cfg-split'] : []),
  ]);
}

/** FNV-1a over the UTF-16 code units: a checkpoint's wire form names its video by this. */
function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
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

// ---------------------------------------------------------------- wire form

/**
 * A checkpoint as bytes, to cross the network (a worker's to the host, the host's re-cut one to a
 * worker) without its job, which both sides have:
 *
 *   'VICS' · u32 header bytes (LE) · header JSON (UTF-8) · zero padding to 4 · latents f32 LE [F, C, H, W]
 *   · the scheduler's last model output f32 LE [F, C, H, W] when the header says so
 *
 * header = { version, video (fingerprint of videoIdentity), range, nextStep, scheduler (its state without
 * the array), lastModelOutput: bool }.
 */
const WIRE_MAGIC = 0x53434956; // 'VICS' read as a little-endian u32
/** The wire form's header is small; a bigger one is refused (a receiver also bounds a whole state's size by it). */
export const MAX_HEADER_BYTES = 16 * 1024;

export function encodeClipState(state: ClipState): Uint8Array {
  const { lastModelOutput, ...scheduler } = state.scheduler as SchedulerState & { lastModelOutput?: Float32Array | null };
  const arrays = [state.latents, ...(lastModelOutput ? [lastModelOutput] : [])];
  const header = new TextEncoder().encode(JSON.stringify({ version: state.version, video: fingerprint(videoIdentity(state.job)), range: state.range, nextStep: state.nextStep, scheduler, lastModelOutput: !!lastModelOutput }));
  const offset = 8 + Math.ceil(header.length / 4) * 4;
  const bytes = new Uint8Array(offset + arrays.reduce((n, a) => n + a.byteLength, 0));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, WIRE_MAGIC, true);
  view.setUint32(4, header.length, true);
  bytes.set(header, 8);
  let at = offset;
  for (const a of arrays) for (let i = 0; i < a.length; i++, at += 4) view.setFloat32(at, a[i]!, true);
  return bytes;
}

/**
 * Reads untrusted checkpoint bytes for `job` (perFrame = C·H·W of the model); throws
 * EngineError('bad-state') naming what is wrong. The scheduler state is checked when it is loaded.
 */
export function decodeClipState(bytes: Uint8Array, job: JobParams, perFrame: number): ClipState {
  const fail = (m: string): never => {
    throw new EngineError('bad-state', `checkpoint bytes: ${m}`);
  };
  if (!(bytes instanceof Uint8Array) || bytes.length < 8) fail(`${bytes?.length ?? 0} bytes, too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== WIRE_MAGIC) fail("they do not start with 'VICS'");
  const headerBytes = view.getUint32(4, true);
  if (headerBytes > MAX_HEADER_BYTES || 8 + headerBytes > bytes.length) fail(`header of ${headerBytes} bytes in ${bytes.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes))) as Record<string, unknown>;
  } catch {
    return fail('the header is not JSON');
  }
  if (header?.video !== fingerprint(videoIdentity(job))) fail('they were saved for a different job (frames, seed, steps, guidance, fps, prompts, sampler, attention or mode differ)');
  const range = header.range as FrameRange | undefined;
  const isFrame = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= job.totalFrames;
  if (typeof header !== 'object' || header === null || typeof range !== 'object' || range === null || !isFrame(range.start) || !isFrame(range.end) || range.start >= range.end) {
    fail(`range must lie in [0, ${job.totalFrames}]`);
  }
  const scheduler = header.scheduler as Record<string, unknown> | null;
  if (typeof scheduler !== 'object' || scheduler === null || scheduler.kind !== job.sampler.kind) fail(`the scheduler must be a ${job.sampler.kind} state`);
  const hasLast = header.lastModelOutput === true;
  if (hasLast && scheduler!.kind !== 'dpm-solver++-2m') fail('only DPM-Solver++ keeps a last model output');
  const values = (range!.end - range!.start) * perFrame;
  const offset = 8 + Math.ceil(headerBytes / 4) * 4;
  if (bytes.length !== offset + values * 4 * (hasLast ? 2 : 1)) fail(`${bytes.length} bytes; [${range!.start}, ${range!.end}) needs ${offset + values * 4 * (hasLast ? 2 : 1)}`);
  const array = (k: number) => {
    const a = new Float32Array(values);
    for (let i = 0, at = offset + k * values * 4; i < values; i++, at += 4) a[i] = view.getFloat32(at, true);
    return a;
  };
  const state = {
    format: 'vi-clip-state' as const, version: header.version as 1, job, range: { start: range!.start, end: range!.end }, nextStep: header.nextStep as number, latents: array(0),
    scheduler: (scheduler!.kind === 'dpm-solver++-2m' ? { ...scheduler, lastModelOutput: hasLast ? array(1) : null } : scheduler) as unknown as SchedulerState,
  };
  checkClipState(state, job, state.range, perFrame);
  return state;
}
