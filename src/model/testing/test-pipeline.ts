// Random-weight pipeline folders in the published diffusers layout (what `npm run make-test-model`
// writes and the real-model tests import): model_index.json, unet/config.json +
// unet/diffusion_pytorch_model.safetensors (or shards), scheduler/scheduler_config.json, and for
// the narrow preset text_encoder/, tokenizer/ and vae/ too. Key lists come from the compiler's own
// block code (RecordingWeights), values from the seeded generator, and tensors are made and written
// one at a time, so a full-size UNet (1.4 G parameters, 5.6 GB) needs little memory. Node only.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTextEncoderConfig, parseUNetConfig, parseVaeConfig } from '../config.js';
import { buildTextEncoder } from '../compile/blocks/text-encoder.js';
import { buildVaeDecoder } from '../compile/blocks/vae-decoder.js';
import { writeCheckpoint } from '../compile/checkpoint-writer.js';
import { WholeScope } from '../compile/frame-scope.js';
import { Program } from '../compile/graph.js';
import { buildUNet } from '../compile/unet.js';
import { PUBLISHED_PRESETS, type PublishedPreset } from './published-presets.js';
import { RecordingWeights } from './recording-weights.js';
import { seededTensor } from './seeded-weights.js';

const GOLDEN = join(import.meta.dirname, '..', '..', '..', 'training', 'golden');

export const TEST_PIPELINE_PRESETS = ['videocrafter2', 'zeroscope', 'videocrafter2-narrow'] as const;
export type TestPipelinePreset = (typeof TEST_PIPELINE_PRESETS)[number];

/**
 * The narrow pipeline, a whole VideoCrafter2-shaped pipeline of a few MB: the narrow parity goldens'
 * UNet, text encoder and VAE configs (training/golden/*-narrow) and their tokenizer, with the UNet's
 * cross-attention width set to the narrow text encoder's hidden size. Every part is one a parity
 * test checks against upstream.
 */
function narrowPipeline(): { preset: PublishedPreset; textConfig: Record<string, unknown>; vaeConfig: Record<string, unknown> } {
  const golden = (p: string) => JSON.parse(readFileSync(join(GOLDEN, p), 'utf8')) as Record<string, Record<string, unknown>>;
  const textConfig = golden('clip-text-narrow/text_calls.json').text_config!;
  const vaeConfig = golden('vae-narrow/vae_decode.json').vae_config!;
  const unetConfig = { ...golden('unet3d-narrow/unet_calls.json').unet_config!, cross_attention_dim: textConfig.hidden_size };
  const vc2 = PUBLISHED_PRESETS.videocrafter2;
  const modelIndex = { ...vc2.modelIndex, text_encoder: ['transformers', 'CLIPTextModel'], tokenizer: ['transformers', 'CLIPTokenizer'], vae: ['diffusers', 'AutoencoderKL'] };
  return { preset: { ...vc2, repo: 'narrow VideoCrafter2-shaped pipeline (random weights)', unetConfig, modelIndex }, textConfig, vaeConfig };
}

export interface TestPipelineSummary {
  readonly repo: string;
  readonly unetTensors: number;
  readonly unetParameters: number;
  readonly unetFiles: readonly string[];
}

/** Writes the pipeline folder `out` for `preset` with seeded weights. */
export function writeTestPipeline(out: string, preset: TestPipelinePreset, seed = 15, shardBytes?: number): TestPipelineSummary {
  const narrow = preset === 'videocrafter2-narrow' ? narrowPipeline() : null;
  const p = narrow?.preset ?? PUBLISHED_PRESETS[preset as Exclude<TestPipelinePreset, 'videocrafter2-narrow'>];
  const cfg = parseUNetConfig(p.unetConfig);
  // The compiler's own block code names every weight; the latent size does not change any shape.
  const rec = new RecordingWeights((key, shape) => seededTensor(seed, key, shape), 'linear');
  rec.keepValues = false;
  const c = { P: new Program('record'), W: rec, batch: 2 };
  buildUNet(c, new WholeScope(c, 'F'), cfg, { height: 8, width: 8, textTokens: 77 });
  const tensors = [...rec.shapes].map(([name, shape]) => ({ name, shape, values: () => rec.values(name) }));

  mkdirSync(join(out, 'scheduler'), { recursive: true });
  writeFileSync(join(out, 'model_index.json'), JSON.stringify(p.modelIndex, null, 2) + '\n');
  writeFileSync(join(out, 'scheduler', 'scheduler_config.json'), p.schedulerText + '\n');
  const unetDir = join(out, 'unet');
  mkdirSync(unetDir, { recursive: true });
  writeFileSync(join(unetDir, 'config.json'), JSON.stringify(p.unetConfig, null, 2) + '\n');
  const unetFiles = writeCheckpoint(unetDir, 'diffusion_pytorch_model', tensors, shardBytes);
  if (narrow) {
    writePart(out, 'text_encoder', 'model', narrow.textConfig, seed, (r) => buildTextEncoder(new Program('record'), r, parseTextEncoderConfig(narrow.textConfig)));
    writePart(out, 'vae', 'diffusion_pytorch_model', narrow.vaeConfig, seed, (r) => buildVaeDecoder({ P: new Program('record'), W: r, batch: 1 }, parseVaeConfig(narrow.vaeConfig), 8, 8));
    cpSync(join(GOLDEN, 'clip-tokenizer', 'tokenizer'), join(out, 'tokenizer'), { recursive: true });
  }
  return { repo: p.repo, unetTensors: tensors.length, unetParameters: tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0), unetFiles };
}

/** One component folder: config.json and the weights its compiler asks for, seeded. */
function writePart(out: string, dir: string, stem: string, config: Record<string, unknown>, seed: number, build: (rec: RecordingWeights) => void): void {
  const rec = new RecordingWeights((key, shape) => seededTensor(seed, key, shape), 'linear');
  build(rec);
  mkdirSync(join(out, dir), { recursive: true });
  writeFileSync(join(out, dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeCheckpoint(join(out, dir), stem, [...rec.shapes].map(([name, shape]) => ({ name, shape, values: () => rec.values(name) })));
}
