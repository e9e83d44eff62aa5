/**
 * Per-call inputs of the UNet (src/model/segment-plan.ts `CallInputName`) and the clip layout they
 * are derived from: which frames a clip sends at an attention point, the order of the context rows
 * it receives, the dual-scope logit bias in the column order the compiled graphs expect, and the
 * temporal-conv window mask. Pure index maths over dual-scope.ts; no ORT, no network.
 *
 * Column order (segment plan, `attn_bias`), for a clip [start, end) of an N-frame video:
 *   segmented: [ own frames start..end−1 | left window start−l..start−1 | right window end..end+r−1 | global g_0..g_{G−1} ]
 *              l = min(p, start), r = min(p, N − end) (frames outside the video do not exist)
 *   whole:     [ all frames 0..N−1 | global g_0..g_{G−1} ]
 * dual-scope.ts `attentionBias` orders the local keys by frame instead; the values per key are the
 * same (the reference semantics: local key j masked unless |i − j| ≤ p; phase bias +b on global
 * keys when t ≥ T_phase, else on local keys).
 */

import type { SegmentPlan } from '../model/segment-plan.js';
import { globalFrameIndices, isGlobalPhase, localKeyWindow, MASKED_BIAS, ownedGlobalFrames, validateDualScopeParams, type DualScopeParams } from './dual-scope.js';
import { check, DualScopeError, EngineError, isPositiveInteger } from './errors.js';
import type { FrameRange } from './partition.js';
import { floatTensor, int64Tensor, type HostTensor } from './session-runner.js';

/** One key column: the video frame it comes from and whether it is a local-window or a global key. */
export interface KeyColumn {
  readonly globalFrame: number;
  readonly scope: 'local' | 'global';
}

/** Everything about a clip's place in the video that the exchanges and call inputs need. */
export interface ClipLayout {
  readonly range: FrameRange;
  readonly totalFrames: number;
  /** F = end − start. */
  readonly frames: number;
  readonly params: DualScopeParams;
  /** Halo width of the temporal conv chains (plan.tconvHalo). */
  readonly tconvHalo: number;
  /** The video's global frames g_0..g_{G−1}. */
  readonly globalFrames: readonly number[];
  /** The global frames this clip owns: positions in the global list and clip-local indices. */
  readonly ownedGlobal: { readonly positions: FrameRange; readonly localFrames: readonly number[] };
  /** Left/right attention window frames received from the neighbours (0 at the video ends). */
  readonly leftWindow: number;
  readonly rightWindow: number;
  /** attn_send_indices: clip-local frames sent at every attention point, ascending, distinct. */
  readonly sendLocalFrames: readonly number[];
  /** Context rows received at an attention point: left window, right window, global frames. */
  readonly contextColumns: readonly KeyColumn[];
}

