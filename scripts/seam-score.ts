// The seam score of a rendered video, shared by scripts/seam-ablation.ts and scripts/bench-modes.ts:
// mean |frame f+1 − frame f| across clip borders ÷ the same inside clips. 1: the borders look like
// any other pair of consecutive frames; isolated clips score well above it.

/** Mean |frame f+1 − frame f| over pixels and channels (or latent values), for every f. */
export function frameDiffs(video: Uint8Array | Float32Array, frames: number): number[] {
  const size = video.length / frames;
  const out: number[] = [];
  for (let f = 0; f + 1 < frames; f++) {
    let s = 0;
    for (let i = 0; i < size; i++) s += Math.abs(video[(f + 1) * size + i]! - video[f * size + i]!);
    out.push(s / size);
  }
  return out;
}

/** `borders`: the f whose pair (f, f+1) straddles two clips. */
export function seamScore(diffs: readonly number[], borders: ReadonlySet<number>): { border: number; inside: number; ratio: number } {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const border = mean(diffs.filter((_, f) => borders.has(f)));
  const inside = mean(diffs.filter((_, f) => !borders.has(f)));
  return { border, inside, ratio: border / inside };
}
