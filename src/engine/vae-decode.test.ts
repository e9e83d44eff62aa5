/**
 * The engine's VAE decode on real ONNX Runtime sessions (onnxruntime-node, CPU):
 * - the narrow AutoencoderKL of training/golden/vae-narrow, compiled by compileVae, decoded through
 *   VaeDecoder against the bytes that diffusers' decode + VaeImageProcessor give for the same latents;
 * - frame batching changes nothing; previews are the linear map at latent size;
 * - a package with a VAE (the tiny UNet, non-square 4×6 latent, plus a VAE of its 48 latent channels)
 *   loads through loadEngineModel and renders: step 7 decodes through the VAE, step 6e previews
 *   without it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVaeConfig } from '../model/config.js';
import { buildVaeDecoder } from '../model/compile/blocks/vae-decoder.js';
import { writeCheckpoint } from '../model/compile/checkpoint-writer.js';
import { compileModelPackage } from '../model/compile/compile-model.js';
import { hashFile } from '../model/compile/file-hash.js';
import { Program } from '../model/compile/graph.js';
import { type CompiledVae, compileVae } from '../model/compile/vae.js';
import { smoothLatents } from '../model/compile/vae-preview.js';
import { parseManifest, type ModelManifest } from '../model/manifest.js';
import { RecordingWeights } from '../model/testing/recording-weights.js';
import { seededTensor } from '../model/testing/seeded-weights.js';
import { writeTinyPackage } from '../model/testing/tiny-model.js';
import { vaeGolden, vaeGoldenMeta as meta, writeNarrowVae } from '../model/testing/vae-narrow.js';
import { latentToByte } from './decode.js';
import { denoiseWhole, type StepProgress } from './denoise.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { loadEngineModel } from './engine-model.js';
import type { JobParams } from './job-state.js';
import { SessionRunner, type OrtModule } from './session-runner.js';
import { fileReader } from './testing/tiny-engine.js';
import { previewLatents, VaeDecoder, vaeFramesPerBatch } from './vae-decode.js';

/** The parity tolerance of the compiled decoder (vae-parity.test.ts), in bytes: 1e-4 of [-1, 1] is 1e-4·127.5. */
const BYTE_TOL = 1e-4 * 127.5;

const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
const latents = vaeGolden('latents');
const goldenSample = vaeGolden('sample').data as Float32Array;
const goldenRgb = vaeGolden('rgb').data as Float32Array; // [N, 3, H, W] bytes
const { frames: N, height: h, width: w } = meta;
const H = 8 * h;
const W = 8 * w;

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vi-vae-engine-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let cases = 0;
async function openNarrow(perturb?: { key: string; delta: number }): Promise<{ decoder: VaeDecoder; compiled: CompiledVae }> {
  const dir = join(root, `narrow-${cases++}`);
  writeNarrowVae(join(dir, 'vae'), { perturb });
  const compiled = await compileVae(join(dir, 'vae'), join(dir, 'pkg'), { height: h, width: w });
  const decoder = await VaeDecoder.load(runner, compiled.vae, { channels: 4, height: h, width: w }, fileReader(join(dir, 'pkg')));
  return { decoder, compiled };
}

/**
 * Our bytes [N, H, W, 3] against the golden's [N, 3, H, W]: each either equal, or one apart where the
 * golden's unrounded value lies within the decoder's parity tolerance of a rounding boundary (x.5),
 * so that float32 roundoff of 1e-6 may round it either way. Returns [exact, allowed one-offs, violations].
 */
function compareBytes(ours: Uint8Array): [number, number, number] {
  let exact = 0;
  let near = 0;
  let bad = 0;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < H * W; p++) {
        const g = (n * 3 + c) * H * W + p;
        const o = ours[(n * H * W + p) * 3 + c]!;
        const want = goldenRgb[g]!;
        if (o === want) exact++;
        else {
          const u = Math.min(Math.max((goldenSample[g]! + 1) / 2, 0), 1) * 255;
          if (Math.abs(o - want) === 1 && Math.abs(u - Math.floor(u) - 0.5) <= BYTE_TOL) near++;
          else bad++;
        }
      }
  return [exact, near, bad];
}

