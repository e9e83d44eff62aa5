import { describe, expect, it } from 'vitest';
import { attentionBias, EMBEDDED_DUAL_SCOPE, MASKED_BIAS, type DualScopeParams } from './dual-scope.js';
import { attentionBiasForKeys, clipLayout, isolatedLayout, segmentedKeyColumns, tconvWindowMask, wholeKeyColumns } from './unet-call-inputs.js';

const P: DualScopeParams = EMBEDDED_DUAL_SCOPE; // p 4, topK 8, T_phase 800, b 10

/** Column c of `cols` (global frame, scope) → the column of dual-scope.ts's frame-ordered key list. */
function permutedFromDualScope(range: { start: number; end: number }, n: number, t: number): Float32Array {
  const ref = attentionBias(range, n, P, t);
  const cols = segmentedKeyColumns(clipLayout(range, n, P, 4));
  const out = new Float32Array(ref.queryFrames * cols.length);
  cols.forEach((k, c) => {
    const refCol = k.scope === 'local' ? ref.keyGlobalFrames.indexOf(k.globalFrame) : ref.localKeys + ref.keyGlobalFrames.slice(ref.localKeys).indexOf(k.globalFrame);
    for (let i = 0; i < ref.queryFrames; i++) out[i * cols.length + c] = ref.bias[i * ref.keyFrames + refCol]!;
  });
  return out;
}

describe('clip layout', () => {
  it('sends first p, last p and own global frames; receives left window, right window, all globals', () => {
    const L = clipLayout({ start: 8, end: 16 }, 24, P, 4); // globals 0,3,6,9,12,15,18,21
    expect(L.globalFrames).toEqual([0, 3, 6, 9, 12, 15, 18, 21]);
    expect(L.ownedGlobal.localFrames).toEqual([1, 4, 7]);
    expect(L.sendLocalFrames).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([L.leftWindow, L.rightWindow]).toEqual([4, 4]);
    expect(L.contextColumns.map((c) => `${c.scope[0]}${c.globalFrame}`)).toEqual(['l4', 'l5', 'l6', 'l7', 'l16', 'l17', 'l18', 'l19', 'g0', 'g3', 'g6', 'g9', 'g12', 'g15', 'g18', 'g21']);
  });

  it('cuts the window at the video ends and dedupes send indices; n_send >= 1', () => {
    const first = clipLayout({ start: 0, end: 10 }, 30, P, 4);
    expect([first.leftWindow, first.rightWindow]).toEqual([0, 4]);
    expect(first.sendLocalFrames).toEqual([0, 3, 6, 7, 8, 9]); // own globals 0, 3, 7 (g_k = floor(k·30/8)) and the last 4 frames
    const solo = clipLayout({ start: 0, end: 5 }, 5, P, 4);
    expect(solo.contextColumns.every((c) => c.scope === 'global')).toBe(true);
    expect(solo.sendLocalFrames).toEqual([0, 1, 2, 3, 4]);
    const noGlobal = clipLayout({ start: 0, end: 6 }, 6, { ...P, topK: 0 }, 4);
    expect(noGlobal.sendLocalFrames).toEqual([0]);
  });

  it('rejects clips shorter than max(p, tconvHalo) in a multi-rank job', () => {
    expect(() => clipLayout({ start: 0, end: 3 }, 12, P, 4)).toThrow(/at least max\(p, tconvHalo\) = 4 frames/);
  });

  it('isolated layout = the clip as its own video', () => {
    const L = isolatedLayout(clipLayout({ start: 8, end: 16 }, 24, P, 4));
    expect(L.range).toEqual({ start: 0, end: 8 });
    expect(L.totalFrames).toBe(8);
    expect(L.globalFrames).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('tconv window mask marks frames outside the video', () => {
    expect([...tconvWindowMask(clipLayout({ start: 0, end: 5 }, 10, P, 4))]).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect([...tconvWindowMask(clipLayout({ start: 4, end: 10 }, 10, P, 4))]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  });
});

describe('attention bias in the plan column order', () => {
  for (const [range, n] of [[{ start: 0, end: 10 }, 30], [{ start: 10, end: 20 }, 30], [{ start: 24, end: 30 }, 30], [{ start: 0, end: 7 }, 7]] as const) {
    for (const t of [999, 800, 799, 10]) {
      it(`equals dual-scope.ts attentionBias with columns permuted: clip [${range.start}, ${range.end}) of ${n}, t = ${t}`, () => {
        const L = clipLayout(range, n, P, 4);
        const mine = attentionBiasForKeys(range, segmentedKeyColumns(L), P, t);
        expect(mine).toEqual(permutedFromDualScope(range, n, t));
      });
    }
  }

  it('whole graph: [all frames | globals] equals dual-scope.ts for the range [0, N)', () => {
    const ref = attentionBias({ start: 0, end: 20 }, 20, P, 500);
    const mine = attentionBiasForKeys({ start: 0, end: 20 }, wholeKeyColumns(20, ref.keyGlobalFrames.slice(20)), P, 500);
    expect(mine).toEqual(ref.bias);
  });

  it('masks local keys beyond p and puts the phase bias on the right group', () => {
    const b = attentionBiasForKeys({ start: 10, end: 11 }, [{ globalFrame: 10, scope: 'local' }, { globalFrame: 15, scope: 'local' }, { globalFrame: 15, scope: 'global' }], P, 900);
    expect([...b]).toEqual([0, MASKED_BIAS, 10].map(Math.fround));
    const late = attentionBiasForKeys({ start: 10, end: 11 }, [{ globalFrame: 14, scope: 'local' }, { globalFrame: 0, scope: 'global' }], P, 100);
    expect([...late]).toEqual([10, 0]);
  });
});
