import { describe, expect, it } from 'vitest';
import { parseSavedRender, SAVED_RENDER_SCHEMA, type SavedRender } from './saved-render.js';

const good: SavedRender = {
  schema: SAVED_RENDER_SCHEMA, savedAt: 1, packageUrl: '/models/vi-shapes-tiny/', model: 'vi-shapes-tiny@1.0.0#abc', step: 1,
  settings: { schedule: [{ fromFrame: 0, prompt: 'a red circle' }], totalFrames: 48, steps: 2, guidanceScale: 7.5, seed: 3, sampler: 'dpm++2m', exportScale: 8 },
  state: new Blob([new Uint8Array(8)]),
};

describe('saved render (what a reloaded host tab may resume), read back from storage', () => {
  it('keeps a well-formed record as it is', () => {
    expect(parseSavedRender(good)).toBe(good);
  });

  it.each([
    ['another schema', { ...good, schema: 2 }],
    ['no state', { ...good, state: new Uint8Array(8) }],
    ['step 0 (nothing to resume)', { ...good, step: 0 }],
    ['step past the steps', { ...good, step: 3 }],
    ['an unknown sampler', { ...good, settings: { ...good.settings, sampler: 'euler' } }],
    ['an empty schedule', { ...good, settings: { ...good.settings, schedule: [] } }],
    ['a prompt that is not text', { ...good, settings: { ...good.settings, schedule: [{ fromFrame: 0, prompt: 7 }] } }],
    ['no settings', { ...good, settings: null }],
    ['not an object', 'unfinished'],
  ])('drops %s', (_, raw) => {
    expect(parseSavedRender(raw)).toBeNull();
  });
});
