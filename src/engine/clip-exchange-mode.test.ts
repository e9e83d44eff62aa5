import { describe, expect, it } from 'vitest';
import { EXCHANGE_OPTION_DEFAULTS, parseExchangeSettings, resolveExchangeOptions } from './clip-exchange-mode.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { parseJobParams } from './job-params.js';
import { videoIdentity, type JobParams } from './job-state.js';

const job: JobParams = {
  jobId: 7, totalFrames: 16, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 3, steps: 4, guidanceScale: 7.5,
  sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
};

describe('exchange mode and options in a job', () => {
  it('every mode parses; a mode\'s own options come back, through JSON too', () => {
    for (const exchangeMode of ['exact', 'exact-fp16', 'stale', 'sparse-global', 'isolated'] as const) expect(parseJobParams({ ...job, exchangeMode }).exchangeMode).toBe(exchangeMode);
    const stale = { ...job, exchangeMode: 'stale' as const, exchangeOptions: { warmupSteps: 3, staleStats: false } };
    expect(parseJobParams(JSON.parse(JSON.stringify(stale)))).toEqual(stale);
    const sparse = { ...job, exchangeMode: 'sparse-global' as const, exchangeOptions: { globalEvery: 2, float16Wire: true } };
    expect(parseJobParams(sparse)).toEqual(sparse);
  });

  it.each([
    ['an unknown mode', { exchangeMode: 'fast' }, /job.exchangeMode must be one of 'exact', 'exact-fp16', 'stale', 'sparse-global', 'isolated', got "fast"/],
    ['options that are not an object', { exchangeMode: 'stale', exchangeOptions: 3 }, /job.exchangeOptions must be an object/],
    ['an option of another mode', { exchangeMode: 'stale', exchangeOptions: { globalEvery: 2 } }, /job.exchangeOptions.globalEvery must be absent: mode 'stale' takes only warmupSteps, staleStats, float16Wire/],
    ['options for a mode without any', { exchangeOptions: { warmupSteps: 1 } }, /job.exchangeOptions.warmupSteps must be absent: mode 'exact' takes no options/],
    ['a negative warm-up', { exchangeMode: 'stale', exchangeOptions: { warmupSteps: -1 } }, /job.exchangeOptions.warmupSteps must be an integer in \[0, 1000\], got -1/],
    ['a fractional refresh interval', { exchangeMode: 'sparse-global', exchangeOptions: { globalEvery: 1.5 } }, /job.exchangeOptions.globalEvery must be an integer in \[1, 1000\]/],
    ['a zero refresh interval', { exchangeMode: 'sparse-global', exchangeOptions: { globalEvery: 0 } }, /globalEvery must be an integer in \[1, 1000\], got 0/],
    ['a non-boolean float16Wire', { exchangeMode: 'sparse-global', exchangeOptions: { float16Wire: 1 } }, /job.exchangeOptions.float16Wire must be true or false/],
    ['a non-boolean staleStats', { exchangeMode: 'stale', exchangeOptions: { staleStats: 'yes' } }, /job.exchangeOptions.staleStats must be true or false/],
  ])('refuses %s, naming the field', (_name, extra, message) => {
    expect(() => parseJobParams({ ...job, ...extra })).toThrow(message);
  });

  it('defaults are filled in only for the options the mode reads', () => {
    expect(resolveExchangeOptions('exact', undefined)).toEqual({});
    expect(resolveExchangeOptions('stale', { warmupSteps: 5 })).toEqual({ warmupSteps: 5, staleStats: EXCHANGE_OPTION_DEFAULTS.staleStats, float16Wire: false });
    expect(resolveExchangeOptions('sparse-global', undefined)).toEqual({ globalEvery: EXCHANGE_OPTION_DEFAULTS.globalEvery, float16Wire: false });
    expect(parseExchangeSettings(undefined, undefined, 'x')).toEqual({ mode: undefined, options: undefined });
  });

  it('the mode and its resolved options are part of the video identity; spelling out a default is not', () => {
    const id = (extra: Partial<JobParams>) => videoIdentity({ ...job, ...extra });
    expect(id({})).toBe(id({ exchangeMode: 'exact' }));
    expect(id({})).toBe(JSON.stringify([16, 3, 4, 7.5, 8, job.promptSchedule, job.sampler, job.dualScope, 'exact'])); // unchanged for saved renders
    const ids = new Set([id({}), id({ exchangeMode: 'exact-fp16' }), id({ exchangeMode: 'stale' }), id({ exchangeMode: 'stale', exchangeOptions: { warmupSteps: 1 } }),
      id({ exchangeMode: 'stale', exchangeOptions: { staleStats: false } }), id({ exchangeMode: 'sparse-global' }), id({ exchangeMode: 'sparse-global', exchangeOptions: { globalEvery: 2 } }),
      id({ exchangeMode: 'sparse-global', exchangeOptions: { float16Wire: true } })]);
    expect(ids.size).toBe(8);
    expect(id({ exchangeMode: 'stale' })).toBe(id({ exchangeMode: 'stale', exchangeOptions: { warmupSteps: EXCHANGE_OPTION_DEFAULTS.warmupSteps } }));
  });
});
