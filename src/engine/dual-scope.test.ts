import { describe, expect, it } from 'vitest';
import {
  attentionBias,
  EMBEDDED_DUAL_SCOPE,
  globalFrameIndices,
  localKeyWindow,
  MASKED_BIAS,
  ownedGlobalFrames,
  type DualScopeParams,
} from './dual-scope.js';
import { partitionFrames } from './partition.js';

const P: DualScopeParams = { window: 2, topK: 3, phaseTimestep: 800, phaseBias: 10 };
const M = MASKED_BIAS;

describe('global frames', () => {
  it('g_k = floor(k·N/G), G = min(topK, N)', () => {
    expect(globalFrameIndices(40, 8)).toEqual([0, 5, 10, 15, 20, 25, 30, 35]);
    expect(globalFrameIndices(10, 3)).toEqual([0, 3, 6]);
    expect(globalFrameIndices(5, 16)).toEqual([0, 1, 2, 3, 4]);
    expect(globalFrameIndices(2300, 16)[15]).toBe(2156);
    expect(globalFrameIndices(7, 0)).toEqual([]);
  });

  it('each clip owns a contiguous slice; rank-order concatenation is the global list', () => {
    for (const [n, w] of [[40, 3], [48, 4], [17, 2], [100, 7]] as const) {
      const g = globalFrameIndices(n, 16);
      const p = partitionFrames(n, w, 4);
      const gathered = p.ranges.flatMap((r) => ownedGlobalFrames(g, r).localFrames.map((l) => l + r.start));
      expect(gathered).toEqual(g);
    }
    expect(ownedGlobalFrames([0, 3, 6], { start: 4, end: 8 })).toEqual({ positions: { start: 2, end: 3 }, localFrames: [2] });
    expect(ownedGlobalFrames([0, 3, 6], { start: 7, end: 10 })).toEqual({ positions: { start: 3, end: 3 }, localFrames: [] });
  });
});

describe('attention bias', () => {
  it('local window is cut at the video ends (N = 10, clip [0, 4), p = 2, G = 3)', () => {
    // the same case is checked in training/test_dual_scope.py
    expect(localKeyWindow({ start: 0, end: 4 }, 10, 2)).toEqual({ keyStart: 0, keyEnd: 6, left: 0, right: 2 });
    const b = attentionBias({ start: 0, end: 4 }, 10, P, 999);
    expect([b.queryFrames, b.localKeys, b.globalKeys, b.keyFrames]).toEqual([4, 6, 3, 9]);
    expect(b.keyGlobalFrames).toEqual([0, 1, 2, 3, 4, 5, 0, 3, 6]);
    const rows = Array.from({ length: 4 }, (_, i) => Array.from(b.bias.subarray(i * 9, i * 9 + 9)));
    expect(rows).toEqual([
      [0, 0, 0, M, M, M, 10, 10, 10],
      [0, 0, 0, 0, M, M, 10, 10, 10],
      [0, 0, 0, 0, 0, M, 10, 10, 10],
      [M, 0, 0, 0, 0, 0, 10, 10, 10],
    ]);
  });

  it('local phase (t < T_phase) biases the unmasked local keys instead', () => {
    const b = attentionBias({ start: 6, end: 10 }, 10, P, 500);
    expect(b.keyGlobalFrames).toEqual([4, 5, 6, 7, 8, 9, 0, 3, 6]);
    expect(Array.from(b.bias.subarray(27, 36))).toEqual([M, M, M, 10, 10, 10, 0, 0, 0]); // query frame 9
    // t = T_phase is already the global phase; query frame 6
    expect(Array.from(attentionBias({ start: 6, end: 10 }, 10, P, 800).bias.subarray(0, 9))).toEqual([0, 0, 0, 0, 0, M, 10, 10, 10]);
  });

  it('a clip bias equals the full-video bias restricted to its rows and key columns', () => {
    const n = 23;
    const params: DualScopeParams = { ...EMBEDDED_DUAL_SCOPE, topK: 5 };
    for (const t of [999, 200]) {
      const full = attentionBias({ start: 0, end: n }, n, params, t);
      for (const r of partitionFrames(n, [1, 2, 1], 4).ranges) {
        const clip = attentionBias(r, n, params, t);
        for (let i = 0; i < clip.queryFrames; i++) {
          for (let c = 0; c < clip.keyFrames; c++) {
            const fullCol = c < clip.localKeys ? clip.keyGlobalFrames[c]! : full.localKeys + (c - clip.localKeys);
            expect(clip.bias[i * clip.keyFrames + c]).toBe(full.bias[(r.start + i) * full.keyFrames + fullCol]);
          }
          // every full-video local column outside the clip's window is masked for this row
          for (let j = 0; j < n; j++) {
            if (j < clip.keyGlobalFrames[0]! || j > clip.keyGlobalFrames[clip.localKeys - 1]!) {
              expect(full.bias[(r.start + i) * full.keyFrames + j]).toBe(MASKED_BIAS);
            }
          }
        }
      }
    }
  });

  it('every row keeps its own frame unmasked (softmax stays finite)', () => {
    const b = attentionBias({ start: 3, end: 4 }, 4, { window: 0, topK: 0, phaseTimestep: 800, phaseBias: 10 }, 0);
    expect(Array.from(b.bias)).toEqual([10]);
  });

  it('rejects bad arguments', () => {
    expect(() => attentionBias({ start: 5, end: 5 }, 10, P, 0)).toThrow(/range must be a non-empty \[start, end\) inside \[0, 10\)/);
    expect(() => attentionBias({ start: 0, end: 4 }, 10, { ...P, window: -1 }, 0)).toThrow(/window must be a non-negative integer, got -1/);
    expect(() => globalFrameIndices(0, 4)).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
  });
});
