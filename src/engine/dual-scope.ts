/**
 * Dual-scope temporal attention, the parts that are pure index maths (Video-Infinity §3.2–3.3,
 * docs/model-architecture.md §3, the same for every partition): the global frame set, which global
 * frames a clip owns, a clip's key list and its [F, S] logit bias with the phase rule. Twin of
 * training/dual_scope.py. Imports only `errors.ts` and the `FrameRange` type.
 *
 * Key list of a clip [start, end) (S = L + G columns):
 *   [ local frames keyStart .. keyEnd−1 | global frames g_0 .. g_{G−1} ]
 *   keyStart = start − left, keyEnd = end + right, left = min(p, start), right = min(p, N − end)
 * (frames outside the video do not exist: at the video ends the window is cut, never zero-filled;
 * a frame both local and global appears twice, as upstream).
 *
 * Bias [F, S] (row = query frame start + i), shared by all heads and tokens, added to q·kᵀ/√d:
 *   local column of frame j: MASKED_BIAS if |q − j| > p, else (t < T_phase ? b : 0)
 *   global column:           (t ≥ T_phase ? b : 0)
 *
 * MASKED_BIAS is a large finite negative (−1e9), not −Infinity: exp underflows to exactly 0 in
 * float32 either way (so softmax is identical; every row keeps its own frame unmasked), and a
 * finite value cannot produce NaN if a graph scales or sums biases (0·−∞, −∞ + ∞). In float16 it
 * becomes −∞, which is harmless for the same reason.
 */

import { check, DualScopeError, isNonNegativeInteger, isPositiveInteger } from './errors.js';
import type { FrameRange } from './partition.js';

export interface DualScopeParams {
  /** p: query frame i sees local frames |i − j| ≤ p. */
  readonly window: number;
  /** Requested number of global frames; G = min(topK, N). */
  readonly topK: number;
  /** T_phase: for timesteps t ≥ T_phase the global keys get +b, below it the local keys. */
  readonly phaseTimestep: number;
  /** b, added to the logits of the favoured key group (0 disables the phase bias). */
  readonly phaseBias: number;
}

/** The embedded model's defaults (native clip 16 frames), docs/model-architecture.md §3. */
export const EMBEDDED_DUAL_SCOPE: DualScopeParams = Object.freeze({ window: 4, topK: 8, phaseTimestep: 800, phaseBias: 10 });
/** Upstream Video-Infinity defaults (native clip 24 frames). */
export const UPSTREAM_DUAL_SCOPE: DualScopeParams = Object.freeze({ window: 8, topK: 16, phaseTimestep: 800, phaseBias: 10 });

export const MASKED_BIAS = -1e9;

export function validateDualScopeParams(params: DualScopeParams): void {
  const where = 'DualScopeParams';
  check(isNonNegativeInteger(params?.window), DualScopeError, where, 'window', params?.window, 'a non-negative integer');
  check(isNonNegativeInteger(params.topK), DualScopeError, where, 'topK', params.topK, 'a non-negative integer');
  check(Number.isFinite(params.phaseTimestep), DualScopeError, where, 'phaseTimestep', params.phaseTimestep, 'a finite number');
  check(Number.isFinite(params.phaseBias), DualScopeError, where, 'phaseBias', params.phaseBias, 'a finite number');
}

/**
 * The global frames of a video: G = min(topK, N), g_k = floor(k·N/G), k = 0..G−1 (ascending,
 * distinct, g_0 = 0). The same for every layer, step and clip, whatever the partition.
 */
export function globalFrameIndices(totalFrames: number, topK: number): number[] {
  check(isPositiveInteger(totalFrames), DualScopeError, 'globalFrameIndices', 'totalFrames', totalFrames, 'an integer >= 1');
  check(isNonNegativeInteger(topK), DualScopeError, 'globalFrameIndices', 'topK', topK, 'a non-negative integer');
  const g = Math.min(topK, totalFrames);
  const out: number[] = [];
  for (let k = 0; k < g; k++) out.push(Math.floor((k * totalFrames) / g)); // exact for integers < 2^53
  return out;
}

