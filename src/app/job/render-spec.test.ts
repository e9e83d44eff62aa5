import { describe, expect, it } from 'vitest';
import { parseControlMessage } from '../protocol-check.js';
import { buildRenderTask, DEFAULT_EXCHANGE, EXCHANGE_CHOICES, fromBase64, parseScheduleText, toBase64, type ModelFacts } from './render-spec.js';

const facts = {
  manifest: { defaults: { local_window_p: 4, global_top_k: 8, phase_t: 800, phase_bias: 10 }, frame_rate: 8 },
  minClipFrames: 4,
} as unknown as ModelFacts;

describe('render spec', () => {
  it('parses the schedule editor text and names the bad line', () => {
    expect(parseScheduleText('0: a red circle\n\n24: a blue square', 48)).toEqual({ entries: [{ fromFrame: 0, prompt: 'a red circle' }, { fromFrame: 24, prompt: 'a blue square' }], errors: [] });
    expect(parseScheduleText('4: a red circle', 48).errors).toEqual(['the first line must start at frame 0']);
    expect(parseScheduleText('0: a\n0: b', 48).errors).toEqual(['line 2: frame 0 must come after 0']);
    expect(parseScheduleText('0: a\n60: b', 48).errors).toEqual(['line 2: frame 60 is past the last frame (47)']);
    expect(parseScheduleText('red circle', 48).errors[0]).toBe('line 1: write "FRAME: prompt"');
  });

  it('builds a render task that the control channel accepts, with a partition over the ranks', () => {
    const task = buildRenderTask(7, '/models/x/', facts, { schedule: [{ fromFrame: 0, prompt: 'a red circle' }], totalFrames: 48, steps: 2, guidanceScale: 3, seed: 5, sampler: 'ddim', exportScale: 8 }, 'avc', 3);
    expect(task.job.partition.ranges).toEqual([{ start: 0, end: 16 }, { start: 16, end: 32 }, { start: 32, end: 48 }]);
    const start = { type: 'start', meshJobId: 1, roster: ['a', 'b', 'c'], task };
    expect(parseControlMessage(JSON.stringify(start))).toEqual(start);
    expect(() => parseControlMessage(JSON.stringify({ ...start, task: { ...task, job: { ...task.job, steps: 0 } } }))).toThrow(/malformed 'start' message: render task: job.steps must be an integer in \[1, 1000\], got 0/);
    expect(() => parseControlMessage(JSON.stringify({ ...start, task: { ...task, export: { codec: 'h265', scale: 8 } } }))).toThrow(/malformed 'start' message: export: codec avc, vp9 or vp8/);
    // a restart that resumes after one of the steps (after the last: only decoding is left)
    expect(parseControlMessage({ ...start, task: { ...task, resumeFromStep: 1 } })).toMatchObject({ task: { resumeFromStep: 1 } });
    for (const bad of [0, 3, 1.5, -1]) expect(() => parseControlMessage({ ...start, task: { ...task, resumeFromStep: bad } })).toThrow(/malformed 'start'/);
  });

  it('carries the exchange mode and options in the job, where the control channel checks them', () => {
    const settings = { schedule: [{ fromFrame: 0, prompt: 'a red circle' }], totalFrames: 48, steps: 2, guidanceScale: 3, seed: 5, sampler: 'ddim' as const, exportScale: 8 };
    const start = (task: unknown) => ({ type: 'start', meshJobId: 1, roster: ['a', 'b'], task });
    for (const c of EXCHANGE_CHOICES) {
      const task = buildRenderTask(7, '/models/x/', facts, { ...settings, exchange: c.name }, 'avc', 2);
      expect(task.job.exchangeMode ?? 'exact').toBe(c.mode);
      expect(task.job.exchangeOptions).toEqual(c.options);
      const parsed = parseControlMessage(JSON.parse(JSON.stringify(start(task)))) as { task: { job: { exchangeMode?: string; exchangeOptions?: unknown } } };
      expect(parsed.task.job.exchangeMode).toBe(task.job.exchangeMode);
      expect(parsed.task.job.exchangeOptions).toEqual(task.job.exchangeOptions);
    }
    expect(buildRenderTask(7, '/models/x/', facts, settings, 'avc', 2).job.exchangeMode).toBeUndefined(); // an older saved render: exact
    expect(EXCHANGE_CHOICES.map((c) => c.name)).toContain(DEFAULT_EXCHANGE);
    expect(() => buildRenderTask(7, '/models/x/', facts, { ...settings, exchange: 'fast' }, 'avc', 2)).toThrow(/exchange "fast": must be one of exact, /);
    const task = buildRenderTask(7, '/models/x/', facts, settings, 'avc', 2);
    expect(() => parseControlMessage(start({ ...task, job: { ...task.job, exchangeMode: 'fast' } }))).toThrow(/job.exchangeMode must be one of/);
  });

  it('previews: base64 round trip', () => {
    const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 31) & 255);
    expect(fromBase64(toBase64(bytes))).toEqual(bytes);
  });
});
