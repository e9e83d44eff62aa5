/**
 * Latents to RGB for a VAE model (manifest `latent.decode.kind` 'vae', docs/model-package.md):
 *
 * - The clip's final latents go through the compiled AutoencoderKL decoder (onnx/vae_decoder.onnx),
 *   a batch of frames per run: the 2-D VAE decodes frames independently, and a batch is sized to a
 *   memory budget (`vaeFramesPerBatch`). The graph applies 1/scaling_factor itself. Its output, RGB
 *   about [-1, 1] [n, 3, s·h, s·w], becomes bytes [n, s·h, s·w, 3] by the same rule as the
 *   pixel-shuffle decode (`latentToByte`: round(clamp((x + 1) / 2, 0, 1) · 255), ties to even).
 * - Per-step previews never run the VAE: each latent pixel becomes one RGB pixel by the package's
 *   linear map rgb = M·z + b (M 3×C, fitted when the package was compiled), then the same byte rule.
 *
 * Runs through the model's `SessionRunner`; imports no ORT. Must not import src/net, src/app, peerjs or lit.
 */

import type { VaeEntry } from '../model/manifest.js';
import { latentToByte, type RgbFrames } from './decode.js';
import { check, EngineError } from './errors.js';
import { readExternalData, type LoadedSession, type SessionRunner } from './session-runner.js';

/** Latent [C, h, w] per frame and the decoder's output pixels per latent pixel. */
export interface VaeGeometry {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly upscale: number;
}

/** How many frames one decoder run may take within `budgetBytes` (at least 1). */
export function vaeFramesPerBatch(budgetBytes: number, bytesPerFrame: number): number {
  check(Number.isFinite(budgetBytes) && budgetBytes > 0, EngineError, 'vaeFramesPerBatch', 'budgetBytes', budgetBytes, 'a positive number');
  check(Number.isFinite(bytesPerFrame) && bytesPerFrame > 0, EngineError, 'vaeFramesPerBatch', 'bytesPerFrame', bytesPerFrame, 'a positive number');
  return Math.max(1, Math.floor(budgetBytes / bytesPerFrame));
}

function frameIndices(latents: Float32Array, per: number, where: string, frameList?: readonly number[]): number[] {
  check(latents.length % per === 0, EngineError, where, 'latents.length', latents.length, `a multiple of C·h·w = ${per}`, 'shape-mismatch');
  const total = latents.length / per;
  const list = frameList ? [...frameList] : Array.from({ length: total }, (_, i) => i);
  for (const f of list) check(Number.isInteger(f) && f >= 0 && f < total, EngineError, where, 'frameList[]', f, `in [0, ${total})`);
  return list;
}

/** The compiled decoder of a package, opened on a runner. */
export class VaeDecoder {
  private constructor(
    private readonly runner: SessionRunner,
    private readonly session: LoadedSession,
    readonly geometry: VaeGeometry,
    private readonly io: { readonly input: string; readonly output: string },
  ) {}

  /** Creates the decoder session; `file` reads (and verifies) a package file. */
  static async load(runner: SessionRunner, vae: VaeEntry, latent: { channels: number; height: number; width: number }, file: (path: string) => Promise<Uint8Array>): Promise<VaeDecoder> {
    const externalData = await readExternalData(vae.external_data, file);
    const session = await runner.load('vae decoder', await file(vae.onnx), { externalData });
    const geometry = { channels: latent.channels, height: latent.height, width: latent.width, upscale: vae.upscale };
    return new VaeDecoder(runner, session, geometry, { input: vae.input, output: vae.output });
  }

  /**
   * Frame-major latents [F, C, h, w] → RGB bytes [frames, s·h, s·w, 3], `framesPerBatch` frames per
   * decoder run. `frameList` picks the frames (indices into the latents), default all.
   */
  async decode(latents: Float32Array, framesPerBatch: number, frameList?: readonly number[]): Promise<RgbFrames> {
    const { channels: C, height: h, width: w, upscale: s } = this.geometry;
    check(Number.isInteger(framesPerBatch) && framesPerBatch >= 1, EngineError, 'VaeDecoder.decode', 'framesPerBatch', framesPerBatch, 'a positive integer');
    const per = C * h * w;
    const list = frameIndices(latents, per, 'VaeDecoder.decode', frameList);
    const H = s * h;
    const W = s * w;
    const plane = H * W;
    const out = new Uint8Array(list.length * plane * 3);
    for (let start = 0; start < list.length; start += framesPerBatch) {
      const batch = list.slice(start, start + framesPerBatch);
      const input = new Float32Array(batch.length * per);
      batch.forEach((f, k) => input.set(latents.subarray(f * per, (f + 1) * per), k * per));
      const result = await this.runner.run(this.session, { [this.io.input]: { dtype: 'float32', dims: [batch.length, C, h, w], data: input } });
      const value = result[this.io.output];
      if (!value) throw new EngineError('invalid-argument', `vae decoder: no output '${this.io.output}'`);
      const sample = await this.runner.read(value); // [n, 3, H, W]
      if (sample.length !== batch.length * 3 * plane) {
        throw new EngineError('shape-mismatch', `vae decoder: output has ${sample.length} values, expected ${batch.length}·3·${H}·${W}`);
      }
      for (let k = 0; k < batch.length; k++) {
        const base = (start + k) * plane * 3;
        for (let rgb = 0; rgb < 3; rgb++) {
          const src = (k * 3 + rgb) * plane;
          for (let p = 0; p < plane; p++) out[base + p * 3 + rgb] = latentToByte(sample[src + p]!);
        }
      }
      this.runner.release(value);
    }
    return { frames: list.length, height: H, width: W, data: out };
  }
}

/**
 * The per-step preview of a VAE model: frames of frame-major latents [F, C, h, w] → RGB bytes
 * [frames, h, w, 3], one pixel per latent pixel, rgb = matrix · z + bias (matrix [3][C]).
 */
export function previewLatents(
  latents: Float32Array,
  latent: { readonly channels: number; readonly height: number; readonly width: number },
  map: { readonly matrix: readonly (readonly number[])[]; readonly bias: readonly number[] },
  frameList?: readonly number[],
): RgbFrames {
  const { channels: C, height: h, width: w } = latent;
  check(map.matrix.length === 3 && map.matrix.every((r) => r.length === C) && map.bias.length === 3, EngineError, 'previewLatents', 'map', `${map.matrix.length}×${map.matrix[0]?.length}`, `matrix [3][${C}] and bias [3]`);
  const plane = h * w;
  const per = C * plane;
  const list = frameIndices(latents, per, 'previewLatents', frameList);
  const out = new Uint8Array(list.length * plane * 3);
  list.forEach((frame, n) => {
    const base = frame * per;
    for (let p = 0; p < plane; p++) {
      for (let rgb = 0; rgb < 3; rgb++) {
        const row = map.matrix[rgb]!;
        let v = map.bias[rgb]!;
        for (let c = 0; c < C; c++) v += row[c]! * latents[base + c * plane + p]!;
        out[(n * plane + p) * 3 + rgb] = latentToByte(v);
      }
    }
  });
  return { frames: list.length, height: h, width: w, data: out };
}
