import { describe, expect, it } from 'vitest';
import type { ExchangePoint, SegmentPlan } from '../model/segment-plan.js';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import { ClipExchange } from './clip-exchange.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import type { FrameRange } from './partition.js';
import type { HostTensor } from './session-runner.js';
import { clipLayout, isolatedLayout, type ClipLayout } from './unet-call-inputs.js';

const B = 2;
const plan = { batch: B } as SegmentPlan; // the exchanges read only plan.batch
const P = EMBEDDED_DUAL_SCOPE;
const f32 = (data: Float32Array, dims: number[]): HostTensor => ({ dtype: 'float32', dims, data });

/** A deterministic "activation" of (b, c, global frame, pixel). */
const value = (b: number, c: number, frame: number, px: number) => Math.sin(1 + 0.37 * b + 0.11 * c + 0.73 * frame + 0.05 * px) * (1 + frame / 10);

function layouts(ranges: FrameRange[], n: number): ClipLayout[] {
  return ranges.map((r) => clipLayout(r, n, P, 4));
}

describe('stats exchange (Chan, float64, rank order)', () => {
  it('gives the full-video mean and biased variance per (b, group) for an uneven split', async () => {
    const n = 13;
    const ranges = [{ start: 0, end: 4 }, { start: 4, end: 9 }, { start: 9, end: 13 }];
    const groups = 2;
    const perFrame = 3; // values per (b, group, frame)
    const point: ExchangePoint = { id: 'x.norm', kind: 'stats', groups, channels: 4, countPerFrame: perFrame, send: 's', receive: 'r' };
    const all = (b: number, g: number) => Array.from({ length: n * perFrame }, (_, i) => value(b, g, Math.floor(i / perFrame), i % perFrame));
    const cols = createInProcessCollectives(3);
    const outs = await Promise.all(
      cols.map((c, r) => {
        const { start, end } = ranges[r]!;
        const sent = new Float32Array(B * groups * 2);
        for (let b = 0; b < B; b++)
          for (let g = 0; g < groups; g++) {
            const mine = all(b, g).slice(start * perFrame, end * perFrame);
            const mean = mine.reduce((a, x) => a + x, 0) / mine.length;
            sent[(b * groups + g) * 2] = mean;
            sent[(b * groups + g) * 2 + 1] = mine.reduce((a, x) => a + (x - mean) ** 2, 0);
          }
        return new ClipExchange(c, layouts(ranges, n)[r]!, plan, 3).exchange(point, 0, f32(sent, [B, groups, 2]), 0);
      }),
    );
    for (const out of outs) {
      expect(out.dims).toEqual([B, groups, 2]);
      for (let b = 0; b < B; b++)
        for (let g = 0; g < groups; g++) {
          const xs = all(b, g);
          const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
          const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
          expect(out.data[(b * groups + g) * 2]).toBeCloseTo(mean, 6);
          expect(out.data[(b * groups + g) * 2 + 1]).toBeCloseTo(variance, 6);
        }
    }
    expect(outs[0]!.data).toEqual(outs[2]!.data); // identical on every rank
  });
});

describe('halo exchange', () => {
  it("receives the left neighbour's last k and the right neighbour's first k frames, zeros at the video ends", async () => {
    const n = 12;
    const k = 4;
    const C = 3;
    const HW = 2;
    const ranges = [{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8, end: 12 }];
    const point: ExchangePoint = { id: 'tc', kind: 'halo', width: k, channels: C, height: 1, widthPx: HW, send: 's', receive: 'r' };
    const cols = createInProcessCollectives(3);
    const frameOf = (r: number, w: number) => (w < k ? ranges[r]!.start + w : ranges[r]!.end - 2 * k + w); // send: first k then last k
    const outs = await Promise.all(
      cols.map((c, r) => {
        const sent = new Float32Array(B * C * 2 * k * HW);
        for (let b = 0; b < B; b++) for (let ch = 0; ch < C; ch++) for (let w = 0; w < 2 * k; w++) for (let px = 0; px < HW; px++) sent[((b * C + ch) * 2 * k + w) * HW + px] = value(b, ch, frameOf(r, w), px);
        return new ClipExchange(c, layouts(ranges, n)[r]!, plan, 1).exchange(point, 3, f32(sent, [B, C, 2 * k, 1, HW]), 5);
      }),
    );
    outs.forEach((out, r) => {
      const { start, end } = ranges[r]!;
      for (let b = 0; b < B; b++)
        for (let ch = 0; ch < C; ch++)
          for (let w = 0; w < 2 * k; w++)
            for (let px = 0; px < HW; px++) {
              const frame = w < k ? start - k + w : end + (w - k);
              const want = frame < 0 || frame >= n ? 0 : value(b, ch, frame, px);
              expect(out.data[((b * C + ch) * 2 * k + w) * HW + px]).toBeCloseTo(want, 6);
            }
    });
  });
});

