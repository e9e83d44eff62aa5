// Model configs: parse diffusers/transformers-style JSON once, validate it, return frozen camelCase
// objects (one parse boundary, nothing mutable). Keys stay snake_case on disk; unknown keys are an
// error unless listed as ignorable. Runs in Node and the browser. Must not import onnxruntime.

export class ConfigError extends Error {
  readonly code = 'bad-config';
}

type Json = Record<string, unknown>;

/**
 * Parse a config file as Python's json module writes it: diffusers saves float('-inf') as a bare
 * `-Infinity` (e.g. DPMSolverMultistepScheduler's lambda_min_clipped), which JSON.parse refuses. Bare
 * Infinity / -Infinity / NaN outside strings become those numbers.
 */
export function parsePythonJson(text: string): unknown {
  const marker = '__vi_python_float__';
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    const word = ['-Infinity', 'Infinity', 'NaN'].find((w) => text.startsWith(w, i));
    if (word) {
      out += `"${marker}${word}"`;
      i += word.length - 1;
    } else out += ch;
  }
  return JSON.parse(out, (_k, v) => (typeof v === 'string' && v.startsWith(marker) ? Number(v.slice(marker.length)) : v));
}

function reader(label: string, json: unknown, known: readonly string[], ignorable: readonly string[]) {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(`${label}: not a JSON object`);
  const obj = json as Json;
  const unknown = Object.keys(obj).filter((k) => !known.includes(k) && !ignorable.includes(k));
  if (unknown.length) throw new ConfigError(`${label}: unknown key(s) ${unknown.map((k) => `'${k}'`).join(', ')}`);
  const fail = (key: string, rule: string): never => {
    throw new ConfigError(`${label}: '${key}' = ${JSON.stringify(obj[key])} ${rule}`);
  };
  return {
    int(key: string, dflt?: number): number {
      const v = obj[key] ?? dflt;
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(key, 'must be a positive integer');
      return v as number;
    },
    num(key: string, dflt?: number): number {
      const v = obj[key] ?? dflt;
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(key, 'must be a finite number');
      return v as number;
    },
    str(key: string, allowed?: readonly string[], dflt?: string): string {
      const v = obj[key] ?? dflt;
      if (typeof v !== 'string' || (allowed && !allowed.includes(v))) fail(key, allowed ? `must be one of ${allowed.join(', ')}` : 'must be a string');
      return v as string;
    },
    bool(key: string, dflt: boolean): boolean {
      const v = obj[key] ?? dflt;
      if (typeof v !== 'boolean') fail(key, 'must be true or false');
      return v as boolean;
    },
    ints(key: string): number[] {
      const v = obj[key];
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x) && x > 0)) fail(key, 'must be a non-empty list of positive integers');
      return v as number[];
    },
    strs(key: string, allowed: readonly string[]): string[] {
      const v = obj[key];
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && allowed.includes(x))) {
        fail(key, `must be a non-empty list of ${allowed.join(' | ')}`);
      }
      return v as string[];
    },
    raw(key: string): unknown {
      return obj[key];
    },
    fail,
  };
}

// ---------------------------------------------------------------------------------------------
// UNet (diffusers UNet3DConditionModel; docs/model-architecture.md §1)

export type DownBlockType = 'CrossAttnDownBlock3D' | 'DownBlock3D';
export type UpBlockType = 'CrossAttnUpBlock3D' | 'UpBlock3D';

export interface UNetConfig {
  readonly sampleSize: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly downBlockTypes: readonly DownBlockType[];
  readonly upBlockTypes: readonly UpBlockType[];
  readonly blockOutChannels: readonly number[];
  readonly layersPerBlock: number;
  readonly normNumGroups: number;
  readonly normEps: number;
  readonly crossAttentionDim: number;
  /** Head count passed to the blocks: `num_attention_heads ?? attention_head_dim` (diffusers quirk, kept). */
  readonly blockHeadArg: number;
  /** `attention_head_dim` as written (the head dim of transformer_in). */
  readonly attentionHeadDim: number;
  readonly fpsConditioning: boolean;
}

