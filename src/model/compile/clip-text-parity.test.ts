// Parity of the compiled text side with transformers: CLIPTextModel on a narrow OpenCLIP-H-shaped
// config (gelu, 77 positions, 3 layers of 64; training/golden/clip-text-narrow, written by
// training/write_clip_text_goldens.py), with ids from CLIPTokenizer on the committed test tokenizer
// with OpenCLIP's "!" padding. The weights are regenerated from their seed and written in the
// published layout (sharded), then go through compileTextPackage as a real pipeline's would; the
// graph runs in onnxruntime-node with its weights in external-data shards.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../clip-tokenizer.js';
import { parseTextEncoderConfig } from '../config.js';
import { SafetensorsFile } from '../safetensors.js';
import { f32, maxAbsDiff } from '../testing/host-tensor.js';
import { RecordingWeights } from '../testing/recording-weights.js';
import { seededTensor } from '../testing/seeded-weights.js';
import { buildTextEncoder } from './blocks/text-encoder.js';
import { writeCheckpoint } from './checkpoint-writer.js';
import { Program } from './graph.js';
import { type CompiledTextPackage, compileTextPackage } from './text-package.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
const goldenDir = join(root, 'training', 'golden', 'clip-text-narrow');
const tokenizerDir = join(root, 'training', 'golden', 'clip-tokenizer', 'tokenizer');
const TOL = 1e-4;

interface GoldenMeta {
  text_config: Record<string, unknown>;
  weight_seed: number;
  prompts: string[];
  weights: [string, number[]][];
}
const meta: GoldenMeta = JSON.parse(readFileSync(join(goldenDir, 'text_calls.json'), 'utf8'));
const fx = SafetensorsFile.parse(new Uint8Array(readFileSync(join(goldenDir, 'text_calls.safetensors'))), 'text_calls.safetensors');
const ids = fx.int64('input_ids');
const want = f32(fx.float32('last_hidden_state'), [...fx.entry('last_hidden_state').shape]);
const L = meta.text_config.max_position_embeddings as number;

/** Write the seeded text encoder as a sharded published folder (config patched if asked) and compile it with the tokenizer. */
function compileNarrow(dir: string, configPatch: Record<string, unknown> = {}): CompiledTextPackage {
  const src = join(dir, 'text_encoder');
  const tensors = meta.weights.map(([name, shape]) => ({ name, shape, values: () => seededTensor(meta.weight_seed, name, shape) }));
  writeCheckpoint(src, 'model', tensors, 96 * 1024);
  writeFileSync(join(src, 'config.json'), JSON.stringify({ ...meta.text_config, ...configPatch }, null, 2));
  return compileTextPackage(src, tokenizerDir, join(dir, 'pkg'), { shardBytes: 256 * 1024, crossAttentionDim: meta.text_config.hidden_size as number });
}

async function run(dir: string, pkg: CompiledTextPackage): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(join(dir, 'pkg', pkg.textEncoder.onnx), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await session.run({ input_ids: new ort.Tensor('int64', ids, [meta.prompts.length, L]) });
    return out.last_hidden_state!.data as Float32Array;
  } finally {
    await session.release();
  }
}

let dir: string;
let pkg: CompiledTextPackage;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vi-clip-text-'));
  pkg = compileNarrow(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('narrow OpenCLIP-H text encoder vs transformers CLIPTextModel', () => {
  it('asks for exactly the checkpoint keys and shapes of upstream CLIPTextModel', () => {
    const cfg = parseTextEncoderConfig(meta.text_config);
    expect(cfg.hiddenAct).toBe('gelu');
    const rec = new RecordingWeights(() => new Float32Array(0), 'linear');
    buildTextEncoder(new Program('record'), rec, cfg);
    expect([...rec.shapes].map(([k, s]) => `${k} [${s}]`).sort()).toEqual(meta.weights.map(([k, s]) => `${k} [${s}]`).sort());
  });

  it('tokenizes the golden prompts to the ids transformers gave', () => {
    const tok = new ClipTokenizer({
      vocabJson: readFileSync(join(tokenizerDir, 'vocab.json'), 'utf8'), mergesTxt: readFileSync(join(tokenizerDir, 'merges.txt'), 'utf8'),
      tokenizerConfigJson: readFileSync(join(tokenizerDir, 'tokenizer_config.json'), 'utf8'),
    }, { pad_token: '!' });
    expect([...tok.encodeBatch(meta.prompts)]).toEqual([...ids]);
  });

  it('keeps the weights out of the graph: external-data shards beside it, listed for the manifest', () => {
    expect(pkg.shards.length).toBeGreaterThan(1);
    expect(pkg.shards.every((s) => /^onnx\/text_encoder_\d{3}\.bin$/.test(s))).toBe(true);
    const shardBytes = pkg.shards.reduce((a, s) => a + statSync(join(dir, 'pkg', s)).size, 0);
    const graphBytes = statSync(join(dir, 'pkg', pkg.textEncoder.onnx)).size;
    console.log(`text_encoder.onnx ${graphBytes} B, weights ${shardBytes} B in ${pkg.shards.length} shards`);
    expect(graphBytes).toBeLessThan(shardBytes / 10);
    expect(pkg.tokenizer).toEqual({
      type: 'clip-bpe', file: 'tokenizer/vocab.json', merges: 'tokenizer/merges.txt', config: 'tokenizer/tokenizer_config.json', special_tokens_map: 'tokenizer/special_tokens_map.json',
    });
    expect(pkg.files).toEqual(expect.arrayContaining([...pkg.shards, 'onnx/text_encoder.onnx', 'text_encoder/config.json', 'tokenizer/merges.txt']));
  });

  it(`last_hidden_state matches within ${TOL}`, async () => {
    const diff = maxAbsDiff(f32(await run(dir, pkg), want.dims), want);
    console.log(`compiled text encoder vs transformers: max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(TOL);
  });

  it('negative control: the same weights with quick_gelu instead of gelu break the tolerance', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'vi-clip-text-bad-'));
    try {
      const badPkg = compileNarrow(bad, { hidden_act: 'quick_gelu' });
      const diff = maxAbsDiff(f32(await run(bad, badPkg), want.dims), want);
      console.log(`quick_gelu model vs transformers (gelu): max abs diff ${diff.toExponential(2)} (must exceed ${TOL})`);
      expect(diff).toBeGreaterThan(TOL);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('refuses a tokenizer that does not fit the encoder', () => {
    const other = mkdtempSync(join(tmpdir(), 'vi-clip-text-cfg-'));
    try {
      expect(() => compileNarrow(other, { vocab_size: 1000 })).toThrow(/3514 tokens, the text encoder embeds only vocab_size 1000/);
      expect(() => compileNarrow(other, { max_position_embeddings: 64 })).toThrow(/model_max_length 77 != text encoder max_position_embeddings 64/);
      expect(() => compileNarrow(other, { hidden_size: 32, num_attention_heads: 4 })).toThrow(/hidden_size 32 != UNet cross_attention_dim 64/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
