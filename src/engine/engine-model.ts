/**
 * A compiled model package opened for the engine: manifest (sha256-checked files), segment plan,
 * tokenizer, and the sessions the loop needs (text encoder, UNet segments and/or whole graph), all
 * created through one `SessionRunner`. Ranks of one process may share one `EngineModel`: sessions
 * are stateless between runs and the runner queues every run.
 *
 * Files come through a `ModelFileReader` (Node: fs; browser: fetch/cache), so this file has no I/O
 * of its own. Must not import src/net, src/app, peerjs or lit.
 */

import { parseManifest, unetGraphSet, verifyFile, type ModelManifest, type UNetCompute } from '../model/manifest.js';
import type { SegmentPlan } from '../model/segment-plan.js';
import { openTokenizer } from '../model/prompt-tokenizer.js';
import { EngineError } from './errors.js';
import type { PromptEncoder } from './prompt-embeddings.js';
import { SegmentExecutor, WholeGraphExecutor, segmentShardsNeeds, wholeShardsNeeds, type ModelFileReader } from './segment-executor.js';
import { WeightShards } from './weight-shards.js';
import { readExternalData, type LoadedSession, type SessionRunner } from './session-runner.js';
import { decodeLatents, type FrameGeometry, type RgbFrames } from './decode.js';
import { previewLatents, VaeDecoder, vaeFramesPerBatch } from './vae-decode.js';

export interface EngineModel {
  readonly manifest: ModelManifest;
  readonly plan: SegmentPlan;
  readonly runner: SessionRunner;
  /** Latent [C, H, W] per frame and the output pixels per latent pixel (pixel_shuffle factor or VAE upscale). */
  readonly geometry: FrameGeometry;
  /** Frame-major latents [F, C, H, W] → RGB bytes at full size (pixel shuffle, or the VAE in frame batches). */
  decodeFrames(latents: Float32Array, frameList?: readonly number[]): Promise<RgbFrames>;
  /** A cheap per-step preview of some frames (pixel shuffle: the full decode; VAE: a linear map at latent size, no VAE run). */
  previewFrames(latents: Float32Array, frameList: readonly number[]): RgbFrames;
  readonly segments: SegmentExecutor | null;
  readonly whole: WholeGraphExecutor | null;
  /**
   * Text embedding [L, D] of one prompt (float32, row-major); null when the text encoder was not
   * loaded (a tab that only computes gets its prompts' embeddings from the host).
   */
  readonly encodePrompt: PromptEncoder | null;
}

export interface LoadEngineModelOptions {
  /** Which UNet graphs to create sessions for (default: both). */
  readonly graphs?: readonly ('segmented' | 'whole')[];
  /** Check every file read against the manifest's sha256 (default true). */
  readonly verify?: boolean;
  /** Create the text-encoder session (default true); without it, denoise needs the prompts' embeddings. */
  readonly textEncoder?: boolean;
  /** VAE models: the working memory one decoder run may use (default 512 MiB); frames are batched to fit it. */
  readonly vaeMemoryBytes?: number;
  /** UNet compute precision: 'float16' loads the package's float16-compute graphs (adapters with shader-f16; chooseUNetCompute). Default 'float32'. */
  readonly compute?: UNetCompute;
}

export type { UNetCompute };

/**
 * float16 compute only where it can run and the package carries it: the WebGPU provider on an
 * adapter with `shader-f16` (Chromium blocks the feature on some GPU/driver pairs). Everything else
 * runs the float32-compute graphs, which upcast float16 weights at load.
 */
export function chooseUNetCompute(manifest: ModelManifest, provider: string | null, shaderF16: boolean): UNetCompute {
  return provider === 'webgpu' && shaderF16 && manifest.unet.float16_compute ? 'float16' : 'float32';
}