const UNET_KEYS = [
  'sample_size', 'in_channels', 'out_channels', 'down_block_types', 'up_block_types', 'block_out_channels',
  'layers_per_block', 'downsample_padding', 'mid_block_scale_factor', 'act_fn', 'norm_num_groups', 'norm_eps',
  'cross_attention_dim', 'attention_head_dim', 'num_attention_heads', 'fps_conditioning', 'fps_cond', 'time_cond_proj_dim',
] as const;
const UNET_IGNORABLE = ['_class_name', '_diffusers_version', '_name_or_path'] as const;
/** Video-Infinity's UNet3DConditionModel subclass with VideoCrafter2's fps embedding (src/video_crafter.py). */
export const UNET_VIDEOCRAFTER = 'UNetVideoCrafter';

export function parseUNetConfig(json: unknown, label = 'unet/config.json'): UNetConfig {
  const r = reader(label, json, UNET_KEYS, UNET_IGNORABLE);
  const cls = r.raw('_class_name');
  if (cls !== undefined && cls !== 'UNet3DConditionModel' && cls !== UNET_VIDEOCRAFTER) r.fail('_class_name', `must be UNet3DConditionModel or ${UNET_VIDEOCRAFTER}`);
  // fps conditioning, three spellings: Video-Infinity's subclass writes `fps_cond` (default true for
  // that class), our embedded model `fps_conditioning`; plain UNet3DConditionModel has none.
  if (r.raw('fps_cond') !== undefined && r.raw('fps_conditioning') !== undefined && r.raw('fps_cond') !== r.raw('fps_conditioning')) {
    r.fail('fps_cond', `contradicts fps_conditioning = ${JSON.stringify(r.raw('fps_conditioning'))}`);
  }
  const fpsDefault = cls === UNET_VIDEOCRAFTER;
  const fpsConditioning = r.raw('fps_cond') !== undefined ? r.bool('fps_cond', fpsDefault) : r.bool('fps_conditioning', fpsDefault);
  const down = r.strs('down_block_types', ['CrossAttnDownBlock3D', 'DownBlock3D']) as DownBlockType[];
  const up = r.strs('up_block_types', ['CrossAttnUpBlock3D', 'UpBlock3D']) as UpBlockType[];
  const chans = r.ints('block_out_channels');
  if (down.length !== chans.length || up.length !== chans.length) {
    r.fail('block_out_channels', `must have one entry per down block (${down.length}) and up block (${up.length})`);
  }
  const groups = r.int('norm_num_groups', 32);
  for (const c of chans) if (c % groups) r.fail('norm_num_groups', `must divide every block_out_channels entry (${c})`);
  if (r.str('act_fn', ['silu'], 'silu') !== 'silu') r.fail('act_fn', 'must be silu');
  if (r.num('downsample_padding', 1) !== 1) r.fail('downsample_padding', 'must be 1');
  if (r.num('mid_block_scale_factor', 1) !== 1) r.fail('mid_block_scale_factor', 'must be 1');
  if (r.raw('time_cond_proj_dim') != null) r.fail('time_cond_proj_dim', 'must be null (not supported)');
  const headDim = r.int('attention_head_dim', 64);
  const nh = r.raw('num_attention_heads');
  if (nh !== undefined && nh !== null) r.int('num_attention_heads');
  const blockHeadArg = (nh as number | null | undefined) ?? headDim;
  for (const c of chans) if (c % blockHeadArg) r.fail('attention_head_dim', `must divide every block_out_channels entry (${c})`);
  return Object.freeze({
    sampleSize: r.int('sample_size', 64),
    inChannels: r.int('in_channels', 4),
    outChannels: r.int('out_channels', 4),
    downBlockTypes: Object.freeze(down),
    upBlockTypes: Object.freeze(up),
    blockOutChannels: Object.freeze(chans),
    layersPerBlock: r.int('layers_per_block', 2),
    normNumGroups: groups,
    normEps: r.num('norm_eps', 1e-5),
    crossAttentionDim: r.int('cross_attention_dim', 1024),
    blockHeadArg,
    attentionHeadDim: headDim,
    fpsConditioning,
  });
}

// ---------------------------------------------------------------------------------------------
// Text encoder (transformers CLIPTextConfig; docs/model-architecture.md §4)

