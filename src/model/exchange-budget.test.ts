import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipExchange } from '../engine/clip-exchange.js';
import { UPSTREAM_DUAL_SCOPE, type DualScopeParams } from '../engine/dual-scope.js';
import { partitionFrames } from '../engine/partition.js';
import { clipLayout, type ClipLayout } from '../engine/unet-call-inputs.js';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import {
  EXACT_FP32, globalRefreshShare, ourMessages, ourStepBudget, UPSTREAM_PUBLISHED, upstreamOwnGlobal, upstreamStepBudget, type ClipPlace,
} from './exchange-budget.js';
import type { ExchangePoint, SegmentPlan } from './segment-plan.js';

const plan = JSON.parse(readFileSync(new URL('../../public/models/vi-shapes-tiny/onnx/segment-plan.json', import.meta.url), 'utf8')) as SegmentPlan;
const SCOPE: DualScopeParams = { ...UPSTREAM_DUAL_SCOPE, window: 4, topK: 8 };

const placeOf = (l: ClipLayout, worldSize: number): ClipPlace => ({
  worldSize, frames: l.frames, hasLeft: l.range.start > 0, hasRight: l.range.end < l.totalFrames, ownedGlobal: l.ownedGlobal.localFrames.length,
});

function sendShape(p: ExchangePoint, l: ClipLayout): number[] {
  if (p.kind === 'stats') return [plan.batch, p.groups, 2];
  if (p.kind === 'halo') return [plan.batch, p.channels, 2 * p.width, p.height, p.widthPx];
  return [p.tokens, l.sendLocalFrames.length, p.channels];
}

/** Every exchange point of one step through the engine's real ClipExchange on in-process ranks: bytes each rank really sent. */
async function measuredBytes(ranges: readonly { start: number; end: number }[], total: number): Promise<number[]> {
  const cols = createInProcessCollectives(ranges.length);
  const layouts = ranges.map((r) => clipLayout(r, total, SCOPE, plan.tconvHalo));
  await Promise.all(cols.map(async (c, rank) => {
    const ex = new ClipExchange(c, layouts[rank]!, plan, 7);
    for (const [i, p] of plan.exchangePoints.entries()) {
      const dims = sendShape(p, layouts[rank]!);
      const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(p.kind === 'stats' ? 1 : 0);
      await ex.exchange(p, i, { dtype: 'float32', dims, data }, 0);
    }
  }));
  return cols.map((c) => c.stats().bytesSent);
}

