// The network budget of one denoising step (one UNet call: CFG is batched): which messages a tab
// sends at every exchange point of a segment plan, and their sum by kind, for our scheme and for
// upstream Video-Infinity's (github:Yuanshi9815/Video-Infinity acfcd17, src/video_infinity/plugins.py).
// Pure arithmetic on the plan's shapes and the clip's place in the room: no onnxruntime, no engine.
//
// Ours (src/engine/clip-exchange.ts): a temporal-conv halo sends the layer input's first / last
// `width` frames to each neighbour; an attention point sends its *input* x, min(p, F) frames to each
// neighbour and the clip's own global frames to every other tab; a statistics point all-gathers
// (count, mean, M2) per (batch, group) as float64 (always, whatever the tensor precision).
// Upstream: the same conv halo (ConvLayerPlugin, 4 frames); at attention it sends K *and* V
// (to_k/to_v outputs, each as wide as x) with p-frame halos, and all-gathers K and V of
// ceil(F / stride) own frames, stride = max(⌊F / ⌊topK / W⌋⌋, 1), at every step (get_topk); no
// statistics (its GroupNorm plugin is not mounted); fp16 (examples/config.json "dtype").
// Payload bytes only: each 64 KiB chunk also carries a 44-byte header (0.07 %).
import type { ExchangePoint, SegmentPlan } from './segment-plan.js';

export type WirePrecision = 'fp32' | 'fp16';
export const WIRE_BYTES: Record<WirePrecision, number> = { fp32: 4, fp16: 2 };
/** Statistics cross as float64 (count, mean, M2) per (batch, group), whatever the tensor precision. */
const STATS_BYTES = 3 * 8;

/** Where a clip sits in the room; the caller derives it from the engine's ClipLayout. */
export interface ClipPlace {
  /** Tabs exchanging with each other (with a CFG split: tabs of the same branch). */
  worldSize: number;
  frames: number;
  hasLeft: boolean;
  hasRight: boolean;
  /** Global frames this clip owns and sends to every other tab (ours: ClipLayout.ownedGlobal). */
  ownedGlobal: number;
}

/** What the job's exchange mode changes in the byte count. `stale` overlaps but sends the same bytes. */
export interface WireOptions {
  precision: WirePrecision;
  /** Fraction of steps that re-gather the global frames (1 = every step; see globalRefreshShare). */
  globalShare: number;
  /** One CFG branch per tab: half the batch in every tensor, plus ε [1, Cout, F, H, W] to the partner. */
  cfgSplit: boolean;
}

export const EXACT_FP32: WireOptions = { precision: 'fp32', globalShare: 1, cfgSplit: false };

/** Kinds of traffic in the budget: the exchange points' three kinds split into what each sends. */
export interface StepBudget {
  convHalo: number; // temporal-conv halos
  attentionHalo: number; // attention window (p frames each side)
  globalGather: number; // attention global frames (averaged over steps when not every step)
  stats: number; // norm statistics
  cfgPartner: number; // ε to the other CFG branch (CFG split only)
  total: number;
}

/** One exchange point's messages from one tab, payload bytes. */
export interface PointMessages {
  pointIndex: number;
  id: string;
  kind: ExchangePoint['kind'];
  /** Halo payload to each neighbour that exists (conv halo or attention window), 0 if none. */
  haloBytes: number;
  /** All-gather payload sent to every other tab (attention globals, or float64 statistics). */
  gatherBytes: number;
}

/** Share of a job's steps that gather the global frames when they are re-gathered every `every`
 *  steps after `globalPhaseSteps` steps that always gather (the global phase, t ≥ T_phase). */
export function globalRefreshShare(steps: number, globalPhaseSteps: number, every: number): number {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`globalRefreshShare: steps must be an integer >= 1, got ${steps}`);
  if (!(Number.isInteger(globalPhaseSteps) && globalPhaseSteps >= 0 && globalPhaseSteps <= steps)) throw new RangeError(`globalRefreshShare: globalPhaseSteps must be an integer in [0, ${steps}], got ${globalPhaseSteps}`);
  if (!(Number.isInteger(every) && every >= 1)) throw new RangeError(`globalRefreshShare: every must be an integer >= 1, got ${every}`);
  return (globalPhaseSteps + Math.ceil((steps - globalPhaseSteps) / every)) / steps;
}

function checkPlace(c: ClipPlace, p: number): void {
  if (!(Number.isInteger(c.worldSize) && c.worldSize >= 1)) throw new RangeError(`clip place: worldSize must be an integer >= 1, got ${c.worldSize}`);
  if (!(Number.isInteger(c.frames) && c.frames >= 1)) throw new RangeError(`clip place: frames must be an integer >= 1, got ${c.frames}`);
  if (!(Number.isInteger(c.ownedGlobal) && c.ownedGlobal >= 0 && c.ownedGlobal <= c.frames)) throw new RangeError(`clip place: ownedGlobal must be an integer in [0, frames], got ${c.ownedGlobal}`);
  if (c.worldSize === 1 && (c.hasLeft || c.hasRight)) throw new RangeError('clip place: a single tab has no neighbours');
  if (!(Number.isInteger(p) && p >= 0)) throw new RangeError(`window p must be an integer >= 0, got ${p}`);
}