export interface TextEncoderConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly maxPositionEmbeddings: number;
  readonly hiddenAct: 'quick_gelu' | 'gelu';
  readonly layerNormEps: number;
}

const TEXT_KEYS = [
  'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
  'max_position_embeddings', 'hidden_act', 'layer_norm_eps',
] as const;
const TEXT_IGNORABLE = [
  '_name_or_path', 'architectures', 'model_type', 'torch_dtype', 'transformers_version', 'bos_token_id', 'eos_token_id',
  'pad_token_id', 'projection_dim', 'initializer_range', 'initializer_factor', 'attention_dropout', 'dropout',
] as const;

export function parseTextEncoderConfig(json: unknown, label = 'text_encoder/config.json'): TextEncoderConfig {
  const r = reader(label, json, TEXT_KEYS, TEXT_IGNORABLE);
  const hidden = r.int('hidden_size');
  const heads = r.int('num_attention_heads');
  if (hidden % heads) r.fail('num_attention_heads', `must divide hidden_size (${hidden})`);
  return Object.freeze({
    vocabSize: r.int('vocab_size'),
    hiddenSize: hidden,
    intermediateSize: r.int('intermediate_size'),
    numHiddenLayers: r.int('num_hidden_layers'),
    numAttentionHeads: heads,
    maxPositionEmbeddings: r.int('max_position_embeddings'),
    hiddenAct: r.str('hidden_act', ['quick_gelu', 'gelu'], 'quick_gelu') as 'quick_gelu' | 'gelu',
    layerNormEps: r.num('layer_norm_eps', 1e-5),
  });
}

// ---------------------------------------------------------------------------------------------
// Scheduler (diffusers scheduler_config.json; only what the engine's samplers need)

export interface SchedulerConfig {
  readonly numTrainTimesteps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly betaSchedule: 'scaled_linear' | 'linear';
  readonly predictionType: 'epsilon' | 'v_prediction';
}

const SCHED_KEYS = ['num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule', 'prediction_type'] as const;
const SCHED_IGNORABLE = [
  '_class_name', '_diffusers_version', 'clip_sample', 'set_alpha_to_one', 'steps_offset', 'skip_prk_steps',
  'trained_betas', 'timestep_spacing', 'rescale_betas_zero_snr', 'sample_max_value', 'thresholding',
  'dynamic_thresholding_ratio', 'clip_sample_range',
  // DPMSolverMultistepScheduler (Video-Infinity's sampler) and newer diffusers releases: sampling
  // options, not part of the noise schedule the engine reads.
  'solver_order', 'algorithm_type', 'solver_type', 'lower_order_final', 'euler_at_final', 'use_karras_sigmas',
  'use_exponential_sigmas', 'use_beta_sigmas', 'use_lu_lambdas', 'use_flow_sigmas', 'flow_shift', 'final_sigmas_type',
  'lambda_min_clipped', 'variance_type', 'interpolation_type', 'use_dynamic_shifting', 'time_shift_type',
] as const;
/** Scheduler classes whose config carries the DDPM noise schedule that the engine's samplers rebuild. */
const SCHEDULER_CLASSES = [
  'DDIMScheduler', 'DDPMScheduler', 'DPMSolverMultistepScheduler', 'DPMSolverSinglestepScheduler', 'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler', 'PNDMScheduler', 'LMSDiscreteScheduler', 'UniPCMultistepScheduler', 'DEISMultistepScheduler',
] as const;

export function parseSchedulerConfig(json: unknown, label = 'scheduler/scheduler_config.json'): SchedulerConfig {
  const r = reader(label, json, SCHED_KEYS, SCHED_IGNORABLE);
  const cls = r.raw('_class_name');
  if (cls !== undefined && !(SCHEDULER_CLASSES as readonly unknown[]).includes(cls)) r.fail('_class_name', `must be one of ${SCHEDULER_CLASSES.join(', ')}`);
  if (r.raw('trained_betas') != null) r.fail('trained_betas', 'must be null (explicit betas are not supported)');
  if (r.raw('rescale_betas_zero_snr') === true) r.fail('rescale_betas_zero_snr', 'must be false (zero-SNR rescaling is not supported)');
  return Object.freeze({
    numTrainTimesteps: r.int('num_train_timesteps', 1000),
    betaStart: r.num('beta_start', 0.00085),
    betaEnd: r.num('beta_end', 0.012),
    betaSchedule: r.str('beta_schedule', ['scaled_linear', 'linear'], 'scaled_linear') as 'scaled_linear' | 'linear',
    predictionType: r.str('prediction_type', ['epsilon', 'v_prediction'], 'epsilon') as 'epsilon' | 'v_prediction',
  });
}