describe('exchange budget', () => {
  for (const W of [2, 3, 4]) {
    it(`ours, fp32 exact: equals what every rank of a W = ${W} room really sends through ClipExchange`, async () => {
      const total = 12 * W + 1; // uneven: one clip one frame longer
      const ranges = partitionFrames(total, W, plan.tconvHalo).ranges;
      const seen = await measuredBytes(ranges, total);
      const predicted = ranges.map((r) => ourStepBudget(plan, placeOf(clipLayout(r, total, SCOPE, plan.tconvHalo), W), SCOPE.window).total);
      expect(predicted).toEqual(seen);
      // Negative control: upstream's count (K and V, no statistics) on the same room is not what we send.
      const up = ranges.map((r) => upstreamStepBudget(plan, { worldSize: W, frames: r.end - r.start, hasLeft: r.start > 0, hasRight: r.end < total }, { p: SCOPE.window, topK: SCOPE.topK, precision: 'fp32' }).total);
      expect(up).not.toEqual(seen);
    });
  }

  it('fp16 halves the tensors but not the float64 statistics; fewer global refreshes scale only the gather', () => {
    const place: ClipPlace = { worldSize: 4, frames: 16, hasLeft: true, hasRight: true, ownedGlobal: 2 };
    const a = ourStepBudget(plan, place, 4);
    const h = ourStepBudget(plan, place, 4, { ...EXACT_FP32, precision: 'fp16' });
    expect(h.convHalo).toBe(a.convHalo / 2);
    expect(h.attentionHalo).toBe(a.attentionHalo / 2);
    expect(h.globalGather).toBe(a.globalGather / 2);
    expect(h.stats).toBe(a.stats);
    expect(a.stats).toBeGreaterThan(0);
    const k = ourStepBudget(plan, place, 4, { ...EXACT_FP32, globalShare: 0.25 });
    expect(k.globalGather).toBe(a.globalGather / 4);
    expect(k.total - k.globalGather).toBe(a.total - a.globalGather);
  });

  it('a CFG split halves the batch of every exchange and adds one ε to the partner', () => {
    const place: ClipPlace = { worldSize: 2, frames: 16, hasLeft: true, hasRight: false, ownedGlobal: 4 };
    const a = ourStepBudget(plan, place, 4);
    const s = ourStepBudget(plan, place, 4, { ...EXACT_FP32, cfgSplit: true });
    expect(s.convHalo).toBe(a.convHalo / 2);
    expect(s.attentionHalo).toBe(a.attentionHalo / 2);
    expect(s.stats).toBe(a.stats / 2);
    expect(s.cfgPartner).toBe(plan.latent.channels * 16 * plan.latent.height * plan.latent.width * 4);
  });

  it('global refresh share counts the global phase in full', () => {
    expect(globalRefreshShare(30, 6, 1)).toBe(1);
    expect(globalRefreshShare(30, 6, 4)).toBe((6 + 6) / 30);
    expect(globalRefreshShare(30, 30, 8)).toBe(1);
    expect(() => globalRefreshShare(30, 31, 2)).toThrow(/globalPhaseSteps/);
    expect(() => globalRefreshShare(30, 6, 0)).toThrow(/every/);
  });

  it("upstream's own global frames follow get_topk (stride = F / (topK / W), truncation after the gather)", () => {
    expect(upstreamOwnGlobal(24, 2, 16)).toBe(8); // stride 3
    expect(upstreamOwnGlobal(24, 3, 16)).toBe(6); // share 5, stride 4: 0,4,..,20
    expect(upstreamOwnGlobal(24, 4, 16)).toBe(4);
    expect(upstreamOwnGlobal(288, 8, 16)).toBe(2);
    expect(upstreamOwnGlobal(24, 32, 16)).toBe(1); // share 0: index 0 only
  });

  it('upstream sends K and V: at equal p, topK and precision its attention window is twice ours', () => {
    const place: ClipPlace = { worldSize: 4, frames: 16, hasLeft: true, hasRight: true, ownedGlobal: 2 };
    const ours = ourStepBudget(plan, place, 4);
    const up = upstreamStepBudget(plan, place, { p: 4, topK: 8, precision: 'fp32' });
    expect(up.attentionHalo).toBe(2 * ours.attentionHalo);
    expect(up.convHalo).toBe(ours.convHalo);
    expect(up.stats).toBe(0);
    const pub = upstreamStepBudget(plan, place, UPSTREAM_PUBLISHED); // p 8, fp16
    expect(pub.attentionHalo).toBe(up.attentionHalo); // twice the frames, half the bytes each
  });

  it('messages are listed in plan order and reject a bad place', () => {
    const m = ourMessages(plan, { worldSize: 2, frames: 16, hasLeft: true, hasRight: false, ownedGlobal: 4 }, 4);
    expect(m.map((x) => x.id)).toEqual(plan.exchangePoints.map((p) => p.id));
    expect(() => ourMessages(plan, { worldSize: 1, frames: 16, hasLeft: true, hasRight: false, ownedGlobal: 0 }, 4)).toThrow(/single tab/);
    expect(() => ourMessages(plan, { worldSize: 2, frames: 16, hasLeft: true, hasRight: false, ownedGlobal: 17 }, 4)).toThrow(/ownedGlobal/);
  });
});
