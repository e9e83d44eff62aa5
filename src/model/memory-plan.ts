// A memory plan per member: from a package's segment plan, what one segmented UNet call on a clip of
// F frames holds at each segment (weights, the largest single buffer, the live intermediates, the
// tensors kept for later segments), and, for a backend's limits (a WebGPU adapter's buffer and
// binding sizes and a device budget, or the wasm32 heap and ArrayBuffer caps), the largest clip that
// fits, or the one limit that rules the model out. Pure arithmetic on the plan: runs in Node
// (scripts/plan-check.ts) and in the browser (the host's member table and partition).
//
// What the plan does not list (the tensors inside a segment) is estimated from what it does list:
// - attention logits: one per Softmax of the segment (`opCounts`), as the attention lowering makes
//   them (`attentionLowering`). A temporal attention's shape comes from its exchange point
//   ([B·H·W tokens, heads, F, F + S_ctx]); a spatial one's level from the GroupNorm stats the segment
//   receives (H·W = countPerFrame · groups / channels) and its heads from the temporal attention at the
//   same H·W (diffusers gives both the same heads); the first spatial Softmax of a pair is the self
//   attention [B·F, heads, H·W, H·W], the second the cross attention [B·F, heads, H·W, L].
// - a GEGLU feed-forward (an Erf in the segment) holds [tokens, 8·C] for its projection.
// - the working set of a segment is twice its largest internal buffer (an op's input and output:
//   the logits and the softmax of them) on top of its inputs, outputs and kept tensors.
import type { PlanTensor, Segment, SegmentPlan } from './segment-plan.js';

export class MemoryPlanError extends Error {
  readonly code = 'bad-memory-plan';
}

/** Bytes per element of the plan's dtypes (activations are float32 today). */
const DTYPE_BYTES: Record<string, number> = { float32: 4, float16: 2, int64: 8 };
const F32 = 4;

/**
 * How the compiled graphs compute attention, as the plan states it. A plan without the field was
 * compiled with the explicit form (MatMul → Softmax → MatMul, one [N, heads, Lq, Lk] logits tensor
 * per attention). A lowering this file does not know is an error here, not a silent underestimate:
 * add its buffer sizes to `attentionBuffer`.
 */
export function attentionLowering(plan: SegmentPlan): string {
  const declared = (plan as { numerics?: { attention?: unknown } }).numerics?.attention;
  return typeof declared === 'string' ? declared : 'explicit';
}

/** One attention's query and key extents; `batch` counts every (image or token, CFG half). */
export interface AttentionShape {
  kind: 'spatial-self' | 'spatial-cross' | 'temporal';
  batch: number;
  heads: number;
  queries: number;
  keys: number;
}

/** The largest buffer one attention needs under the plan's lowering, in bytes. */
export function attentionBuffer(lowering: string, a: AttentionShape): number {
  if (lowering === 'explicit') return a.batch * a.heads * a.queries * a.keys * F32;
  throw new MemoryPlanError(`memory plan: attention lowering '${lowering}' is not modelled (src/model/memory-plan.ts attentionBuffer)`);
}

/** The per-call sizes of a clip that shapes depend on. */
export interface ClipDims {
  /** Clip frames (whole graph: the video's). */
  F: number;
  /** Context rows received at an attention point: at most 2p + topK. */
  S_ctx: number;
  /** Frames sent at an attention point: at most min(F, 2p + topK). */
  n_send: number;
  /** Global frames (whole graph): min(topK, F). */
  G: number;
}

/** The largest context a clip can receive and send with dual-scope window p and topK global frames. */
export function clipDims(frames: number, window: number, topK: number): ClipDims {
  const ctx = 2 * window + topK;
  return { F: frames, S_ctx: ctx, n_send: Math.max(1, Math.min(frames, ctx)), G: Math.min(topK, frames) };
}

/** Evaluates a plan dim: a number, or an expression of + − * ( ) over integers and the ClipDims names. */
export function evalDim(dim: number | string, env: Readonly<Record<string, number>>): number {
  if (typeof dim === 'number') return dim;
  const tokens = dim.match(/\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[-+*()])/g)?.map((t) => t.trim()) ?? [];
  if (tokens.join('') !== dim.replace(/\s+/g, '')) throw new MemoryPlanError(`memory plan: cannot read dim ${JSON.stringify(dim)}`);
  let k = 0;
  const atom = (): number => {
    const t = tokens[k++];
    if (t === undefined) throw new MemoryPlanError(`memory plan: dim ${JSON.stringify(dim)} ends early`);
    if (t === '(') {
      const v = sum();
      if (tokens[k++] !== ')') throw new MemoryPlanError(`memory plan: dim ${JSON.stringify(dim)} misses ')'`);
      return v;
    }
    if (/^\d+$/.test(t)) return Number(t);
    const v = env[t];
    if (v === undefined) throw new MemoryPlanError(`memory plan: dim ${JSON.stringify(dim)} names unknown '${t}'`);
    return v;
  };
  const product = (): number => {
    let v = atom();
    while (tokens[k] === '*') {
      k++;
      v *= atom();
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[k] === '+' || tokens[k] === '-') v = tokens[k++] === '+' ? v + product() : v - product();
    return v;
  };
  const v = sum();
  if (k !== tokens.length) throw new MemoryPlanError(`memory plan: cannot read dim ${JSON.stringify(dim)}`);
  return v;
}

