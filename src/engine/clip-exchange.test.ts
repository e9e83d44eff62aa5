import { describe, expect, it } from 'vitest';
import type { ExchangePoint, SegmentPlan } from '../model/segment-plan.js';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import { ClipExchange } from './clip-exchange.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { float32ToHalf, halfToFloat32 } from '../model/float16.js';
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

describe('exchange modes', () => {
  const n = 12;
  const k = 4;
  const C = 2;
  const HW = 2;
  const ranges = [{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8, end: 12 }];
  const haloPoint: ExchangePoint = { id: 'tc', kind: 'halo', width: k, channels: C, height: 1, widthPx: HW, send: 's', receive: 'r' };
  /** Step `step`'s activation: every step different. */
  const at = (step: number) => (b: number, c: number, frame: number, px: number) => value(b, c, frame + 50 * step, px) * 1000; // × 1000: fp16 rounding shows
  const frameOf = (r: number, w: number) => (w < k ? ranges[r]!.start + w : ranges[r]!.end - 2 * k + w);
  const haloSend = (r: number, step: number) => {
    const sent = new Float32Array(B * C * 2 * k * HW);
    for (let b = 0; b < B; b++) for (let ch = 0; ch < C; ch++) for (let w = 0; w < 2 * k; w++) for (let px = 0; px < HW; px++) sent[((b * C + ch) * 2 * k + w) * HW + px] = at(step)(b, ch, frameOf(r, w), px);
    return f32(sent, [B, C, 2 * k, 1, HW]);
  };
  /** What rank r must receive at halo slot w if the neighbours' data is from step `from`. */
  const haloWant = (r: number, w: number, b: number, ch: number, px: number, from: number) => {
    const frame = w < k ? ranges[r]!.start - k + w : ranges[r]!.end + (w - k);
    return frame < 0 || frame >= n ? 0 : at(from)(b, ch, frame, px);
  };
  const schedule = (steps: number) => ({ timesteps: Array.from({ length: steps }, (_, i) => 900 - 200 * i), phaseTimestep: 800 });
  /** Runs `steps` halo exchanges on all ranks, one step after another; returns outs[step][rank] and bytes sent per step. */
  async function haloSteps(make: (c: ReturnType<typeof createInProcessCollectives>[number], r: number) => ClipExchange, steps: number) {
    const cols = createInProcessCollectives(3);
    const ex = cols.map(make);
    const outs: HostTensor[][] = [];
    const bytes: number[] = [];
    for (let s = 0; s < steps; s++) {
      const before = cols.reduce((a, c) => a + c.stats().bytesSent, 0);
      outs.push(await Promise.all(ex.map((e, r) => e.exchange(haloPoint, 0, haloSend(r, s), s))));
      bytes.push(cols.reduce((a, c) => a + c.stats().bytesSent, 0) - before);
    }
    return { outs, bytes };
  }
  const eachHaloValue = (fn: (r: number, w: number, b: number, ch: number, px: number, i: number) => void) => {
    for (let r = 0; r < 3; r++) for (let b = 0; b < B; b++) for (let ch = 0; ch < C; ch++) for (let w = 0; w < 2 * k; w++) for (let px = 0; px < HW; px++) fn(r, w, b, ch, px, ((b * C + ch) * 2 * k + w) * HW + px);
  };

  it("'exact-fp16' sends halves (half the bytes) and receives the float16-rounded values", async () => {
    const exact = await haloSteps((c, r) => new ClipExchange(c, layouts(ranges, n)[r]!, plan, 1), 1);
    const fp16 = await haloSteps((c, r) => new ClipExchange(c, layouts(ranges, n)[r]!, plan, 1, 'exact-fp16'), 1);
    expect(fp16.bytes[0]! * 2).toBeLessThan(exact.bytes[0]! * 1.05); // headers aside, half
    let maxErr = 0;
    eachHaloValue((r, w, b, ch, px, i) => {
      const want = haloWant(r, w, b, ch, px, 0);
      const got = fp16.outs[0]![r]!.data[i] as number;
      expect(got).toBe(halfToFloat32(float32ToHalf(new Float32Array([want])))[0]);
      maxErr = Math.max(maxErr, Math.abs(got - want));
    });
    expect(maxErr).toBeGreaterThan(0); // the rounding is real (else this test shows nothing)
  });

  it('a wire tensor of the wrong dtype is refused as bad-message, both ways', async () => {
    const ls = layouts(ranges.slice(0, 2).map((r) => r), 8);
    for (const [mode, wrong] of [['exact-fp16', 'float32'], ['exact', 'float16']] as const) {
      const [c0, c1] = createInProcessCollectives(2);
      const mine = new ClipExchange(c0!, ls[0]!, plan, 1, mode).exchange(haloPoint, 0, haloSend(0, 0), 0);
      const shape = [B, C, k, 1, HW];
      const data = wrong === 'float32' ? new Float32Array(B * C * k * HW) : new Uint16Array(B * C * k * HW);
      await c1!.exchangeHalo({ jobId: 1, step: 0, pointId: 0, kind: 'halo' }, { dtype: wrong, shape, data } as never, null);
      await expect(mine).rejects.toMatchObject({ code: 'bad-message', peerRank: 1, message: expect.stringContaining(`sent ${wrong}`) });
    }
  });

  it("'stale' uses the previous step's halo after the warm-up, skips the last step's send, and equals exact with warm-up ≥ steps", async () => {
    const steps = 4;
    const stale = await haloSteps((c, r) => new ClipExchange(c, layouts(ranges, n)[r]!, plan, 1, 'stale', { warmupSteps: 1 }, schedule(steps)), steps);
    const exact = await haloSteps((c, r) => new ClipExchange(c, layouts(ranges, n)[r]!, plan, 1), steps);
    for (let s = 0; s < steps; s++) eachHaloValue((r, w, b, ch, px, i) => {
      expect(stale.outs[s]![r]!.data[i]).toBe(Math.fround(haloWant(r, w, b, ch, px, s < 1 ? s : s - 1)));
      expect(exact.outs[s]![r]!.data[i]).toBe(Math.fround(haloWant(r, w, b, ch, px, s)));
    });
    expect(stale.outs[2]![1]!.data).not.toEqual(exact.outs[2]![1]!.data); // negative control: stale is not exact
    expect(stale.bytes.slice(0, 3)).toEqual(exact.bytes.slice(0, 3));
    expect(stale.bytes[3]).toBe(0); // nobody would use the last step's context
    const long = await haloSteps((c, r) => new ClipExchange(c, layouts(ranges, n)[r]!, plan, 1, 'stale', { warmupSteps: steps }, schedule(steps)), steps);
    for (let s = 0; s < steps; s++) for (let r = 0; r < 3; r++) expect(long.outs[s]![r]!.data).toEqual(exact.outs[s]![r]!.data);
  });

  it("'stale' statistics: mine current, the others' from the previous step (or all current with staleStats false)", async () => {
    const groups = 1;
    const point: ExchangePoint = { id: 'x.norm', kind: 'stats', groups, channels: 2, countPerFrame: 1, send: 's', receive: 'r' };
    const meanOf = (r: number, s: number) => 10 * s + r; // rank r's mean at step s; M2 = 0
    const run = async (staleStats: boolean) => {
      const cols = createInProcessCollectives(3);
      const ex = cols.map((c, r) => new ClipExchange(c, layouts(ranges, n)[r]!, plan, 1, 'stale', { warmupSteps: 1, staleStats }, schedule(3)));
      const outs: HostTensor[][] = [];
      for (let s = 0; s < 3; s++) outs.push(await Promise.all(ex.map((e, r) => e.exchange(point, 2, f32(new Float32Array(B * 2).fill(0).map((_, i) => (i % 2 ? 0 : meanOf(r, s))), [B, groups, 2]), s))));
      return outs;
    };
    const stale = await run(true);
    const exact = await run(false);
    // equal counts: the mean is the plain average of the three
    expect(stale[2]![0]!.data[0]).toBeCloseTo((meanOf(0, 2) + meanOf(1, 1) + meanOf(2, 1)) / 3, 5);
    expect(stale[2]![2]!.data[0]).toBeCloseTo((meanOf(0, 1) + meanOf(1, 1) + meanOf(2, 2)) / 3, 5);
    expect(stale[0]![1]!.data[0]).toBeCloseTo((meanOf(0, 0) + meanOf(1, 0) + meanOf(2, 0)) / 3, 5); // warm-up: exact
    for (let s = 0; s < 3; s++) expect(exact[s]![1]!.data[0]).toBeCloseTo((meanOf(0, s) + meanOf(1, s) + meanOf(2, s)) / 3, 5);
  });

  it("'sparse-global' re-gathers other ranks' global frames every k local-phase steps; windows and my own globals stay current", async () => {
    const nA = 17;
    const rangesA = [{ start: 0, end: 5 }, { start: 5, end: 12 }, { start: 12, end: 17 }];
    const ls = layouts(rangesA, nA);
    const tokens = 2;
    const point: ExchangePoint = { id: 'a.attn1', kind: 'attention', channels: C, tokens, heads: 1, headDim: C, send: 's', receive: 'r' };
    const sendOf = (L: ClipLayout, s: number) => {
      const f = L.sendLocalFrames;
      const d = new Float32Array(tokens * f.length * C);
      for (let t = 0; t < tokens; t++) f.forEach((fr, i) => { for (let c = 0; c < C; c++) d[(t * f.length + i) * C + c] = at(s)(0, c, L.range.start + fr, t); });
      return f32(d, [tokens, f.length, C]);
    };
    const steps = 5; // timesteps 900, 700, 500, 300, 100; T_phase 800 → local phase from step 1; every 2 → gathers at 0, 1, 3
    const cols = createInProcessCollectives(3);
    const ex = cols.map((c, r) => new ClipExchange(c, ls[r]!, plan, 1, 'sparse-global', { globalEvery: 2 }, schedule(steps)));
    const lastGather = [0, 1, 1, 3, 3];
    const gathers: number[] = [];
    for (let s = 0; s < steps; s++) {
      const before = cols[1]!.stats().bytesSent;
      const outs = await Promise.all(ex.map((e, r) => e.exchange(point, 1, sendOf(ls[r]!, s), s)));
      gathers.push(cols[1]!.stats().bytesSent - before);
      outs.forEach((out, r) => {
        const ctx = ls[r]!.contextColumns;
        for (let t = 0; t < tokens; t++) ctx.forEach((col, j) => {
          const owner = rangesA.findIndex((q) => col.globalFrame >= q.start && col.globalFrame < q.end);
          const from = col.scope === 'global' && owner !== r ? lastGather[s]! : s;
          for (let c = 0; c < C; c++) expect(out.data[(t * ctx.length + j) * C + c]).toBe(Math.fround(at(from)(0, c, col.globalFrame, t)));
        });
      });
    }
    expect(gathers[2]).toBeLessThan(gathers[1]!); // no gather at step 2
    expect(gathers[4]).toBe(gathers[2]);
    expect(gathers[3]).toBe(gathers[1]);
  });
});
