// Test models made by the tests (issue 4 §5): a random-weight package of the embedded model's
// architecture, written as real files (configs, safetensors, tokenizer), so compiler tests never
// depend on training progress. The weight list comes from running the compiler's own block code
// against a recording weight source, and training/model.py's strict load_state_dict accepts the
// result (checked by hand, see docs/model-package.md) — so names and shapes are the diffusers ones.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTextEncoderConfig, parseUNetConfig } from '../config.js';
import { buildTextEncoder } from '../compile/blocks/text-encoder.js';
import { PACKAGE_FILES } from '../compile/compile-model.js';
import { WholeScope } from '../compile/frame-scope.js';
import { Program } from '../compile/graph.js';
import { buildUNet } from '../compile/unet.js';
import { RecordingWeights, type TensorFill } from './recording-weights.js';
import { type TensorToWrite, writeSafetensors } from '../safetensors.js';
import { prng } from '../../testing/prng.js';

/** The tests' seeded PRNG (src/testing/prng.ts), re-exported: e2e/model-parity.spec.ts imports it from here. */
export { prng };

/** The embedded model's configs (docs/model-architecture.md §1, §4). */
export const TINY_UNET_CONFIG = {
  _class_name: 'UNet3DConditionModel',
  sample_size: 8, in_channels: 48, out_channels: 48,
  down_block_types: ['CrossAttnDownBlock3D', 'DownBlock3D'], up_block_types: ['UpBlock3D', 'CrossAttnUpBlock3D'],
  block_out_channels: [64, 64], layers_per_block: 1, downsample_padding: 1, mid_block_scale_factor: 1, act_fn: 'silu',
  norm_num_groups: 8, norm_eps: 1e-5, cross_attention_dim: 64, attention_head_dim: 8, num_attention_heads: null,
  fps_conditioning: true,
};
export const TINY_TEXT_CONFIG = {
  architectures: ['CLIPTextModel'], model_type: 'clip_text_model',
  vocab_size: 23, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4,
  max_position_embeddings: 16, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
};
const WORDS = ['a', 'background', 'black', 'blue', 'bouncing', 'circle', 'down', 'gray', 'green', 'left', 'moving', 'on',
  'orbiting', 'red', 'right', 'square', 'triangle', 'up', 'white', 'yellow'];
export const TINY_TOKENIZER = {
  type: 'word-level', lowercase: true, split: '[^a-z]+',
  vocab: Object.fromEntries(['<pad>', '<bos>', '<eos>', ...WORDS].map((w, i) => [w, i])),
  bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, max_length: 16,
};
export const TINY_SCHEDULER = {
  _class_name: 'DPMSolverMultistepScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012,
  beta_schedule: 'scaled_linear', prediction_type: 'epsilon',
};

/** The tests' random tensors: drawn from one sequential stream, in the order the compiler asks for them. */
function prngFill(rand: () => number): TensorFill {
  return (key, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNormWeight = /(norm[^.]*|layer_norm\d|final_layer_norm|conv\d\.0)\.weight$/.test(key) && shape.length === 1;
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    const scale = shape.length > 1 ? 1 / Math.sqrt(fanIn) : 0.1;
    for (let i = 0; i < n; i++) data[i] = (isNormWeight ? 1 : 0) + scale * (2 * rand() - 1) * (shape.length > 1 ? Math.sqrt(3) : 1);
    return data;
  };
}

/** Every recorded tensor, made in the order it was asked for, ready for writeSafetensors. */
function recorded(w: RecordingWeights): Record<string, TensorToWrite> {
  return Object.fromEntries([...w.shapes].map(([key, shape]) => [key, { dtype: 'F32' as const, shape, data: w.values(key) }]));
}

export interface TinyPackageOptions {
  seed?: number;
  unetConfig?: Record<string, unknown>;
  textConfig?: Record<string, unknown>;
}

/** Random weights for a UNet config and a text-encoder config, as safetensors bytes. */
export function randomWeights(opts: TinyPackageOptions = {}): { unet: Uint8Array; text: Uint8Array } {
  const rand = prng(opts.seed ?? 1234);
  const ucfg = parseUNetConfig(opts.unetConfig ?? TINY_UNET_CONFIG);
  const tcfg = parseTextEncoderConfig(opts.textConfig ?? TINY_TEXT_CONFIG);
  const uw = new RecordingWeights(prngFill(rand));
  const uc = { P: new Program('record'), W: uw, batch: 2 };
  buildUNet(uc, new WholeScope(uc, 'F'), ucfg, { height: ucfg.sampleSize, width: ucfg.sampleSize, textTokens: tcfg.maxPositionEmbeddings });
  const unet = recorded(uw); // drawn before the text encoder's, as they always were
  const tw = new RecordingWeights(prngFill(rand));
  buildTextEncoder(new Program('record'), tw, tcfg);
  return { unet: writeSafetensors(unet, { format: 'pt' }), text: writeSafetensors(recorded(tw), { format: 'pt' }) };
}

/** Write a complete random-weight package (without onnx/ and manifest.json) into `dir`. */
export function writeTinyPackage(dir: string, opts: TinyPackageOptions = {}): void {
  const F = PACKAGE_FILES;
  for (const sub of ['unet', 'text_encoder', 'scheduler']) mkdirSync(join(dir, sub), { recursive: true });
  const json = (path: string, obj: unknown) => writeFileSync(join(dir, path), JSON.stringify(obj, null, 2) + '\n');
  json(F.unetConfig, opts.unetConfig ?? TINY_UNET_CONFIG);
  json(F.textConfig, opts.textConfig ?? TINY_TEXT_CONFIG);
  json(F.tokenizer, TINY_TOKENIZER);
  json(F.scheduler, TINY_SCHEDULER);
  const w = randomWeights(opts);
  writeFileSync(join(dir, F.unetWeights), w.unet);
  writeFileSync(join(dir, F.textWeights), w.text);
}