export function tensorBytes(t: PlanTensor, env: Readonly<Record<string, number>>): number {
  const bytes = DTYPE_BYTES[t.dtype];
  if (bytes === undefined) throw new MemoryPlanError(`memory plan: tensor '${t.name}' has unknown dtype ${JSON.stringify(t.dtype)}`);
  return t.shape.reduce<number>((a, d) => a * evalDim(d, env), bytes);
}

/** What one segment holds while it runs, for one clip size. */
export interface SegmentMemory {
  index: number;
  /** Its largest single tensor (input, output or internal), bytes, and what it is. */
  largestBuffer: number;
  largestWhat: string;
  /** Kept outputs of earlier segments still waiting for a later consumer (not inputs of this one). */
  keptBytes: number;
  /** Inputs, call inputs and outputs of this segment. */
  ioBytes: number;
  /** Estimated live bytes at its peak: kept + io + twice its largest internal buffer. */
  peakBytes: number;
}

/** The level facts a segment's attentions are sized from (see the header). */
interface Level {
  tokensPerImage: number;
  heads: number;
  channels: number;
}

/** Internal buffers of one segment: attentions and feed-forward projections, largest first. */
function internalBuffers(plan: SegmentPlan, seg: Segment, dims: ClipDims, lowering: string): { bytes: number; what: string }[] {
  const B = plan.batch;
  const points = new Map(plan.exchangePoints.map((p) => [p.id, p]));
  const attnPoints = plan.exchangePoints.filter((p) => p.kind === 'attention');
  const out: { bytes: number; what: string }[] = [];
  const temporal = seg.inputs.flatMap((i) => {
    const p = i.source.kind === 'exchange' ? points.get(i.source.point) : undefined;
    return p?.kind === 'attention' ? [p] : [];
  });
  for (const p of temporal) {
    const a: AttentionShape = { kind: 'temporal', batch: p.tokens, heads: p.heads, queries: dims.F, keys: dims.F + dims.S_ctx };
    out.push({ bytes: attentionBuffer(lowering, a), what: `temporal attention ${p.id} logits` });
  }
  const spatialCount = (seg.opCounts.Softmax ?? 0) - temporal.length;
  let level: Level | undefined;
  if (spatialCount > 0 || (seg.opCounts.Erf ?? 0) > 0) level = segmentLevel(plan, seg, temporal[0]);
  if (spatialCount > 0) {
    const L = textTokens(plan);
    for (let s = 0; s < spatialCount; s++) {
      const self = s % 2 === 0;
      const a: AttentionShape = { kind: self ? 'spatial-self' : 'spatial-cross', batch: B * dims.F, heads: level!.heads, queries: level!.tokensPerImage, keys: self ? level!.tokensPerImage : L };
      out.push({ bytes: attentionBuffer(lowering, a), what: `spatial ${self ? 'self' : 'cross'}-attention logits (${level!.tokensPerImage} tokens, ${level!.heads} heads)` });
    }
  }
  if ((seg.opCounts.Erf ?? 0) > 0 && level) {
    // GEGLU: the projection to 2 × 4C before the split, over every token of the clip.
    out.push({ bytes: B * dims.F * level.tokensPerImage * 8 * level.channels * F32, what: `feed-forward projection (${8 * level.channels} channels)` });
  }
  if (attnPoints.length === 0 && spatialCount > 0) throw new MemoryPlanError(`memory plan: segment ${seg.index} has attention but the plan has no attention points to size it from`);
  return out.sort((a, b) => b.bytes - a.bytes);
}

