// Import a diffusers text-to-video model as published (a UNet3DConditionModel folder, or Video-Infinity's
// VideoCrafter2 port with fps conditioning, plus optionally the text encoder, tokenizer, VAE and
// scheduler of a pipeline folder) into a package directory: the UNet compiled to ONNX graphs (whole and
// segmented, weights once in shared shards), the configs copied, and `import.json` recording what was
// read. The UNet weights are read one tensor at a time, so a checkpoint of any size fits in memory.
// The text encoder and VAE are validated and recorded here; compiling them is the latent/text
// pipeline's job (a separate step), so no manifest.json is written yet.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, type UNetConfig, UNET_VIDEOCRAFTER, parsePythonJson, parseSchedulerConfig, parseTextEncoderConfig, parseUNetConfig } from '../config.js';
import type { SegmentPlan } from '../segment-plan.js';
import { DIFFUSERS_WEIGHTS_STEM, openCheckpoint } from './checkpoint-reader.js';
import { PACKAGE_FILES, compileUNet, listFiles, writeUNetGraphs } from './compile-model.js';
import { hashFile } from './file-hash.js';
import type { Numerics } from './numerics.js';

/** Where each component's folder is (diffusers layout: config.json + weights inside each). */
export interface ImportSources {
  unet: string;
  textEncoder?: string;
  tokenizer?: string;
  vae?: string;
  /** A scheduler folder (scheduler_config.json) or the file itself. */
  scheduler?: string;
}

export interface ImportOptions {
  /** Package directory to write (its onnx/ is replaced). */
  out: string;
  /** Video size in pixels; default VideoCrafter2's 320×512 for the fps-conditioned port, else sample_size × VAE factor, square. */
  height?: number;
  width?: number;
  /** CFG batch compiled in (default 2). */
  batch?: number;
  /** Text tokens per prompt (default: the text encoder's max_position_embeddings, else CLIP's 77). */
  textTokens?: number;
  shardBytes?: number;
  numerics?: Numerics;
  /** With float16 weights: also write the float16-compute graph set beside the float32 one (default true; float16-compute.ts). */
  float16Compute?: boolean;
  log?: (line: string) => void;
}

/** VideoCrafter2's native video size (Video-Infinity renders 320×512). */
export const VIDEOCRAFTER2_PIXELS = { height: 320, width: 512 } as const;
/** Tokens per prompt of the CLIP text encoders these models use, when no text encoder is given. */
const CLIP_CONTEXT_LENGTH = 77;
/** SD-family VAEs downsample by 8 (2^(len(block_out_channels) − 1) with 4 levels). */
const DEFAULT_VAE_FACTOR = 8;

export interface ImportRecord {
  format: 'vi-import';
  version: 1;
  unet: {
    class: string;
    fps_conditioning: boolean;
    pixels: { height: number; width: number };
    latent: { channels: number; height: number; width: number };
    batch: number;
    segments: number;
    exchange_points: number;
    parameters: number;
    checkpoint: string;
    /** Storage precision of the weight shards (numerics.ts). */
    precision: 'float32' | 'float16';
  };
  components: Record<string, { source: string; status: string }>;
  files: Record<string, { bytes: number; sha256: string }>;
}

function readJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new ConfigError(`missing ${path}`);
  try {
    return parsePythonJson(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** The component folders of a diffusers pipeline folder (model_index.json names them). */
export function pipelineSources(dir: string): ImportSources {
  const index = readJson(join(dir, 'model_index.json'));
  const has = (name: string) => (name in index && existsSync(join(dir, name)) ? join(dir, name) : undefined);
  const unet = has('unet');
  if (!unet) throw new ConfigError(`${dir}/model_index.json: no unet folder`);
  return { unet, textEncoder: has('text_encoder'), tokenizer: has('tokenizer'), vae: has('vae'), scheduler: has('scheduler') };
}

/** Latent size for a video size; every level of the UNet must halve it exactly. */
export function latentSize(cfg: UNetConfig, pixels: { height: number; width: number }, vaeFactor: number): { height: number; width: number } {
  const step = vaeFactor * 2 ** (cfg.blockOutChannels.length - 1);
  for (const [name, v] of Object.entries(pixels)) {
    if (!Number.isInteger(v) || v <= 0 || v % step) {
      throw new ConfigError(`${name} ${v} px: must be a positive multiple of ${step} (VAE factor ${vaeFactor} × 2^${cfg.blockOutChannels.length - 1} UNet downsamplings)`);
    }
  }
  return { height: pixels.height / vaeFactor, width: pixels.width / vaeFactor };
}

function vaeFactorOf(vaeDir: string | undefined): number {
  if (!vaeDir) return DEFAULT_VAE_FACTOR;
  const cfg = readJson(join(vaeDir, 'config.json'));
  const levels = cfg.block_out_channels;
  if (!Array.isArray(levels) || levels.length === 0) throw new ConfigError(`${vaeDir}/config.json: 'block_out_channels' must be a non-empty list`);
  return 2 ** (levels.length - 1);
}

/** Import the model; returns what import.json records. */
export function importModel(src: ImportSources, opts: ImportOptions): ImportRecord {
  const log = opts.log ?? (() => {});
  const out = opts.out;
  const unetConfigJson = readJson(join(src.unet, 'config.json'));
  const cfg = parseUNetConfig(unetConfigJson, join(src.unet, 'config.json'));
  const vaeFactor = vaeFactorOf(src.vae);
  const pixels = {
    height: opts.height ?? (cfg.fpsConditioning ? VIDEOCRAFTER2_PIXELS.height : cfg.sampleSize * vaeFactor),
    width: opts.width ?? (cfg.fpsConditioning ? VIDEOCRAFTER2_PIXELS.width : cfg.sampleSize * vaeFactor),
  };
  const latent = latentSize(cfg, pixels, vaeFactor);
  const components: ImportRecord['components'] = {};

  // Check the other components before the long UNet compile, so a bad folder fails fast.
  let textTokens = opts.textTokens ?? CLIP_CONTEXT_LENGTH;
  if (src.textEncoder) {
    const tcfg = parseTextEncoderConfig(readJson(join(src.textEncoder, 'config.json')), join(src.textEncoder, 'config.json'));
    if (tcfg.hiddenSize !== cfg.crossAttentionDim) {
      throw new ConfigError(`${src.textEncoder}/config.json: hidden_size ${tcfg.hiddenSize} != UNet cross_attention_dim ${cfg.crossAttentionDim}`);
    }
    const w = openCheckpoint(src.textEncoder, 'model');
    if (opts.textTokens !== undefined && opts.textTokens !== tcfg.maxPositionEmbeddings) {
      throw new ConfigError(`text tokens ${opts.textTokens} != text encoder max_position_embeddings ${tcfg.maxPositionEmbeddings}`);
    }
    textTokens = tcfg.maxPositionEmbeddings;
    components.text_encoder = { source: resolve(src.textEncoder), status: `checked: ${w.entries.size} tensors, ${tcfg.numHiddenLayers} layers, hidden ${tcfg.hiddenSize}; not compiled here` };
  }
  if (src.vae) {
    const w = openCheckpoint(src.vae, DIFFUSERS_WEIGHTS_STEM);
    components.vae = { source: resolve(src.vae), status: `checked: ${w.entries.size} tensors, factor ${vaeFactor}; not compiled here` };
  }
  if (src.tokenizer) {
    if (!existsSync(join(src.tokenizer, 'vocab.json')) && !existsSync(join(src.tokenizer, 'tokenizer.json'))) {
      throw new ConfigError(`${src.tokenizer}: no vocab.json or tokenizer.json`);
    }
    components.tokenizer = { source: resolve(src.tokenizer), status: 'copied' };
  }
  const schedulerFile = src.scheduler && (src.scheduler.endsWith('.json') ? src.scheduler : join(src.scheduler, 'scheduler_config.json'));
  if (schedulerFile) {
    const s = parseSchedulerConfig(readJson(schedulerFile), schedulerFile);
    components.scheduler = { source: resolve(schedulerFile), status: `${s.betaSchedule} betas ${s.betaStart}..${s.betaEnd}, ${s.numTrainTimesteps} steps, ${s.predictionType}` };
  }

  const weights = openCheckpoint(src.unet, DIFFUSERS_WEIGHTS_STEM);
  const parameters = [...weights.entries.values()].reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  const batch = opts.batch ?? 2;
  const t0 = Date.now();
  const unetShape = { height: latent.height, width: latent.width, textTokens };
  const unet = compileUNet(cfg, weights, unetShape, batch, opts.numerics);
  // A [uncond, cond] package also carries the batch-1 graphs of a guidance split (same weights, same shards).
  const branch = batch === 2 ? compileUNet(cfg, weights, unetShape, 1, opts.numerics) : undefined;
  log(`UNet ${cfg.fpsConditioning ? UNET_VIDEOCRAFTER : 'UNet3DConditionModel'}: ${(parameters / 1e9).toFixed(3)} G parameters; ` +
    `${unet.segments.length} segments, ${unet.plan.exchangePoints.length} exchange points at ${pixels.height}×${pixels.width} px (latent ${latent.height}×${latent.width}), built in ${Date.now() - t0} ms`);

  rmSync(join(out, PACKAGE_FILES.onnxDir), { recursive: true, force: true });
  mkdirSync(join(out, 'unet'), { recursive: true });
  const plan: SegmentPlan = writeUNetGraphs(out, unet, opts.shardBytes, log, opts.numerics?.precision === 'float16' && (opts.float16Compute ?? true), branch);
  log(`wrote the UNet graphs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  writeFileSync(join(out, PACKAGE_FILES.unetConfig), JSON.stringify(unetConfigJson, null, 2) + '\n');
  if (schedulerFile) {
    mkdirSync(join(out, 'scheduler'), { recursive: true });
    copyFileSync(schedulerFile, join(out, PACKAGE_FILES.scheduler));
  }
  for (const [name, dir] of [['text_encoder', src.textEncoder], ['vae', src.vae], ['tokenizer', src.tokenizer]] as const) {
    if (!dir) continue;
    mkdirSync(join(out, name), { recursive: true });
    // Configs and tokenizer files only; the weights stay where they are until their compiler reads them.
    for (const f of listFiles(dir).filter((p) => /\.(json|txt)$/.test(p) && !p.includes('/'))) copyFileSync(join(dir, f), join(out, name, f));
  }

  const files: ImportRecord['files'] = {};
  for (const path of listFiles(out).filter((p) => p !== 'import.json').sort()) files[path] = hashFile(join(out, path));
  const record: ImportRecord = {
    format: 'vi-import',
    version: 1,
    unet: {
      class: typeof unetConfigJson._class_name === 'string' ? unetConfigJson._class_name : 'UNet3DConditionModel',
      fps_conditioning: cfg.fpsConditioning,
      pixels,
      latent: { channels: cfg.inChannels, ...latent },
      batch,
      segments: plan.segments.length,
      exchange_points: plan.exchangePoints.length,
      parameters,
      checkpoint: resolve(src.unet),
      precision: opts.numerics?.precision ?? 'float32',
    },
    components,
    files,
  };
  writeFileSync(join(out, 'import.json'), JSON.stringify(record, null, 2) + '\n');
  return record;
}