describe('VaeDecoder on the narrow AutoencoderKL', () => {
  it("gives diffusers' bytes (one LSB apart only where the golden sits on a rounding boundary)", async () => {
    const { decoder } = await openNarrow();
    const rgb = await decoder.decode(latents.data as Float32Array, 3);
    expect([rgb.frames, rgb.height, rgb.width]).toEqual([N, H, W]);
    const [exact, near, bad] = compareBytes(rgb.data);
    console.log(`VAE bytes vs diffusers: ${exact} equal, ${near} one apart at a rounding boundary, ${bad} wrong (of ${rgb.data.length})`);
    expect(bad).toBe(0);
    expect(exact).toBeGreaterThan(0.999 * rgb.data.length);
  });

  it('negative control: a decoder off by 0.01 in one output bias fails the byte check', async () => {
    const { decoder } = await openNarrow({ key: 'decoder.conv_out.bias', delta: 0.01 });
    const [, , bad] = compareBytes((await decoder.decode(latents.data as Float32Array, 3)).data);
    expect(bad).toBeGreaterThan(100);
  });

  it('batching frames changes nothing (1, 2 and 3 frames per run); frameList picks frames', async () => {
    const { decoder } = await openNarrow();
    const data = latents.data as Float32Array;
    const one = await decoder.decode(data, 1);
    expect((await decoder.decode(data, 3)).data).toEqual(one.data);
    expect((await decoder.decode(data, 2)).data).toEqual(one.data);
    const frame = H * W * 3;
    const picked = await decoder.decode(data, 2, [2, 0]);
    expect(picked.frames).toBe(2);
    expect(picked.data.subarray(0, frame)).toEqual(one.data.subarray(2 * frame, 3 * frame));
    expect(picked.data.subarray(frame)).toEqual(one.data.subarray(0, frame));
    await expect(decoder.decode(data, 0)).rejects.toThrow(/framesPerBatch must be a positive integer/);
    await expect(decoder.decode(data.subarray(1), 1)).rejects.toThrow(/latents.length must be a multiple/);
    await expect(decoder.decode(data, 1, [3])).rejects.toThrow(/frameList\[\] must be in \[0, 3\)/);
  });

  it('sizes frame batches by the memory budget', () => {
    expect(vaeFramesPerBatch(100, 30)).toBe(3);
    expect(vaeFramesPerBatch(10, 30)).toBe(1);
    expect(() => vaeFramesPerBatch(0, 30)).toThrow(/budgetBytes/);
  });

  it('previews: the fitted linear map at latent size, closer to the decoded block colours than their mean colour', async () => {
    const { decoder, compiled } = await openNarrow();
    const map = compiled.vae.latent_preview;
    // Smooth latents like the fit's, but others (another seed) and at the package's non-square size.
    const z = smoothLatents(6, 4, h, w, 3, 99);
    const preview = previewLatents(z, { channels: 4, height: h, width: w }, map);
    expect([preview.frames, preview.height, preview.width, preview.data.length]).toEqual([6, h, w, 6 * h * w * 3]);
    const full = await decoder.decode(z, 6);
    // Each latent pixel's 8×8 block of decoded bytes, averaged: what the preview pixel stands for.
    const block = new Float64Array(6 * h * w * 3);
    for (let f = 0; f < 6; f++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let c = 0; c < 3; c++) block[((f * h + (y >> 3)) * w + (x >> 3)) * 3 + c] += full.data[((f * H + y) * W + x) * 3 + c]! / 64;
    const mean = [0, 1, 2].map((c) => block.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / (block.length / 3));
    const err = (px: (i: number) => number) => block.reduce((a, b, i) => a + Math.abs(b - px(i)), 0) / block.length;
    const previewErr = err((i) => preview.data[i]!);
    const meanErr = err((i) => mean[i % 3]!);
    const zeroMap = previewLatents(z, { channels: 4, height: h, width: w }, { matrix: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], bias: [0, 0, 0] });
    const zeroErr = err((i) => zeroMap.data[i]!);
    console.log(`preview vs decoded 8×8 block colours: mean abs error ${previewErr.toFixed(2)} bytes; their mean colour ${meanErr.toFixed(2)}; a zero map ${zeroErr.toFixed(2)} (fit R² ${map.r2.toFixed(3)})`);
    expect(previewErr).toBeLessThan(meanErr);
    expect(zeroErr).toBeGreaterThan(previewErr); // negative control: a map that ignores the latent is worse
    // One hand-checked pixel: frame 1, latent (y 2, x 5), green.
    const zAt = [0, 1, 2, 3].map((c) => z[((1 * 4 + c) * h + 2) * w + 5]!);
    const green = map.bias[1]! + map.matrix[1]!.reduce((a, m, c) => a + m * zAt[c]!, 0);
    expect(preview.data[((1 * h + 2) * w + 5) * 3 + 1]).toBe(latentToByte(green));
  });
});