/** The tokens per image, heads and channels of the level a segment works at. */
function segmentLevel(plan: SegmentPlan, seg: Segment, temporal: { tokens: number; heads: number; channels: number } | undefined): Level {
  const B = plan.batch;
  const attn = plan.exchangePoints.filter((p) => p.kind === 'attention');
  if (temporal) return { tokensPerImage: temporal.tokens / B, heads: temporal.heads, channels: temporal.channels };
  const points = new Map(plan.exchangePoints.map((p) => [p.id, p]));
  for (const i of seg.inputs) {
    const p = i.source.kind === 'exchange' ? points.get(i.source.point) : undefined;
    if (p?.kind !== 'stats') continue;
    const hw = (p.countPerFrame * p.groups) / p.channels;
    // The temporal attention of the same block has the same H·W and width (transformer_in, at the
    // input, differs in width); failing that, any attention at this H·W, the most heads (upper bound).
    const sameLevel = attn.filter((a) => a.tokens === B * hw);
    const sameBlock = sameLevel.filter((a) => a.channels === p.channels);
    const same = sameBlock.length > 0 ? sameBlock : sameLevel;
    if (same.length > 0) return { tokensPerImage: hw, heads: Math.max(...same.map((a) => a.heads)), channels: p.channels };
  }
  // No stats to place it: size it at the largest level (an upper bound).
  const top = attn.reduce((a, b) => (b.tokens * b.heads > a.tokens * a.heads ? b : a));
  return { tokensPerImage: top.tokens / B, heads: top.heads, channels: Math.max(...attn.map((a) => a.channels)) };
}

function textTokens(plan: SegmentPlan): number {
  const ehs = plan.callInputs.find((c) => c.name === 'encoder_hidden_states');
  const L = ehs?.shape[1];
  if (typeof L !== 'number') throw new MemoryPlanError("memory plan: call input 'encoder_hidden_states' has no fixed text length");
  return L;
}

/** Every segment's memory for one clip, in plan order. */
export function segmentMemory(plan: SegmentPlan, dims: ClipDims): SegmentMemory[] {
  const env = dims as unknown as Record<string, number>;
  const lowering = attentionLowering(plan);
  const callBytes = plan.callInputs.reduce((a, t) => a + tensorBytes(t, env), 0);
  const lastUse = new Map<string, { from: number; until: number; bytes: number }>();
  for (const s of plan.segments) {
    for (const o of s.outputs) if (o.role === 'keep') lastUse.set(o.name, { from: s.index, until: Math.max(...o.consumers), bytes: tensorBytes(o, env) });
  }
  return plan.segments.map((s) => {
    const inputNames = new Set(s.inputs.map((i) => i.name));
    let kept = 0;
    for (const [name, k] of lastUse) if (k.from < s.index && k.until > s.index && !inputNames.has(name)) kept += k.bytes;
    const io = [...s.inputs.filter((i) => i.source.kind !== 'call'), ...s.outputs].map((t) => ({ bytes: tensorBytes(t, env), what: t.name }));
    const ioBytes = callBytes + io.reduce((a, t) => a + t.bytes, 0);
    const internal = internalBuffers(plan, s, dims, lowering);
    const largest = [...internal, ...io].reduce((a, b) => (b.bytes > a.bytes ? b : a), { bytes: 0, what: 'nothing' });
    return { index: s.index, largestBuffer: largest.bytes, largestWhat: largest.what, keptBytes: kept, ioBytes, peakBytes: kept + ioBytes + 2 * (internal[0]?.bytes ?? 0) };
  });
}

/** A backend's memory limits. Absent fields do not bind. */
export interface MemoryLimits {
  name: string;
  backend: 'webgpu' | 'wasm';
  /** Where the numbers come from (a measured adapter, a spec default, a named GPU's report). */
  source: string;
  /** WebGPU: the largest buffer the device may create. */
  maxBufferSize?: number;
  /** WebGPU: the largest storage binding (every kernel input and output is one). */
  maxStorageBufferBindingSize?: number;
  /** WebGPU: memory the device can spend on this tab (weights + activations). */
  deviceBytes?: number;
  /** WASM: the linear memory holding weights and activations (wasm32: 4 GiB). */
  heapBytes?: number;
  /** The largest JS ArrayBuffer (weight shards, tensors read back): Chromium 0x7fe00000. */
  arrayBufferBytes?: number;
}

export const GiB = 2 ** 30;
/** Chromium's largest ArrayBuffer (ORT's large-models guide). */
export const CHROMIUM_MAX_ARRAY_BUFFER = 0x7fe00000;

/** What the model needs regardless of the clip. */
export interface ModelBytes {
  /** Sum of the weight shards (plan.weights) as the package lists them. */
  weightBytes: number;
  /** The largest weight shard (held as one ArrayBuffer while sessions are created). */
  largestShardBytes: number;
}

export type ClipFit =
  | { fits: true; maxFrames: number; capped: boolean; limitedBy: string; at: SegmentMemory[] }
  | { fits: false; limit: string; neededBytes: number; limitBytes: number; reason: string };

const fmt = (b: number) => (b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);
export const formatBytes = fmt;