/** Builds a clip's layout. Every clip of a multi-rank job must have at least max(p, tconvHalo) frames. */
export function clipLayout(range: FrameRange, totalFrames: number, params: DualScopeParams, tconvHalo: number): ClipLayout {
  const where = 'clipLayout';
  validateDualScopeParams(params);
  check(isPositiveInteger(totalFrames), DualScopeError, where, 'totalFrames', totalFrames, 'an integer >= 1');
  check(
    Number.isSafeInteger(range?.start) && Number.isSafeInteger(range.end) && 0 <= range.start && range.start < range.end && range.end <= totalFrames,
    DualScopeError, where, 'range', range && [range.start, range.end], `a non-empty [start, end) inside [0, ${totalFrames})`,
  );
  const frames = range.end - range.start;
  const p = params.window;
  const whole = range.start === 0 && range.end === totalFrames;
  if (!whole) {
    const need = Math.max(p, tconvHalo);
    check(frames >= need, DualScopeError, where, 'range', [range.start, range.end], `at least max(p, tconvHalo) = ${need} frames long (halos come from direct neighbours only)`);
  }
  const globalFrames = globalFrameIndices(totalFrames, params.topK);
  const ownedGlobal = ownedGlobalFrames(globalFrames, range);
  const { left, right } = localKeyWindow(range, totalFrames, p);
  // What the neighbours need from me: my first min(p, F) frames (left neighbour's right window), my last
  // min(p, F) frames (right neighbour's left window), and my global frames. Ascending and distinct.
  const send = new Set<number>();
  if (range.start > 0) for (let f = 0; f < Math.min(p, frames); f++) send.add(f);
  if (range.end < totalFrames) for (let f = Math.max(0, frames - p); f < frames; f++) send.add(f);
  for (const f of ownedGlobal.localFrames) send.add(f);
  if (send.size === 0) send.add(0); // n_send ≥ 1 (the graph's Gather needs an index; nothing is sent)
  const sendLocalFrames = [...send].sort((a, b) => a - b);
  const contextColumns: KeyColumn[] = [];
  for (let j = range.start - left; j < range.start; j++) contextColumns.push({ globalFrame: j, scope: 'local' });
  for (let j = range.end; j < range.end + right; j++) contextColumns.push({ globalFrame: j, scope: 'local' });
  for (const g of globalFrames) contextColumns.push({ globalFrame: g, scope: 'global' });
  return Object.freeze({
    range, totalFrames, frames, params, tconvHalo, globalFrames, ownedGlobal,
    leftWindow: left, rightWindow: right, sendLocalFrames, contextColumns,
  });
}

/** The same clip as an independent video of F frames (exchange mode 'isolated', the seam ablation). */
export function isolatedLayout(layout: ClipLayout): ClipLayout {
  return clipLayout({ start: 0, end: layout.frames }, layout.frames, layout.params, layout.tconvHalo);
}

/**
 * Logit bias [F, K] for query frames `range` and key columns `keys` (any order), timestep t.
 * Local key j: MASKED_BIAS if |i − j| > p, else (t < T_phase ? b : 0). Global key: t ≥ T_phase ? b : 0.
 */
export function attentionBiasForKeys(range: FrameRange, keys: readonly KeyColumn[], params: DualScopeParams, timestep: number): Float32Array {
  check(Number.isFinite(timestep), DualScopeError, 'attentionBiasForKeys', 'timestep', timestep, 'a finite number');
  const global = isGlobalPhase(timestep, params);
  const localBias = global ? 0 : params.phaseBias;
  const globalBias = global ? params.phaseBias : 0;
  const f = range.end - range.start;
  const s = keys.length;
  const bias = new Float32Array(f * s); // [F, K]
  for (let i = 0; i < f; i++) {
    const q = range.start + i;
    for (let c = 0; c < s; c++) {
      const k = keys[c]!;
      bias[i * s + c] = k.scope === 'global' ? globalBias : Math.abs(q - k.globalFrame) <= params.window ? localBias : MASKED_BIAS;
    }
  }
  return bias;
}

/** Key columns of the segmented graphs: own frames, then the context rows. */
export function segmentedKeyColumns(layout: ClipLayout): KeyColumn[] {
  const own: KeyColumn[] = [];
  for (let j = layout.range.start; j < layout.range.end; j++) own.push({ globalFrame: j, scope: 'local' });
  return [...own, ...layout.contextColumns];
}

/** Key columns of the whole-video graph: every frame, then the global frames. */
export function wholeKeyColumns(totalFrames: number, globalFrames: readonly number[]): KeyColumn[] {
  const out: KeyColumn[] = [];
  for (let j = 0; j < totalFrames; j++) out.push({ globalFrame: j, scope: 'local' });
  for (const g of globalFrames) out.push({ globalFrame: g, scope: 'global' });
  return out;
}

/** tconv_window_mask [F + 2·halo]: 1 where window frame (clip-local −halo .. F+halo−1) is inside the video. */
export function tconvWindowMask(layout: ClipLayout): Float32Array {
  const k = layout.tconvHalo;
  const mask = new Float32Array(layout.frames + 2 * k);
  for (let w = 0; w < mask.length; w++) {
    const g = layout.range.start - k + w;
    mask[w] = g >= 0 && g < layout.totalFrames ? 1 : 0;
  }
  return mask;
}