// ---------------------------------------------------------------------------------------------
// VAE (diffusers AutoencoderKL config.json; only the decoder is compiled, docs/real-model.md)

export interface VaeConfig {
  readonly latentChannels: number;
  readonly outChannels: number;
  readonly blockOutChannels: readonly number[];
  readonly layersPerBlock: number;
  readonly normNumGroups: number;
  /** Latents of the diffusion model are the VAE's latents times this (decode divides by it). */
  readonly scalingFactor: number;
  readonly usePostQuantConv: boolean;
  readonly midBlockAddAttention: boolean;
  /** Pixels per latent along each axis: 2^(levels − 1) (8 for SD's VAE). */
  readonly upscale: number;
}

const VAE_KEYS = [
  'in_channels', 'out_channels', 'down_block_types', 'up_block_types', 'block_out_channels', 'layers_per_block', 'act_fn',
  'latent_channels', 'norm_num_groups', 'scaling_factor', 'shift_factor', 'latents_mean', 'latents_std', 'use_quant_conv',
  'use_post_quant_conv', 'mid_block_add_attention',
] as const;
/** sample_size only sets the tile size of diffusers' tiled decoding; force_upcast is a dtype hint for pipelines. */
const VAE_IGNORABLE = ['_class_name', '_diffusers_version', '_name_or_path', 'sample_size', 'force_upcast'] as const;

export function parseVaeConfig(json: unknown, label = 'vae/config.json'): VaeConfig {
  const r = reader(label, json, VAE_KEYS, VAE_IGNORABLE);
  const cls = r.raw('_class_name');
  if (cls !== undefined && cls !== 'AutoencoderKL') r.fail('_class_name', 'must be AutoencoderKL');
  const chans = r.ints('block_out_channels');
  const up = r.strs('up_block_types', ['UpDecoderBlock2D']);
  if (up.length !== chans.length) r.fail('up_block_types', `must have one entry per block_out_channels entry (${chans.length})`);
  if (r.raw('down_block_types') !== undefined) r.strs('down_block_types', ['DownEncoderBlock2D']);
  const groups = r.int('norm_num_groups', 32);
  for (const c of chans) if (c % groups) r.fail('norm_num_groups', `must divide every block_out_channels entry (${c})`);
  if (r.str('act_fn', ['silu'], 'silu') !== 'silu') r.fail('act_fn', 'must be silu');
  const outChannels = r.int('out_channels', 3);
  if (outChannels !== 3) r.fail('out_channels', 'must be 3 (RGB frames)');
  const scalingFactor = r.num('scaling_factor', 0.18215);
  if (!(scalingFactor > 0)) r.fail('scaling_factor', 'must be positive');
  // Latent normalisations that text-to-video pipelines of the UNet3D family do not apply: refuse
  // rather than decode with a silently different un-scaling.
  for (const k of ['shift_factor', 'latents_mean', 'latents_std']) if (r.raw(k) != null) r.fail(k, 'must be null (only scaling_factor is supported)');
  r.bool('use_quant_conv', true); // encoder side: read for validation, not compiled
  return Object.freeze({
    latentChannels: r.int('latent_channels', 4),
    outChannels,
    blockOutChannels: Object.freeze(chans),
    layersPerBlock: r.int('layers_per_block', 1),
    normNumGroups: groups,
    scalingFactor,
    usePostQuantConv: r.bool('use_post_quant_conv', true),
    midBlockAddAttention: r.bool('mid_block_add_attention', true),
    upscale: 2 ** (chans.length - 1),
  });
}