/** The first limit a clip of `frames` breaks, or null. */
function broken(plan: SegmentPlan, model: ModelBytes, limits: MemoryLimits, dims: ClipDims): { limit: string; needed: number; have: number; what: string } | null {
  const segs = segmentMemory(plan, dims);
  const largest = segs.reduce((a, b) => (b.largestBuffer > a.largestBuffer ? b : a));
  const peak = Math.max(...segs.map((s) => s.peakBytes));
  const checks: [string, number | undefined, number, string][] = [
    ['ArrayBuffer size', limits.arrayBufferBytes, model.largestShardBytes, 'the largest weight shard'],
  ];
  if (limits.backend === 'wasm') {
    checks.push(['wasm32 heap', limits.heapBytes, model.weightBytes, 'the weights']);
    checks.push(['wasm32 heap', limits.heapBytes, model.weightBytes + peak, `the weights + segment ${segs.indexOf(segs.find((s) => s.peakBytes === peak)!)}'s live tensors`]);
    checks.push(['ArrayBuffer size', limits.arrayBufferBytes, largest.largestBuffer, `segment ${largest.index}'s ${largest.largestWhat}`]);
  } else {
    checks.push(['device memory', limits.deviceBytes, model.weightBytes, 'the weights']);
    checks.push(['maxStorageBufferBindingSize', limits.maxStorageBufferBindingSize, largest.largestBuffer, `segment ${largest.index}'s ${largest.largestWhat}`]);
    checks.push(['maxBufferSize', limits.maxBufferSize, largest.largestBuffer, `segment ${largest.index}'s ${largest.largestWhat}`]);
    checks.push(['device memory', limits.deviceBytes, model.weightBytes + peak, 'the weights + the largest segment\'s live tensors']);
  }
  for (const [limit, have, needed, what] of checks) if (have !== undefined && needed > have) return { limit, needed, have, what };
  return null;
}

/**
 * The largest clip (frames per tab) a member with `limits` can run, searched in
 * [minFrames, maxFrames]; or, when even minFrames does not fit, the one limit that stops it and how
 * much it needs. `window` and `topK` are the dual-scope settings (they size the received context).
 */
export function largestClip(
  plan: SegmentPlan, model: ModelBytes, limits: MemoryLimits,
  opts: { minFrames: number; maxFrames?: number; window: number; topK: number },
): ClipFit {
  const cap = opts.maxFrames ?? 4096;
  if (!Number.isSafeInteger(opts.minFrames) || opts.minFrames < 1 || cap < opts.minFrames) {
    throw new MemoryPlanError(`memory plan: frames range [${opts.minFrames}, ${cap}] is not a range of clip sizes`);
  }
  const at = (f: number) => clipDims(f, opts.window, opts.topK);
  const first = broken(plan, model, limits, at(opts.minFrames));
  if (first) {
    const clipFree = first.what === 'the weights' || first.what === 'the largest weight shard';
    return {
      fits: false, limit: first.limit, neededBytes: first.needed, limitBytes: first.have,
      reason: clipFree
        ? `cannot hold the model at all: ${first.what} take ${fmt(first.needed)}, over ${first.limit} ${fmt(first.have)} (${limits.name})`
        : `cannot run the smallest clip (${opts.minFrames} frames): ${first.what} take ${fmt(first.needed)}, over ${first.limit} ${fmt(first.have)} (${limits.name})`,
    };
  }
  // Every size grows with F, so the fitting clips are a prefix: binary search for its end.
  let lo = opts.minFrames;
  let hi = cap + 1;
  let stop: ReturnType<typeof broken> = null;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const b = broken(plan, model, limits, at(mid));
    if (b) {
      hi = mid;
      stop = b;
    } else lo = mid;
  }
  if (hi <= cap && !stop) stop = broken(plan, model, limits, at(hi));
  return {
    fits: true, maxFrames: lo, capped: lo === cap,
    limitedBy: lo === cap ? `searched up to ${cap} frames` : `${stop!.limit} ${fmt(stop!.have)}: at ${lo + 1} frames ${stop!.what} take ${fmt(stop!.needed)}`,
    at: segmentMemory(plan, at(lo)),
  };
}

/** ModelBytes from the package's file sizes (manifest `files`, or sizes read from disk). */
export function modelBytes(plan: SegmentPlan, fileBytes: (path: string) => number | undefined): ModelBytes {
  // Without shards every segment graph carries its own weights: the segment files are the weights.
  const files = plan.weights ? plan.weights.map((w) => w.file) : plan.segments.map((s) => s.file);
  const shards = files.map((file) => {
    const b = fileBytes(file);
    if (b === undefined) throw new MemoryPlanError(`memory plan: weight file '${file}' has no size`);
    return b;
  });
  return { weightBytes: shards.reduce((a, b) => a + b, 0), largestShardBytes: Math.max(0, ...shards) };
}