/** What changes from call to call: the CFG-doubled sample, the timestep, the text conditioning. */
export interface CallValues {
  /** [B, Cin, F, H, W], B = 2 ([uncond, cond]). */
  readonly sample: Float32Array;
  readonly timestep: number;
  /** fps condition (used when the plan has an `fps` input). */
  readonly fps: number;
  /** [B·F, L, D], row b·F + f. */
  readonly encoderHiddenStates: Float32Array;
}

function baseInputs(plan: SegmentPlan, frames: number, v: CallValues): Record<string, HostTensor> {
  const { channels: c, height: h, width: w } = plan.latent;
  const b = plan.batch;
  check(v.sample.length === b * c * frames * h * w, EngineError, 'unetCallInputs', 'sample.length', v.sample.length, `${b}·${c}·${frames}·${h}·${w} ([B, C, F, H, W])`, 'shape-mismatch');
  check(v.encoderHiddenStates.length % (b * frames) === 0, EngineError, 'unetCallInputs', 'encoderHiddenStates.length', v.encoderHiddenStates.length, `a multiple of B·F = ${b * frames}`, 'shape-mismatch');
  const rowSize = v.encoderHiddenStates.length / (b * frames);
  const ehsShape = plan.callInputs.find((t) => t.name === 'encoder_hidden_states')?.shape ?? [];
  const tokens = typeof ehsShape[1] === 'number' ? ehsShape[1] : 1;
  return {
    sample: floatTensor(v.sample, [b, c, frames, h, w]),
    timestep: floatTensor(Float32Array.of(v.timestep), [1]),
    fps: floatTensor(Float32Array.of(v.fps), [1]),
    encoder_hidden_states: floatTensor(v.encoderHiddenStates, [b * frames, tokens, rowSize / tokens]),
  };
}

/** All call inputs of a segmented UNet call on the clip of `layout` (only those the plan lists). */
export function segmentedCallInputs(plan: SegmentPlan, layout: ClipLayout, v: CallValues): Record<string, HostTensor> {
  const keys = segmentedKeyColumns(layout);
  const all: Record<string, HostTensor> = {
    ...baseInputs(plan, layout.frames, v),
    attn_bias: floatTensor(attentionBiasForKeys(layout.range, keys, layout.params, v.timestep), [layout.frames, keys.length]),
    attn_send_indices: int64Tensor(layout.sendLocalFrames),
    tconv_window_mask: floatTensor(tconvWindowMask(layout), [layout.frames + 2 * layout.tconvHalo]),
  };
  return pick(all, plan.callInputs.map((t) => t.name), 'segmented');
}

/** All inputs of the whole-video graph (plan.whole) for an N-frame video. */
export function wholeCallInputs(plan: SegmentPlan, totalFrames: number, params: DualScopeParams, v: CallValues): Record<string, HostTensor> {
  const globalFrames = globalFrameIndices(totalFrames, params.topK);
  const keys = wholeKeyColumns(totalFrames, globalFrames);
  const all: Record<string, HostTensor> = {
    ...baseInputs(plan, totalFrames, v),
    attn_bias: floatTensor(attentionBiasForKeys({ start: 0, end: totalFrames }, keys, params, v.timestep), [totalFrames, keys.length]),
    global_frame_indices: int64Tensor(globalFrames),
  };
  return pick(all, plan.whole.inputs.map((t) => t.name), 'whole');
}

function pick(all: Record<string, HostTensor>, names: readonly string[], which: string): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const n of names) {
    const t = all[n];
    if (!t) throw new EngineError('invalid-argument', `unetCallInputs: the ${which} plan asks for call input '${n}', which this engine does not know`);
    out[n] = t;
  }
  return out;
}
