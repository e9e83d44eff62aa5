// The configs of the published models that `make-test-model` imitates, as their repositories hold them:
// Video-Infinity's VideoCrafter2 port (a UNetVideoCrafter folder, `adamdad/videocrafterv2_diffusers`)
// and ZeroScope v2 (`cerspense/zeroscope_v2_576w`, the same UNet3DConditionModel without fps). Key sets
// are those diffusers 0.29.1's save_pretrained writes (the narrow goldens' config shows the same set for
// UNetVideoCrafter); the values are the published architectures (widths 320/640/1280/1280, 2 layers
// per block, 1024-d OpenCLIP text, attention head dim 64).

const VC2_ARCH = {
  act_fn: 'silu',
  attention_head_dim: 64,
  block_out_channels: [320, 640, 1280, 1280],
  cross_attention_dim: 1024,
  down_block_types: ['CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'DownBlock3D'],
  downsample_padding: 1,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  out_channels: 4,
  up_block_types: ['UpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D'],
};

/** DDIM config of ZeroScope / ModelScope, as diffusers 0.29.1 writes it. */
const DDIM_SCHEDULER = {
  _class_name: 'DDIMScheduler', _diffusers_version: '0.29.1', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085,
  clip_sample: false, clip_sample_range: 1.0, dynamic_thresholding_ratio: 0.995, num_train_timesteps: 1000, prediction_type: 'epsilon',
  rescale_betas_zero_snr: false, sample_max_value: 1.0, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, thresholding: false,
  timestep_spacing: 'leading', trained_betas: null,
};

/**
 * Video-Infinity's sampler: DPMSolverMultistepScheduler.from_config(ZeroScope's DDIM config,
 * algorithm_type="sde-dpmsolver++"), as written by diffusers 0.29.1 — lambda_min_clipped is a bare
 * -Infinity there, which the config reader must accept; this file keeps it as a string and
 * make-test-model writes it bare.
 */
const VI_SCHEDULER_TEXT = JSON.stringify({
  _class_name: 'DPMSolverMultistepScheduler', _diffusers_version: '0.29.1', algorithm_type: 'sde-dpmsolver++', beta_end: 0.012,
  beta_schedule: 'scaled_linear', beta_start: 0.00085, clip_sample: false, dynamic_thresholding_ratio: 0.995, euler_at_final: false,
  final_sigmas_type: 'zero', lambda_min_clipped: '-Infinity', lower_order_final: true, num_train_timesteps: 1000, prediction_type: 'epsilon',
  rescale_betas_zero_snr: false, sample_max_value: 1.0, set_alpha_to_one: false, skip_prk_steps: true, solver_order: 2, solver_type: 'midpoint',
  steps_offset: 1, thresholding: false, timestep_spacing: 'linspace', trained_betas: null, use_karras_sigmas: false, use_lu_lambdas: false,
  variance_type: null,
}, null, 2).replace('"-Infinity"', '-Infinity');

export interface PublishedPreset {
  /** The repository it imitates. */
  repo: string;
  unetConfig: Record<string, unknown>;
  /** scheduler/scheduler_config.json, as text (Python's json may write bare -Infinity). */
  schedulerText: string;
  /** model_index.json of the pipeline folder. */
  modelIndex: Record<string, unknown>;
}

export const PUBLISHED_PRESETS: Record<'videocrafter2' | 'zeroscope', PublishedPreset> = {
  videocrafter2: {
    repo: 'adamdad/videocrafterv2_diffusers (UNet) + Video-Infinity scheduler',
    unetConfig: {
      _class_name: 'UNetVideoCrafter', _diffusers_version: '0.29.1', ...VC2_ARCH, fps_cond: true, num_attention_heads: null,
      sample_size: 64, time_cond_proj_dim: null,
    },
    schedulerText: VI_SCHEDULER_TEXT,
    modelIndex: {
      _class_name: 'VideoCrafterPipeline', _diffusers_version: '0.29.1',
      scheduler: ['diffusers', 'DPMSolverMultistepScheduler'], unet: ['video_crafter', 'UNetVideoCrafter'],
    },
  },
  zeroscope: {
    repo: 'cerspense/zeroscope_v2_576w',
    unetConfig: { _class_name: 'UNet3DConditionModel', _diffusers_version: '0.17.0.dev0', ...VC2_ARCH, sample_size: 32 },
    schedulerText: JSON.stringify(DDIM_SCHEDULER, null, 2),
    modelIndex: {
      _class_name: 'TextToVideoSDPipeline', _diffusers_version: '0.17.0.dev0',
      scheduler: ['diffusers', 'DDIMScheduler'], unet: ['diffusers', 'UNet3DConditionModel'],
    },
  },
};