// ---------------------------------------------------------------- a whole package with a VAE

/** The tiny UNet package at a non-square 4×6 latent, with a random VAE of its 48 latent channels. */
async function tinyVaePackage(): Promise<{ dir: string; manifest: ModelManifest }> {
  const dir = join(root, 'tiny-vae');
  writeTinyPackage(dir, { seed: 4321 });
  compileModelPackage(dir, { height: 4, width: 6 });
  const vaeConfig = { ...meta.vae_config, latent_channels: 48 };
  const rec = new RecordingWeights((key, shape) => seededTensor(7, key, shape), 'linear');
  buildVaeDecoder({ P: new Program('record'), W: rec, batch: 1 }, parseVaeConfig(vaeConfig), 4, 6);
  const vaeDir = join(root, 'tiny-vae-src');
  writeCheckpoint(vaeDir, 'diffusion_pytorch_model', [...rec.shapes].map(([name, shape]) => ({ name, shape, values: () => rec.values(name) })));
  writeFileSync(join(vaeDir, 'config.json'), JSON.stringify(vaeConfig));
  const compiled = await compileVae(vaeDir, dir, { height: 4, width: 6 });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ModelManifest;
  manifest.latent.decode = compiled.decode;
  manifest.vae = compiled.vae;
  for (const path of [compiled.vae.config, compiled.vae.onnx, ...compiled.vae.external_data]) manifest.files[path] = hashFile(join(dir, path));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(parseManifest(manifest), null, 2));
  return { dir, manifest };
}

describe('a package whose latents decode through a VAE', () => {
  const job: JobParams = {
    jobId: 3, totalFrames: 5, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle moving right' }] }, seed: 99, steps: 2,
    guidanceScale: 1, sampler: { kind: 'ddim', eta: 0 }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
  };

  it('loads, previews at latent size without the VAE, and decodes the final latents through it (non-square)', async () => {
    const { dir, manifest } = await tinyVaePackage();
    const model = await loadEngineModel(runner, fileReader(dir), { graphs: ['whole'], vaeMemoryBytes: 1 }); // budget 1 byte: one frame per run
    expect(model.geometry).toEqual({ channels: 48, height: 4, width: 6, factor: 8 });
    const progress: StepProgress[] = [];
    const runsBefore = runner.timings().runs;
    const result = await denoiseWhole(model, job, { previewMaxFrames: 2, onProgress: (p) => progress.push(p) });
    // Two text-encoder runs (uncond, prompt), two UNet runs, and one VAE run per frame for the final decode; previews ran no session.
    expect(runner.timings().runs - runsBefore).toBe(2 + 2 + 5);
    expect(progress.map((p) => [p.preview.rgb.frames, p.preview.rgb.height, p.preview.rgb.width])).toEqual([[2, 4, 6], [2, 4, 6]]);
    expect([result.frames!.frames, result.frames!.height, result.frames!.width]).toEqual([5, 32, 48]);
    // The same latents through a separately opened decoder, all frames in one run: the same bytes.
    const decoder = await VaeDecoder.load(runner, manifest.vae!, { channels: 48, height: 4, width: 6 }, fileReader(dir));
    expect(result.frames!.data).toEqual((await decoder.decode(result.latents, 5)).data);
  });

  it('refuses a vae manifest without its vae section, and a vae section with a preview map of the wrong width', async () => {
    const { manifest } = await tinyVaePackage();
    expect(() => parseManifest({ ...manifest, vae: undefined })).toThrow(/latent.decode.kind 'vae' needs a 'vae' section/);
    const bad = { ...manifest.vae!, latent_preview: { ...manifest.vae!.latent_preview, matrix: [[1], [2], [3]] } };
    expect(() => parseManifest({ ...manifest, vae: bad })).toThrow(/vae.latent_preview needs matrix \[3\]\[48\]/);
    expect(() => parseManifest({ ...manifest, vae: { ...manifest.vae!, external_data: ['onnx/missing.bin'] } })).toThrow(/'onnx\/missing.bin' is referenced but not listed in files/);
  });
});
