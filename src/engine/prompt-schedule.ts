/**
 * The frame-indexed prompt schedule (part of what the video is a function of): entries
 * (fromFrame, prompt) in increasing fromFrame, the first at frame 0; frame j is conditioned on the
 * last entry with fromFrame ≤ j.
 * Text embeddings are computed once per distinct prompt (`PromptEmbeddingCache`). The CFG uncond
 * half always uses the empty prompt "". Imports only `errors.ts`.
 */

import { check, describeValue, PromptScheduleError } from './errors.js';
import type { FrameRange } from './partition.js';

export interface PromptEntry {
  readonly fromFrame: number; // global frame index
  readonly prompt: string;
}

export interface PromptSchedule {
  readonly entries: readonly PromptEntry[];
}

/** The prompt of the CFG uncond half. */
export const UNCOND_PROMPT = '';

/**
 * Throws PromptScheduleError unless: at least one entry; entries[0].fromFrame = 0; fromFrame
 * integers, strictly increasing, and < totalFrames when given; prompts are strings.
 */
export function validatePromptSchedule(schedule: PromptSchedule, totalFrames?: number): void {
  const where = 'validatePromptSchedule';
  const entries = schedule?.entries;
  check(Array.isArray(entries) && entries.length > 0, PromptScheduleError, where, 'schedule.entries', entries, 'a non-empty array of {fromFrame, prompt}', 'invalid-prompt-schedule');
  entries.forEach((e, k) => {
    check(typeof e?.prompt === 'string', PromptScheduleError, where, `entries[${k}].prompt`, e?.prompt, 'a string', 'invalid-prompt-schedule');
    check(Number.isSafeInteger(e.fromFrame) && e.fromFrame >= 0, PromptScheduleError, where, `entries[${k}].fromFrame`, e.fromFrame, 'a non-negative integer', 'invalid-prompt-schedule');
    if (k === 0) {
      check(e.fromFrame === 0, PromptScheduleError, where, 'entries[0].fromFrame', e.fromFrame, '0 (every frame needs a prompt)', 'invalid-prompt-schedule');
    } else {
      const prev = entries[k - 1]!.fromFrame;
      check(e.fromFrame > prev, PromptScheduleError, where, `entries[${k}].fromFrame`, e.fromFrame, `greater than entries[${k - 1}].fromFrame (${prev})`, 'invalid-prompt-schedule');
    }
    if (totalFrames !== undefined) {
      check(e.fromFrame < totalFrames, PromptScheduleError, where, `entries[${k}].fromFrame`, e.fromFrame, `less than totalFrames (${totalFrames})`, 'invalid-prompt-schedule');
    }
  });
}

/** Index into `entries` of the entry that conditions `globalFrame` (binary search). */
export function entryIndexForFrame(schedule: PromptSchedule, globalFrame: number): number {
  check(Number.isSafeInteger(globalFrame) && globalFrame >= 0, PromptScheduleError, 'promptForFrame', 'globalFrame', globalFrame, 'a non-negative integer');
  const e = schedule.entries;
  if (e.length === 0 || e[0]!.fromFrame > globalFrame) {
    throw new PromptScheduleError('invalid-prompt-schedule', `promptForFrame: no entry covers frame ${globalFrame} (entries start at ${describeValue(e[0]?.fromFrame)})`);
  }
  let lo = 0;
  let hi = e.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (e[mid]!.fromFrame <= globalFrame) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function promptForFrame(schedule: PromptSchedule, globalFrame: number): string {
  return schedule.entries[entryIndexForFrame(schedule, globalFrame)]!.prompt;
}

/** Distinct prompts in order of first appearance (what needs encoding once). */
export function distinctPrompts(schedule: PromptSchedule): string[] {
  return [...new Set(schedule.entries.map((e) => e.prompt))];
}

/** For each frame of `range`, the index of its prompt in `distinctPrompts(schedule)`. */
export function promptIndicesForRange(schedule: PromptSchedule, range: FrameRange): Int32Array {
  const prompts = distinctPrompts(schedule);
  const out = new Int32Array(Math.max(0, range.end - range.start));
  for (let f = range.start; f < range.end; f++) out[f - range.start] = prompts.indexOf(promptForFrame(schedule, f));
  return out;
}

/** Distinct prompts used by the frames of `range` (what a tab must encode). */
export function promptsForRange(schedule: PromptSchedule, range: FrameRange): string[] {
  const used = new Set<string>();
  for (let f = range.start; f < range.end; f++) used.add(promptForFrame(schedule, f));
  return distinctPrompts(schedule).filter((p) => used.has(p));
}

/** Text embeddings, one encoder call per distinct prompt (concurrent requests share one call). */
export class PromptEmbeddingCache<E> {
  private readonly cache = new Map<string, Promise<E>>();

  constructor(private readonly encode: (prompt: string) => Promise<E> | E) {}

  get(prompt: string): Promise<E> {
    let hit = this.cache.get(prompt);
    if (hit === undefined) {
      hit = Promise.resolve().then(() => this.encode(prompt));
      hit.catch(() => this.cache.delete(prompt)); // a failed encode is retried next time
      this.cache.set(prompt, hit);
    }
    return hit;
  }

  /** Embeddings for each frame of `range`, in frame order (identical prompts share one object). */
  async forRange(schedule: PromptSchedule, range: FrameRange): Promise<E[]> {
    const out: Promise<E>[] = [];
    for (let f = range.start; f < range.end; f++) out.push(this.get(promptForFrame(schedule, f)));
    return Promise.all(out);
  }

  get size(): number {
    return this.cache.size;
  }
}
