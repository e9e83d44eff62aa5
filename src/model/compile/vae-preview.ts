// The cheap latent → RGB map for per-step previews of a VAE model: rgb = M·z + b per latent pixel
// (M is 3×C), one preview pixel per latent pixel. Running the VAE decoder every step would cost more
// than the step itself on a tab; this costs 3·(C+1) multiply-adds per latent pixel.
//
// How M and b are obtained for any VAE without real images: decode sampled latents with the compiled
// decoder and fit, by least squares, the mean colour of each latent pixel's s×s block of output
// pixels against that latent pixel's C values. The sampled latents are smooth random fields (a coarse
// 3×3 grid of N(0, 1) vectors, bilinearly interpolated): the diffusion latents that previews show are
// spatially correlated like images, and a smooth field makes a block's colour depend mostly on its own
// latent vector, which is what a per-pixel map can express. N(0, 1) because the decoder's input is the
// diffusion model's latent (scaling_factor makes it about unit variance).
// Node only (compile time).

/** rgb (in [-1, 1] before clamping) = matrix · z + bias, matrix [3][C]. */
export interface LatentPreviewFit {
  readonly matrix: number[][];
  readonly bias: number[];
  /** Fraction of the blocks' colour variance the map explains on the fitted samples (1 = exact). */
  readonly r2: number;
}

/** Decodes `frames` latents [frames, C, h, w] to samples [frames, 3, s·h, s·w]. */
export type DecodeFn = (latents: Float32Array, frames: number) => Promise<Float32Array>;

export const PREVIEW_FIT = { height: 8, width: 8, frames: 24, batch: 4, grid: 3, seed: 0x5eed } as const;

/** Deterministic N(0, 1) draws (mulberry32 + Box–Muller); the fit must give the same matrix on every import. */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** `frames` smooth latent fields [frames, C, h, w]: a grid×grid lattice of N(0, 1) vectors, bilinear in between. */
export function smoothLatents(frames: number, C: number, h: number, w: number, grid: number, seed: number): Float32Array {
  const draw = normals(seed);
  const out = new Float32Array(frames * C * h * w);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < C; c++) {
      const g = Array.from({ length: grid * grid }, draw);
      for (let y = 0; y < h; y++) {
        const gy = (y * (grid - 1)) / Math.max(h - 1, 1);
        const y0 = Math.min(Math.floor(gy), grid - 2);
        const ty = gy - y0;
        for (let x = 0; x < w; x++) {
          const gx = (x * (grid - 1)) / Math.max(w - 1, 1);
          const x0 = Math.min(Math.floor(gx), grid - 2);
          const tx = gx - x0;
          const at = (j: number, i: number) => g[j * grid + i]!;
          const top = at(y0, x0) * (1 - tx) + at(y0, x0 + 1) * tx;
          const bottom = at(y0 + 1, x0) * (1 - tx) + at(y0 + 1, x0 + 1) * tx;
          out[((f * C + c) * h + y) * w + x] = top * (1 - ty) + bottom * ty;
        }
      }
    }
  }
  return out;
}

/** Solves the symmetric positive definite system A·x = b (A n×n, row-major) by Cholesky. */
function solveSpd(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) throw new Error('latent preview fit: the sampled latents do not determine the map (singular system)');
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j]!;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  return x;
}

/**
 * Least squares of each s×s block's mean colour against its latent pixel: latents [F, C, h, w],
 * samples [F, 3, s·h, s·w].
 */
export function fitBlockColours(latents: Float32Array, samples: Float32Array, frames: number, C: number, h: number, w: number, s: number): LatentPreviewFit {
  const n = C + 1; // features: z, then 1 for the bias
  const XtX = new Float64Array(n * n);
  const Xty = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  const H = s * h;
  const W = s * w;
  const targets: number[][] = [[], [], []];
  const feats: Float64Array[] = [];
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const z = new Float64Array(n);
        for (let c = 0; c < C; c++) z[c] = latents[((f * C + c) * h + y) * w + x]!;
        z[C] = 1;
        feats.push(z);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) XtX[i * n + j] += z[i]! * z[j]!;
        for (let rgb = 0; rgb < 3; rgb++) {
          let sum = 0;
          for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) sum += samples[((f * 3 + rgb) * H + y * s + dy) * W + x * s + dx]!;
          const mean = sum / (s * s);
          targets[rgb]!.push(mean);
          for (let i = 0; i < n; i++) Xty[rgb]![i] += z[i]! * mean;
        }
      }
    }
  }
  // A whisper of ridge keeps the system solvable when a latent channel happens to be constant.
  const ridge = 1e-9 * Array.from({ length: n }, (_, i) => XtX[i * n + i]!).reduce((a, b) => a + b, 0);
  for (let i = 0; i < C; i++) XtX[i * n + i] += ridge;
  const beta = Xty.map((rhs) => solveSpd(XtX, rhs, n));
  let residual = 0;
  let total = 0;
  for (let rgb = 0; rgb < 3; rgb++) {
    const t = targets[rgb]!;
    const mean = t.reduce((a, b) => a + b, 0) / t.length;
    t.forEach((v, k) => {
      const z = feats[k]!;
      let p = 0;
      for (let i = 0; i < n; i++) p += beta[rgb]![i]! * z[i]!;
      residual += (v - p) ** 2;
      total += (v - mean) ** 2;
    });
  }
  return {
    matrix: beta.map((b) => Array.from(b.subarray(0, C))),
    bias: beta.map((b) => b[C]!),
    r2: total > 0 ? 1 - residual / total : 1,
  };
}

/** Samples smooth latents, decodes them with `decode` in batches, and fits the preview map. */
export async function fitLatentPreview(decode: DecodeFn, C: number, upscale: number, fit = PREVIEW_FIT): Promise<LatentPreviewFit> {
  const { height: h, width: w, frames, batch } = fit;
  const latents = smoothLatents(frames, C, h, w, fit.grid, fit.seed);
  const per = C * h * w;
  const outPer = 3 * upscale * upscale * h * w;
  const samples = new Float32Array(frames * outPer);
  for (let f = 0; f < frames; f += batch) {
    const n = Math.min(batch, frames - f);
    const out = await decode(latents.slice(f * per, (f + n) * per), n);
    if (out.length !== n * outPer) throw new Error(`latent preview fit: the decoder gave ${out.length} values for ${n} frames, expected ${n * outPer}`);
    samples.set(out, f * outPer);
  }
  return fitBlockColours(latents, samples, frames, C, h, w, upscale);
}
