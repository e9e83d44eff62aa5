// Kept only for the browser model-parity harness (e2e/model-parity.spec.ts,
// e2e/model-fixtures/parity-harness.ts, also run by scripts/bench-segments.ts): it repeats the
// engine's src/engine/unet-call-inputs.ts and dual-scope.ts, which the vitest tests drive instead.
// Delete it once the harness drives the engine too; add no new users.
// What the engine computes for one UNet call, written out for the tests (the engine has its own,
// src/engine/dual-scope.ts; this independent copy cross-checks the contract in segment-plan.ts):
// global frames, the dual-scope bias in the key order the graphs expect, send indices, the tconv
// window mask, and the geometry that the exchanges follow.

export interface DualScope {
  p: number;
  topK: number;
  tPhase: number;
  b: number;
}

export const MASKED = -1e9;

export function globalFrameIndices(totalFrames: number, topK: number): number[] {
  const g = Math.min(topK, totalFrames);
  return Array.from({ length: g }, (_, k) => Math.floor((k * totalFrames) / g));
}

export interface ClipGeometry {
  start: number;
  end: number;
  totalFrames: number;
  /** Local window frames received from the left / right neighbour (cut at the video ends). */
  left: number;
  right: number;
  globals: number[];
  /** Clip-local indices of the global frames this clip owns. */
  ownGlobalLocal: number[];
  /** attn_send_indices: first p, last p, own global frames (clip-local). */
  sendIndices: number[];
  /** Video frame of every key column: own frames, then left, right, global (the attn_context order). */
  keyFrames: number[];
}

export function clipGeometry(start: number, end: number, totalFrames: number, ds: DualScope): ClipGeometry {
  const F = end - start;
  const { p } = ds;
  if (F < p) throw new Error(`clip [${start}, ${end}) is shorter than p = ${p}`);
  const left = Math.min(p, start);
  const right = Math.min(p, totalFrames - end);
  const globals = globalFrameIndices(totalFrames, ds.topK);
  const ownGlobalLocal = globals.filter((g) => g >= start && g < end).map((g) => g - start);
  const first = Array.from({ length: p }, (_, k) => k);
  const last = Array.from({ length: p }, (_, k) => F - p + k);
  const keyFrames = [
    ...Array.from({ length: F }, (_, k) => start + k),
    ...Array.from({ length: left }, (_, k) => start - left + k),
    ...Array.from({ length: right }, (_, k) => end + k),
    ...globals,
  ];
  return { start, end, totalFrames, left, right, globals, ownGlobalLocal, sendIndices: [...first, ...last, ...ownGlobalLocal], keyFrames };
}

/** attn_bias [F, S] for the key order of `keyFrames` (the last G columns are the global frames). */
export function clipBias(geo: ClipGeometry, ds: DualScope, t: number, masked = MASKED): Float32Array {
  const F = geo.end - geo.start;
  const S = geo.keyFrames.length;
  const G = geo.globals.length;
  const globalPhase = t >= ds.tPhase;
  const out = new Float32Array(F * S);
  for (let i = 0; i < F; i++) {
    const q = geo.start + i;
    for (let c = 0; c < S; c++) {
      if (c >= S - G) out[i * S + c] = globalPhase ? ds.b : 0;
      else out[i * S + c] = Math.abs(q - geo.keyFrames[c]) <= ds.p ? (globalPhase ? 0 : ds.b) : masked;
    }
  }
  return out;
}

/** tconv_window_mask [F + 2·halo]: 1 where window frame start − halo + w is inside the video. */
export function tconvWindowMask(geo: ClipGeometry, halo: number): Float32Array {
  const F = geo.end - geo.start;
  return Float32Array.from({ length: F + 2 * halo }, (_, w) => {
    const g = geo.start - halo + w;
    return g >= 0 && g < geo.totalFrames ? 1 : 0;
  });
}