describe('attention exchange', () => {
  const tokens = 3;
  const C = 2;
  /** Send tensor [T, n_send, C] of a clip, from the global activation. */
  const sendOf = (L: ClipLayout) => {
    const s = L.sendLocalFrames;
    const d = new Float32Array(tokens * s.length * C);
    for (let t = 0; t < tokens; t++) s.forEach((f, i) => { for (let c = 0; c < C; c++) d[(t * s.length + i) * C + c] = value(0, c, L.range.start + f, t); });
    return f32(d, [tokens, s.length, C]);
  };
  const point: ExchangePoint = { id: 'a.attn1', kind: 'attention', channels: C, tokens, heads: 1, headDim: C, send: 's', receive: 'r' };

  it('assembles [left window | right window | globals] matching contextColumns, on every rank', async () => {
    const n = 17;
    const ranges = [{ start: 0, end: 5 }, { start: 5, end: 12 }, { start: 12, end: 17 }];
    const ls = layouts(ranges, n);
    const cols = createInProcessCollectives(3);
    const outs = await Promise.all(cols.map((c, r) => new ClipExchange(c, ls[r]!, plan, 1).exchange(point, 1, sendOf(ls[r]!), 0)));
    outs.forEach((out, r) => {
      const ctx = ls[r]!.contextColumns;
      expect(out.dims).toEqual([tokens, ctx.length, C]);
      for (let t = 0; t < tokens; t++) ctx.forEach((k, j) => { for (let c = 0; c < C; c++) expect(out.data[(t * ctx.length + j) * C + c]).toBeCloseTo(value(0, c, k.globalFrame, t), 6); });
    });
  });

  it("mode 'isolated' touches no network and uses the clip's own frames as the globals", async () => {
    const L = isolatedLayout(clipLayout({ start: 5, end: 12 }, 17, P, 4));
    const [, c1] = createInProcessCollectives(2);
    const ex = new ClipExchange(c1!, L, plan, 1, 'isolated');
    const out = await ex.exchange(point, 1, sendOf(L), 0);
    expect(out.dims).toEqual([tokens, L.globalFrames.length, C]);
    expect(c1!.stats().bytesSent).toBe(0);
    expect(() => new ClipExchange(c1!, clipLayout({ start: 5, end: 12 }, 17, P, 4), plan, 1, 'isolated')).toThrow(/isolatedLayout/);
  });

  it('rejects a neighbour message of the wrong shape as bad-message', async () => {
    const n = 10;
    const ls = layouts([{ start: 0, end: 5 }, { start: 5, end: 10 }], n);
    const [c0, c1] = createInProcessCollectives(2);
    const mine = new ClipExchange(c0!, ls[0]!, plan, 1).exchange(point, 1, sendOf(ls[0]!), 0);
    // Rank 1 misbehaves: 3 window frames instead of p = 4.
    const tag = { jobId: 1, step: 0, pointId: 1 } as const;
    await Promise.all([
      c1!.exchangeHalo({ ...tag, kind: 'halo' }, { dtype: 'float32', shape: [tokens, 3, C], data: new Float32Array(tokens * 3 * C) }, null),
      c1!.allGather({ ...tag, kind: 'global-gather' }, { dtype: 'float32', shape: [tokens, 0, C], data: new Float32Array(0) }),
    ]);
    await expect(mine).rejects.toMatchObject({ code: 'bad-message', peerRank: 1 });
  });
});
