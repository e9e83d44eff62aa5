import { describe, expect, it } from 'vitest';
import { checkpointStepProblem, clipRangeProblem, previewFrame, stepReportProblem } from './rank-reports.js';
import { toBase64 } from './render-spec.js';

describe('a member\'s render reports, checked before use', () => {
  it('steps and checkpoints must be the job\'s', () => {
    const t = { stepMs: 10, computeMs: 8, networkWaitMs: 2 };
    expect(stepReportProblem({ step: 1, steps: 2, ...t }, 2)).toBeUndefined();
    expect(stepReportProblem({ step: 2, steps: 2, ...t }, 2)).toBe('step 2 is not a step of a 2-step job');
    expect(stepReportProblem({ step: 4_000_000_000, steps: 2, ...t }, 2)).toMatch(/not a step/);
    expect(stepReportProblem({ step: 0, steps: 1000, ...t }, 2)).toBe('it says the job has 1000 steps, it has 2');
    expect(stepReportProblem({ step: 0, steps: 2, ...t, computeMs: -1e9 }, 2)).toBe('it reports a negative time');
    expect([0, 1, 2, 3].map((n) => checkpointStepProblem(n, 2) === undefined)).toEqual([false, true, true, false]);
  });

  it('a rank\'s clip must be exactly its frames, not another rank\'s', () => {
    expect(clipRangeProblem({ firstFrameIndex: 8, frameCount: 8 }, { start: 8, end: 16 })).toBeUndefined();
    expect(clipRangeProblem({ firstFrameIndex: 0, frameCount: 8 }, { start: 8, end: 16 })).toBe("it covers frames [0, 8), the rank's are [8, 16)");
    expect(clipRangeProblem({ firstFrameIndex: 8, frameCount: 16 }, { start: 8, end: 16 })).toMatch(/\[8, 24\)/);
  });

  it('a preview is used only when its bytes are its size in RGB pixels', () => {
    const rgb = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i);
    const frame = previewFrame({ globalFrame: 5, width: 2, height: 3, rgbBase64: toBase64(rgb) });
    expect(frame).toMatchObject({ globalFrame: 5, width: 2, height: 3 });
    expect([...frame!.rgba.slice(0, 8)]).toEqual([0, 1, 2, 255, 3, 4, 5, 255]);
    expect(previewFrame({ globalFrame: 0, width: 4, height: 4, rgbBase64: toBase64(rgb) })).toBeUndefined(); // too few bytes
    expect(previewFrame({ globalFrame: 0, width: 1, height: 1, rgbBase64: 'A' })).toBeUndefined(); // not decodable
    expect(previewFrame({ globalFrame: 0, width: 0, height: 0, rgbBase64: '' })).toBeUndefined();
  });
});
