import { describe, expect, it } from 'vitest';
import {
  distinctPrompts,
  PromptEmbeddingCache,
  promptForFrame,
  promptIndicesForRange,
  promptsForRange,
  validatePromptSchedule,
  type PromptSchedule,
} from './prompt-schedule.js';

const schedule: PromptSchedule = {
  entries: [
    { fromFrame: 0, prompt: 'a red ball' },
    { fromFrame: 10, prompt: 'a blue square' },
    { fromFrame: 25, prompt: 'a red ball' },
  ],
};

describe('prompt schedule', () => {
  it('maps frames to the last entry at or before them', () => {
    validatePromptSchedule(schedule, 40);
    expect([0, 9, 10, 24, 25, 39].map((f) => promptForFrame(schedule, f))).toEqual([
      'a red ball', 'a red ball', 'a blue square', 'a blue square', 'a red ball', 'a red ball',
    ]);
  });

  it('lists distinct prompts once, and per range', () => {
    expect(distinctPrompts(schedule)).toEqual(['a red ball', 'a blue square']);
    expect(promptsForRange(schedule, { start: 12, end: 20 })).toEqual(['a blue square']);
    expect(Array.from(promptIndicesForRange(schedule, { start: 8, end: 12 }))).toEqual([0, 0, 1, 1]);
  });

  it('encodes each distinct prompt once', async () => {
    const calls: string[] = [];
    const cache = new PromptEmbeddingCache(async (p: string) => {
      calls.push(p);
      return Float32Array.of(p.length);
    });
    const embs = await cache.forRange(schedule, { start: 0, end: 40 });
    expect(embs.length).toBe(40);
    expect(calls).toEqual(['a red ball', 'a blue square']);
    expect(embs[0]).toBe(embs[30]);
    expect(cache.size).toBe(2);
  });

  it('rejects bad schedules with the entry, value and rule', () => {
    expect(() => validatePromptSchedule({ entries: [] })).toThrow(/schedule.entries must be a non-empty array/);
    expect(() => validatePromptSchedule({ entries: [{ fromFrame: 3, prompt: 'x' }] })).toThrow(/entries\[0\]\.fromFrame must be 0 .* got 3/);
    expect(() =>
      validatePromptSchedule({ entries: [{ fromFrame: 0, prompt: 'x' }, { fromFrame: 0, prompt: 'y' }] }),
    ).toThrow(/entries\[1\]\.fromFrame must be greater than entries\[0\]\.fromFrame \(0\), got 0/);
    expect(() => validatePromptSchedule(schedule, 20)).toThrow(/entries\[2\]\.fromFrame must be less than totalFrames \(20\), got 25/);
    expect(() => validatePromptSchedule({ entries: [{ fromFrame: 0, prompt: 5 as unknown as string }] })).toThrow(
      expect.objectContaining({ code: 'invalid-prompt-schedule' }),
    );
    expect(() => promptForFrame(schedule, -1)).toThrow(/globalFrame must be a non-negative integer, got -1/);
  });
});
