// Compiles a published diffusers VAE folder (`vae/`: config.json + diffusion_pytorch_model.safetensors,
// or shards) into the package's decoder graph `onnx/vae_decoder.onnx`, its weights as ONNX external
// data, and the manifest's `vae` entry with the per-step preview map (vae-preview.ts). Node only.
//
// Weights: the decoder's keys (`post_quant_conv.*`, `decoder.*`) are each used exactly once, as in the
// UNet. The encoder's (`encoder.*`, `quant_conv.*`) are never compiled: text-to-video decodes only, and
// a decoder-only checkpoint is accepted too. The mid-block attention may use diffusers' current names
// (to_q, to_k, to_v, to_out.0) or the deprecated ones of older checkpoints (query, key, value,
// proj_attn); like diffusers' loader (`_convert_deprecated_attention_blocks`), the old are read as the new.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ConfigError, type VaeConfig, parsePythonJson, parseVaeConfig } from '../config.js';
import type { LatentDecode, VaeEntry } from '../manifest.js';
import type { TensorEntry, TensorReader } from '../safetensors.js';
import { VAE_DECODER_IO, buildVaeDecoder } from './blocks/vae-decoder.js';
import { openCheckpoint } from './checkpoint-reader.js';
import { EXTERNAL_SHARD_BYTES, ExternalData } from './external-data.js';
import { type GraphDef, Program } from './graph.js';
import { serializeGraph } from './onnx-writer.js';
import { type LatentPreviewFit, PREVIEW_FIT, fitLatentPreview } from './vae-preview.js';
import { WeightError, WeightStore } from './weights.js';

/** Package paths of the VAE. */
export const VAE_FILES = {
  config: 'vae/config.json',
  onnx: 'onnx/vae_decoder.onnx',
  /** Stem of the decoder's weight shards in onnx/ (ONNX external data). */
  weightsStem: 'vae_decoder_weights',
} as const;