/** Our messages, point by point in plan order (the replay in bench:exchange sends exactly these). */
export function ourMessages(plan: SegmentPlan, clip: ClipPlace, p: number, opts: WireOptions = EXACT_FP32): PointMessages[] {
  checkPlace(clip, p);
  if (opts.cfgSplit && plan.batch !== 2) throw new RangeError(`a CFG split needs a plan with batch 2 ([uncond, cond]), this one has ${plan.batch}`);
  const wb = WIRE_BYTES[opts.precision];
  const batch = opts.cfgSplit ? plan.batch / 2 : plan.batch;
  const edge = Math.min(p, clip.frames);
  return plan.exchangePoints.map((pt, pointIndex) => {
    const m: PointMessages = { pointIndex, id: pt.id, kind: pt.kind, haloBytes: 0, gatherBytes: 0 };
    if (pt.kind === 'stats') m.gatherBytes = batch * pt.groups * STATS_BYTES;
    else if (pt.kind === 'halo') m.haloBytes = batch * pt.channels * pt.width * pt.height * pt.widthPx * wb;
    else {
      const tokens = (pt.tokens / plan.batch) * batch; // tokens = B·H·W
      m.haloBytes = tokens * edge * pt.channels * wb;
      m.gatherBytes = tokens * clip.ownedGlobal * pt.channels * wb;
    }
    return m;
  });
}

function emptyBudget(): StepBudget {
  return { convHalo: 0, attentionHalo: 0, globalGather: 0, stats: 0, cfgPartner: 0, total: 0 };
}

function finish(b: StepBudget): StepBudget {
  b.total = b.convHalo + b.attentionHalo + b.globalGather + b.stats + b.cfgPartner;
  return b;
}

/** Bytes one tab sends per step with our scheme, by kind. */
export function ourStepBudget(plan: SegmentPlan, clip: ClipPlace, p: number, opts: WireOptions = EXACT_FP32): StepBudget {
  if (!(opts.globalShare >= 0 && opts.globalShare <= 1)) throw new RangeError(`globalShare must be in [0, 1], got ${opts.globalShare}`);
  const neighbours = (clip.hasLeft ? 1 : 0) + (clip.hasRight ? 1 : 0);
  const others = clip.worldSize - 1;
  const b = emptyBudget();
  for (const m of ourMessages(plan, clip, p, opts)) {
    if (m.kind === 'halo') b.convHalo += neighbours * m.haloBytes;
    else if (m.kind === 'stats') b.stats += others * m.gatherBytes;
    else {
      b.attentionHalo += neighbours * m.haloBytes;
      b.globalGather += others * m.gatherBytes * opts.globalShare;
    }
  }
  if (opts.cfgSplit) b.cfgPartner = cfgPartnerBytes(plan, clip.frames, opts.precision);
  return finish(b);
}

/** CFG split: ε [1, C, F, H, W] of my branch to the partner tab of my clip, once per step (payload bytes). */
export function cfgPartnerBytes(plan: SegmentPlan, frames: number, precision: WirePrecision): number {
  return plan.latent.channels * frames * plan.latent.height * plan.latent.width * WIRE_BYTES[precision];
}

/** Upstream's parameters: the attention window p, top-K global frames and the tensor precision. */
export interface UpstreamParams {
  p: number;
  topK: number;
  precision: WirePrecision;
}

/** As published: examples/config.json (padding 8, top_k 16, torch.float16). */
export const UPSTREAM_PUBLISHED: UpstreamParams = { p: 8, topK: 16, precision: 'fp16' };

/** Own frames upstream's get_topk sends to every other rank: arange(0, F, stride). */
export function upstreamOwnGlobal(frames: number, worldSize: number, topK: number): number {
  const share = Math.floor(topK / worldSize);
  if (share === 0) return 1; // stride 1000000: arange(0, F, 1000000) = [0]
  const stride = Math.max(Math.floor(frames / share), 1);
  return Math.ceil(frames / stride);
}

/** Bytes one tab would send per step with upstream's scheme on this plan's shapes. Upstream runs
 *  its all-gather on every rank and every step, so a clip's place needs only W, F and neighbours. */
export function upstreamStepBudget(plan: SegmentPlan, clip: Omit<ClipPlace, 'ownedGlobal'>, up: UpstreamParams): StepBudget {
  checkPlace({ ...clip, ownedGlobal: 0 }, up.p);
  const wb = WIRE_BYTES[up.precision];
  const neighbours = (clip.hasLeft ? 1 : 0) + (clip.hasRight ? 1 : 0);
  const others = clip.worldSize - 1;
  const edge = Math.min(up.p, clip.frames);
  const own = upstreamOwnGlobal(clip.frames, clip.worldSize, up.topK);
  const b = emptyBudget();
  for (const pt of plan.exchangePoints) {
    if (pt.kind === 'halo') b.convHalo += neighbours * plan.batch * pt.channels * pt.width * pt.height * pt.widthPx * wb;
    else if (pt.kind === 'attention') {
      const kv = 2 * pt.tokens * pt.channels * wb; // K and V of one frame
      b.attentionHalo += neighbours * edge * kv;
      b.globalGather += others * own * kv;
    }
  }
  return finish(b);
}