/**
 * The global frames a clip owns and contributes to the gather: positions [start, end) into the
 * global list, and their local frame indices in the clip. Because clips are contiguous and in
 * rank order, concatenating every rank's contribution in rank order gives the global list.
 */
export function ownedGlobalFrames(globalIndices: readonly number[], range: FrameRange): { positions: FrameRange; localFrames: number[] } {
  let start = 0;
  while (start < globalIndices.length && globalIndices[start]! < range.start) start++;
  let end = start;
  while (end < globalIndices.length && globalIndices[end]! < range.end) end++;
  return { positions: { start, end }, localFrames: globalIndices.slice(start, end).map((g) => g - range.start) };
}

/** The halo-extended local key window of a clip: frames [keyStart, keyEnd), cut at the video ends. */
export function localKeyWindow(range: FrameRange, totalFrames: number, window: number): { keyStart: number; keyEnd: number; left: number; right: number } {
  const left = Math.min(window, range.start);
  const right = Math.min(window, totalFrames - range.end);
  return { keyStart: range.start - left, keyEnd: range.end + right, left, right };
}

export function isGlobalPhase(timestep: number, params: DualScopeParams): boolean {
  return timestep >= params.phaseTimestep;
}

export interface AttentionBias {
  /** F: query frames (the clip). */
  readonly queryFrames: number;
  /** S = localKeys + globalKeys. */
  readonly keyFrames: number;
  readonly localKeys: number;
  readonly globalKeys: number;
  /** Global frame index of every key column, [S]. */
  readonly keyGlobalFrames: readonly number[];
  /** [F, S] row-major, float32. */
  readonly bias: Float32Array;
}

/** The [F, S] logit bias of a clip at scheduler timestep `timestep` (see the header). */
export function attentionBias(
  range: FrameRange,
  totalFrames: number,
  params: DualScopeParams,
  timestep: number,
  globalIndices: readonly number[] = globalFrameIndices(totalFrames, params.topK),
): AttentionBias {
  const where = 'attentionBias';
  validateDualScopeParams(params);
  check(isPositiveInteger(totalFrames), DualScopeError, where, 'totalFrames', totalFrames, 'an integer >= 1');
  check(
    Number.isSafeInteger(range?.start) && Number.isSafeInteger(range.end) && 0 <= range.start && range.start < range.end && range.end <= totalFrames,
    DualScopeError, where, 'range', range && [range.start, range.end], `a non-empty [start, end) inside [0, ${totalFrames})`,
  );
  check(Number.isFinite(timestep), DualScopeError, where, 'timestep', timestep, 'a finite number');
  const p = params.window;
  const { keyStart, keyEnd } = localKeyWindow(range, totalFrames, p);
  const localKeys = keyEnd - keyStart;
  const globalKeys = globalIndices.length;
  const s = localKeys + globalKeys;
  const f = range.end - range.start;
  const globalPhase = isGlobalPhase(timestep, params);
  const localBias = globalPhase ? 0 : params.phaseBias;
  const globalBias = globalPhase ? params.phaseBias : 0;
  const bias = new Float32Array(f * s); // [F, S]
  for (let i = 0; i < f; i++) {
    const q = range.start + i;
    const row = i * s;
    for (let c = 0; c < localKeys; c++) bias[row + c] = Math.abs(q - (keyStart + c)) <= p ? localBias : MASKED_BIAS;
    bias.fill(globalBias, row + localKeys, row + s);
  }
  const keyGlobalFrames: number[] = [];
  for (let j = keyStart; j < keyEnd; j++) keyGlobalFrames.push(j);
  keyGlobalFrames.push(...globalIndices);
  return { queryFrames: f, keyFrames: s, localKeys, globalKeys, keyGlobalFrames, bias };
}