export async function loadEngineModel(runner: SessionRunner, read: ModelFileReader, options: LoadEngineModelOptions = {}): Promise<EngineModel> {
  const verify = options.verify ?? true;
  const graphs = options.graphs ?? ['segmented', 'whole'];
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await read('manifest.json'))));
  const file = async (path: string): Promise<Uint8Array> => {
    const bytes = await read(path);
    if (verify) await verifyFile(manifest, path, bytes);
    return bytes;
  };
  const json = async (path: string): Promise<unknown> => JSON.parse(new TextDecoder().decode(await file(path)));
  const compute = options.compute ?? 'float32';
  if (compute === 'float16' && !manifest.unet.float16_compute) throw new EngineError('invalid-argument', `loadEngineModel: ${manifest.name} has no float16-compute graphs (compile it with --precision fp16)`);
  const plan = (await json(unetGraphSet(manifest, compute).segment_plan)) as SegmentPlan;
  const decode = manifest.latent.decode;
  if (decode.kind !== 'pixel_shuffle' && decode.kind !== 'vae') throw new EngineError('invalid-argument', `loadEngineModel: ${manifest.name} decodes with '${(decode as { kind: string }).kind}'; supported: pixel_shuffle, vae`);
  const encodePrompt = (options.textEncoder ?? true) ? await loadPromptEncoder(runner, manifest, file) : null;
  // Both UNet graphs point into the same weights shards: one WeightShards over their sessions reads
  // (and verifies) each shard once and lets it go after the last session that needs it. The whole
  // graph (every shard) comes first, so the shards held only shrink while the segments are created.
  const loadWhole = graphs.includes('whole');
  const loadSegments = graphs.includes('segmented');
  const shards = new WeightShards([...(loadWhole ? wholeShardsNeeds(plan) : []), ...(loadSegments ? segmentShardsNeeds(plan) : [])], file);
  let whole: WholeGraphExecutor | null;
  let segments: SegmentExecutor | null;
  try {
    whole = loadWhole ? await WholeGraphExecutor.load(runner, plan, file, shards) : null;
    segments = loadSegments ? await SegmentExecutor.load(runner, plan, file, shards) : null;
  } finally {
    shards.release();
  }
  const latent = { channels: plan.latent.channels, height: plan.latent.height, width: plan.latent.width };
  let geometry: FrameGeometry;
  let decodeFrames: EngineModel['decodeFrames'];
  let previewFrames: EngineModel['previewFrames'];
  if (decode.kind === 'vae') {
    const vae = manifest.vae!; // parseManifest requires it with kind 'vae'
    const decoder = await VaeDecoder.load(runner, vae, latent, file);
    const perBatch = vaeFramesPerBatch(options.vaeMemoryBytes ?? 512 * 2 ** 20, vae.bytes_per_frame);
    geometry = { ...latent, factor: vae.upscale };
    decodeFrames = (latents, frameList) => decoder.decode(latents, perBatch, frameList);
    previewFrames = (latents, frameList) => previewLatents(latents, latent, vae.latent_preview, frameList);
  } else {
    geometry = { ...latent, factor: decode.factor };
    decodeFrames = async (latents, frameList) => decodeLatents(latents, geometry, frameList);
    previewFrames = (latents, frameList) => decodeLatents(latents, geometry, frameList);
  }
  return {
    manifest,
    plan,
    runner,
    geometry,
    decodeFrames,
    previewFrames,
    segments,
    whole,
    encodePrompt,
  };
}

/**
 * The model as a rank of a guidance split runs it (guidance-split.ts): the package's batch-1
 * segment graphs, one guidance branch per call, on the same runner and weight shards. A tab loads
 * them on its first split job and keeps them (the batch-2 sessions stay for other jobs).
 */
export async function loadBranchModel(model: EngineModel, read: ModelFileReader): Promise<EngineModel> {
  const set = model.manifest.unet.cfg_split;
  if (!set) throw new EngineError('invalid-argument', `loadBranchModel: ${model.manifest.name} has no batch-1 graphs for a guidance split (compile it again: compile-model and import-model write them)`);
  const plan = JSON.parse(new TextDecoder().decode(await read(set.segment_plan))) as SegmentPlan;
  if (plan.batch !== 1) throw new EngineError('invalid-argument', `loadBranchModel: ${set.segment_plan} has batch ${plan.batch}, expected 1`);
  const segments = await SegmentExecutor.load(model.runner, plan, read);
  return { ...model, plan, segments, whole: null };
}

/**
 * The package's tokenizer and text-encoder session as one prompt → [L, D] function. The host runs
 * it once per prompt of a job; tabs that only compute never load it.
 */
export async function loadPromptEncoder(runner: SessionRunner, manifest: ModelManifest, file: (path: string) => Promise<Uint8Array>): Promise<PromptEncoder> {
  const tokenizer = await openTokenizer(manifest.tokenizer, file);
  const externalData = await readExternalData(manifest.text_encoder.external_data ?? [], file);
  const text: LoadedSession = await runner.load('text encoder', await file(manifest.text_encoder.onnx), { externalData });
  const L = manifest.text_encoder.max_length;
  const D = manifest.text_encoder.hidden_size;
  return async (prompt: string): Promise<Float32Array> => {
    const ids = tokenizer.encodeBatch([prompt]); // [1, L] int64
    const out = await runner.run(text, { [manifest.text_encoder.input]: { dtype: 'int64', dims: [1, L], data: ids } });
    const value = out[manifest.text_encoder.output];
    if (!value) throw new EngineError('invalid-argument', `text encoder: no output '${manifest.text_encoder.output}'`);
    const data = (await runner.read(value)).slice(); // [1, L, D]
    runner.release(value);
    if (data.length !== L * D) throw new EngineError('shape-mismatch', `text encoder: output has ${data.length} values, expected ${L}·${D}`);
    return data;
  };
}
