import { describe, expect, it } from 'vitest';
import { parsePythonJson, parseSchedulerConfig, parseTextEncoderConfig, parseUNetConfig } from './config.js';
import { PUBLISHED_PRESETS } from './testing/published-presets.js';
import { TINY_TEXT_CONFIG, TINY_UNET_CONFIG } from './testing/tiny-model.js';

/** adamdad/videocrafterv2_diffusers unet/config.json (the diffusers conversion of VideoCrafter2). */
const VC2 = {
  _class_name: 'UNet3DConditionModel', _diffusers_version: '0.24.0', sample_size: 64, in_channels: 4, out_channels: 4,
  down_block_types: ['CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'CrossAttnDownBlock3D', 'DownBlock3D'],
  up_block_types: ['UpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D', 'CrossAttnUpBlock3D'],
  block_out_channels: [320, 640, 1280, 1280], layers_per_block: 2, downsample_padding: 1, mid_block_scale_factor: 1,
  act_fn: 'silu', norm_num_groups: 32, norm_eps: 1e-5, cross_attention_dim: 1024, attention_head_dim: 64, num_attention_heads: null,
};

describe('parseUNetConfig', () => {
  it('parses the embedded config, frozen, camelCase, with the head-count quirk', () => {
    const c = parseUNetConfig(TINY_UNET_CONFIG);
    expect(c.blockHeadArg).toBe(8);
    expect(c.fpsConditioning).toBe(true);
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('accepts the real VideoCrafter2 config', () => {
    const c = parseUNetConfig(VC2);
    expect(c.blockOutChannels).toEqual([320, 640, 1280, 1280]);
    expect(c.blockHeadArg).toBe(64);
    expect(c.fpsConditioning).toBe(false);
  });
  it('names unknown keys and bad values', () => {
    expect(() => parseUNetConfig({ ...TINY_UNET_CONFIG, foo: 1 })).toThrow(/unknown key\(s\) 'foo'/);
    expect(() => parseUNetConfig({ ...TINY_UNET_CONFIG, act_fn: 'gelu' })).toThrow(/'act_fn' = "gelu" must be one of silu/);
    expect(() => parseUNetConfig({ ...TINY_UNET_CONFIG, block_out_channels: [32] })).toThrow(/one entry per down block/);
    expect(() => parseUNetConfig({ ...TINY_UNET_CONFIG, down_block_types: ['DownBlock2D', 'DownBlock3D'] })).toThrow(/down_block_types/);
  });
});

describe('parseTextEncoderConfig', () => {
  it('parses the embedded text config and ignores transformers bookkeeping keys', () => {
    expect(parseTextEncoderConfig(TINY_TEXT_CONFIG).hiddenSize).toBe(64);
  });
  it('rejects heads that do not divide the hidden size', () => {
    expect(() => parseTextEncoderConfig({ ...TINY_TEXT_CONFIG, num_attention_heads: 5 })).toThrow(/must divide hidden_size/);
  });
});

describe('published configs (issue 15)', () => {
  it("maps the VideoCrafter2 port's fps key: fps_cond, or the UNetVideoCrafter class default", () => {
    expect(parseUNetConfig({ ...VC2, _class_name: 'UNetVideoCrafter', fps_cond: true }).fpsConditioning).toBe(true);
    expect(parseUNetConfig({ ...VC2, _class_name: 'UNetVideoCrafter' }).fpsConditioning).toBe(true); // the subclass defaults fps_cond=True
    expect(parseUNetConfig({ ...VC2, _class_name: 'UNetVideoCrafter', fps_cond: false }).fpsConditioning).toBe(false);
    expect(() => parseUNetConfig({ ...VC2, fps_cond: true, fps_conditioning: false })).toThrow(/'fps_cond' = true contradicts fps_conditioning/);
    expect(() => parseUNetConfig({ ...VC2, _class_name: 'UNet2DConditionModel' })).toThrow(/must be UNet3DConditionModel or UNetVideoCrafter/);
  });

  it("accepts the scheduler configs of ZeroScope (DDIM) and Video-Infinity (DPM-Solver++ with a bare -Infinity), as diffusers writes them", () => {
    const ddim = {
      _class_name: 'DDIMScheduler', _diffusers_version: '0.17.0.dev0', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085,
      clip_sample: false, num_train_timesteps: 1000, prediction_type: 'epsilon', set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null,
    };
    expect(parseSchedulerConfig(ddim).betaEnd).toBe(0.012);
    const dpm = parsePythonJson(PUBLISHED_PRESETS.videocrafter2.schedulerText) as Record<string, unknown>;
    expect(dpm.lambda_min_clipped).toBe(-Infinity);
    expect(parseSchedulerConfig(dpm)).toMatchObject({ numTrainTimesteps: 1000, betaSchedule: 'scaled_linear', predictionType: 'epsilon' });
    expect(() => parseSchedulerConfig({ ...ddim, rescale_betas_zero_snr: true })).toThrow(/rescale_betas_zero_snr/);
    expect(() => parseSchedulerConfig({ ...ddim, _class_name: 'FlowMatchEulerDiscreteScheduler' })).toThrow(/_class_name/);
  });

  it('reads bare Infinity/NaN only in value position, never inside strings', () => {
    expect(parsePythonJson('{"a": -Infinity, "b": [NaN, Infinity], "c": "x: -Infinity,"}')).toEqual({ a: -Infinity, b: [NaN, Infinity], c: 'x: -Infinity,' });
  });
});