/** Deprecated attention names (diffusers' old AttentionBlock) → current ones, for the mid-block attention. */
const DEPRECATED_ATTENTION = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' } as const;
const ENCODER_ONLY = /^(encoder\.|quant_conv\.)/;
const DEPRECATED_KEY = /^(decoder\.mid_block\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$/;

/**
 * The checkpoint as the decoder sees it: encoder keys left out, deprecated attention names renamed.
 * A checkpoint holding both spellings of one weight is an error that names both keys.
 */
export function decoderWeights(file: TensorReader): TensorReader {
  const entries = new Map<string, TensorEntry>();
  const source = new Map<string, string>();
  for (const [key, e] of file.entries) {
    if (ENCODER_ONLY.test(key)) continue;
    const m = DEPRECATED_KEY.exec(key);
    const name = m ? `${m[1]}.${DEPRECATED_ATTENTION[m[2] as keyof typeof DEPRECATED_ATTENTION]}.${m[3]}` : key;
    if (entries.has(name)) throw new WeightError(`${file.label}: '${source.get(name)}' and '${key}' are the same weight (old and new attention names); keep one`);
    entries.set(name, e);
    source.set(name, key);
  }
  const original = (name: string) => source.get(name) ?? name;
  return {
    label: file.label,
    entries,
    has: (name) => entries.has(name),
    entry: (name) => file.entry(original(name)),
    float32: (name) => file.float32(original(name)),
  };
}

/** The decoder graph for latents of height×width (frame count dynamic). Every decoder weight must be used. */
export function compileVaeDecoder(cfg: VaeConfig, weights: TensorReader, height: number, width: number): GraphDef {
  const P = new Program('vae_decoder');
  const W = new WeightStore(decoderWeights(weights));
  buildVaeDecoder({ P, W, batch: 1 }, cfg, height, width);
  W.assertAllConsumed();
  return P.segments[0]!.graph;
}

/**
 * Working memory of decoding one frame, float32: the three largest activations live at once in the
 * widest stage (a resnet's input, its norm output and its conv output) plus the mid-block attention's
 * logits. An estimate for sizing frame batches, not a measurement.
 */
export function vaeBytesPerFrame(cfg: VaeConfig, height: number, width: number): number {
  const rev = [...cfg.blockOutChannels].reverse();
  let largest = 0;
  rev.forEach((ch, i) => {
    const s = 2 ** i;
    const up = i < rev.length - 1 ? 2 : 1; // the upsampler's output, at the next stage's size
    largest = Math.max(largest, ch * height * width * s * s * up * up);
  });
  const tokens = height * width;
  return 4 * (3 * largest + (cfg.midBlockAddAttention ? tokens * tokens : 0));
}

export interface CompileVaeOptions {
  /** Latent height and width the graph is compiled for (the UNet's). */
  height: number;
  width: number;
  /** Largest weight shard in bytes (default EXTERNAL_SHARD_BYTES). */
  shardBytes?: number;
  log?: (line: string) => void;
}

export interface CompiledVae {
  /** manifest.latent.decode */
  decode: Extract<LatentDecode, { kind: 'vae' }>;
  /** manifest.vae (paths relative to the package) */
  vae: VaeEntry;
  /** Latent channels: must equal the UNet's in/out channels. */
  latentChannels: number;
}

/**
 * Compiles the VAE folder `vaeDir` into the package at `pkgDir`: copies config.json to vae/config.json,
 * writes onnx/vae_decoder.onnx and its weight shards onnx/vae_decoder_weights_NNN.bin, and fits the
 * preview map on a small decoder of the same weights. Returns the manifest's decode and vae entries
 * (the caller lists the files and writes the manifest).
 */
export async function compileVae(vaeDir: string, pkgDir: string, opts: CompileVaeOptions): Promise<CompiledVae> {
  const log = opts.log ?? (() => {});
  const configPath = join(vaeDir, 'config.json');
  if (!existsSync(configPath)) throw new ConfigError(`${vaeDir}: missing config.json (a diffusers AutoencoderKL folder)`);
  let json: unknown;
  try {
    json = parsePythonJson(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${configPath}: not valid JSON (${(e as Error).message})`);
  }
  const cfg = parseVaeConfig(json, configPath);
  const weights = openCheckpoint(vaeDir);
  const { height, width } = opts;
  for (const [k, v] of Object.entries({ height, width })) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`compileVae: latent ${k} ${v} must be a positive integer`);
  }

  const t0 = Date.now();
  const graph = compileVaeDecoder(cfg, weights, height, width);
  const onnxDir = join(pkgDir, dirname(VAE_FILES.onnx));
  mkdirSync(onnxDir, { recursive: true });
  mkdirSync(join(pkgDir, dirname(VAE_FILES.config)), { recursive: true });
  copyFileSync(configPath, join(pkgDir, VAE_FILES.config));
  const shards = new ExternalData(VAE_FILES.weightsStem, opts.shardBytes ?? EXTERNAL_SHARD_BYTES, onnxDir);
  try {
    const s = cfg.upscale;
    writeFileSync(join(pkgDir, VAE_FILES.onnx), serializeGraph(graph, `AutoencoderKL decoder: ${VAE_DECODER_IO.input} [N, ${cfg.latentChannels}, ${height}, ${width}] -> ${VAE_DECODER_IO.output} [N, 3, ${s * height}, ${s * width}]`, shards));
  } finally {
    shards.close();
  }
  const external = shards.shardList().map((x) => `${dirname(VAE_FILES.onnx)}/${x.location}`);
  log(`VAE decoder: ${(shards.byteLength / 1e6).toFixed(2)} MB of weights in ${external.length} shard(s), built in ${Date.now() - t0} ms`);

  const t1 = Date.now();
  const preview: LatentPreviewFit = await fitPreview(cfg, weights);
  log(`latent preview map fitted in ${Date.now() - t1} ms (R² ${preview.r2.toFixed(3)} on its samples)`);
  return {
    decode: { kind: 'vae', scaling_factor: cfg.scalingFactor },
    vae: {
      config: VAE_FILES.config,
      onnx: VAE_FILES.onnx,
      input: VAE_DECODER_IO.input,
      output: VAE_DECODER_IO.output,
      external_data: external,
      upscale: cfg.upscale,
      bytes_per_frame: vaeBytesPerFrame(cfg, height, width),
      latent_preview: preview,
    },
    latentChannels: cfg.latentChannels,
  };
}

/** The preview map of a VAE, fitted on a small decoder (8×8 latents) built from the same weights. */
export async function fitPreview(cfg: VaeConfig, weights: TensorReader): Promise<LatentPreviewFit> {
  const { height: h, width: w } = PREVIEW_FIT;
  const C = cfg.latentChannels;
  const small = compileVaeDecoder(cfg, weights, h, w);
  // onnxruntime-node's CPU provider, weights inline (the small graph is only ever used here).
  const session = await ort.InferenceSession.create(serializeGraph(small, 'VAE decoder (preview fit)'), { executionProviders: ['cpu'] });
  try {
    return await fitLatentPreview(async (latents, n) => {
      const out = await session.run({ [VAE_DECODER_IO.input]: new ort.Tensor('float32', latents, [n, C, h, w]) });
      return out[VAE_DECODER_IO.output]!.data as Float32Array;
    }, C, cfg.upscale);
  } finally {
    await session.release();
  }
}
