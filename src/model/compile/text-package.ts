// Compile a real pipeline's text side into a package: the text encoder (a transformers CLIPTextModel
// folder: config.json + model.safetensors or shards) to one ONNX graph whose weights are ONNX external
// data in shards beside it, and the CLIP BPE tokenizer folder copied as published. Only the host runs
// these (it encodes each prompt once and sends the embeddings), so they are a part of their own in
// the package (manifest.ts runtimeFiles 'text-encoder'). Node only.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipTokenizer } from '../clip-tokenizer.js';
import { ConfigError, type TextEncoderConfig, parsePythonJson, parseTextEncoderConfig } from '../config.js';
import type { ModelManifest, TokenizerEntry } from '../manifest.js';
import { TokenizerError } from '../tokenizer.js';
import { openCheckpoint } from './checkpoint-reader.js';
import { compileTextEncoder } from './compile-model.js';
import { EXTERNAL_SHARD_BYTES, ExternalData } from './external-data.js';
import { serializeGraph } from './onnx-writer.js';

/** Package paths of the text side (the text encoder's shards are `onnx/text_encoder_NNN.bin`). */
export const TEXT_PACKAGE_FILES = {
  config: 'text_encoder/config.json',
  /** The source weights: read by the compiler, never copied into the package. */
  weights: 'text_encoder/model.safetensors',
  onnx: 'onnx/text_encoder.onnx',
  /** Stem of the weight shards; runtimeFiles counts `<onnx stem>_*` as the text encoder's. */
  weightsStem: 'text_encoder',
  tokenizerDir: 'tokenizer',
} as const;

/** The tokenizer files a diffusers pipeline publishes; the first two are required. */
const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'] as const;

export interface TextPackageOptions {
  /** Largest weight shard in bytes (default EXTERNAL_SHARD_BYTES; tests use small ones). */
  shardBytes?: number;
  /** The UNet's cross_attention_dim: the text encoder's hidden_size must equal it. */
  crossAttentionDim?: number;
  log?: (line: string) => void;
}

export interface CompiledTextPackage {
  /** The manifest's `text_encoder` section (external_data: the weight shards). */
  textEncoder: ModelManifest['text_encoder'];
  /** The manifest's `tokenizer` section. */
  tokenizer: TokenizerEntry;
  /** Every file written under outDir, relative to it, sorted (the graph, its shards, configs, tokenizer files). */
  files: string[];
  /** Weight shard paths only (also in `files`). */
  shards: string[];
}

function readText(dir: string, name: string): string | undefined {
  const path = join(dir, name);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/**
 * Compile `textEncoderDir` and check and copy `tokenizerDir` into the package at `outDir`. Writes
 * onnx/text_encoder.onnx + onnx/text_encoder_NNN.bin, text_encoder/config.json and tokenizer/*.
 * Run it after anything that clears `outDir/onnx` (the UNet import does).
 */
export function compileTextPackage(textEncoderDir: string, tokenizerDir: string, outDir: string, opts: TextPackageOptions = {}): CompiledTextPackage {
  const log = opts.log ?? (() => {});
  const F = TEXT_PACKAGE_FILES;
  const configPath = join(textEncoderDir, 'config.json');
  const configText = readText(textEncoderDir, 'config.json');
  if (configText === undefined) throw new ConfigError(`${textEncoderDir}: missing config.json`);
  let configJson: unknown;
  try {
    configJson = parsePythonJson(configText);
  } catch (e) {
    throw new ConfigError(`${configPath}: not valid JSON (${(e as Error).message})`);
  }
  const cfg: TextEncoderConfig = parseTextEncoderConfig(configJson, configPath);
  if (opts.crossAttentionDim !== undefined && cfg.hiddenSize !== opts.crossAttentionDim) {
    throw new ConfigError(`${configPath}: hidden_size ${cfg.hiddenSize} != UNet cross_attention_dim ${opts.crossAttentionDim}`);
  }

  // The tokenizer must parse and fit the encoder: every id below vocab_size, 77 tokens = 77 positions.
  const vocabJson = readText(tokenizerDir, 'vocab.json');
  const mergesTxt = readText(tokenizerDir, 'merges.txt');
  if (vocabJson === undefined || mergesTxt === undefined) {
    throw new TokenizerError(`${tokenizerDir}: a CLIP BPE tokenizer needs vocab.json and merges.txt${existsSync(join(tokenizerDir, 'tokenizer.json')) ? ' (tokenizer.json alone is not read)' : ''}`, 'bad-tokenizer');
  }
  let tokenizer: ClipTokenizer;
  try {
    tokenizer = new ClipTokenizer({
      vocabJson, mergesTxt, tokenizerConfigJson: readText(tokenizerDir, 'tokenizer_config.json'), specialTokensMapJson: readText(tokenizerDir, 'special_tokens_map.json'),
    });
  } catch (e) {
    if (e instanceof TokenizerError) throw new TokenizerError(`${tokenizerDir}/${e.message}`, e.code);
    throw e;
  }
  if (tokenizer.maxLength !== cfg.maxPositionEmbeddings) {
    throw new ConfigError(`${tokenizerDir}: model_max_length ${tokenizer.maxLength} != text encoder max_position_embeddings ${cfg.maxPositionEmbeddings}`);
  }
  if (tokenizer.vocabSize > cfg.vocabSize) {
    throw new ConfigError(`${tokenizerDir}/vocab.json: ${tokenizer.vocabSize} tokens, the text encoder embeds only vocab_size ${cfg.vocabSize}`);
  }

  const t0 = Date.now();
  const graph = compileTextEncoder(cfg, openCheckpoint(textEncoderDir, 'model'));
  const onnxDir = join(outDir, 'onnx');
  mkdirSync(onnxDir, { recursive: true });
  const weights = new ExternalData(F.weightsStem, opts.shardBytes ?? EXTERNAL_SHARD_BYTES, onnxDir);
  try {
    writeFileSync(join(outDir, F.onnx), serializeGraph(graph, `CLIPTextModel (${cfg.numHiddenLayers} layers, ${cfg.hiddenAct}): input_ids [P, ${cfg.maxPositionEmbeddings}] int64 -> last_hidden_state [P, ${cfg.maxPositionEmbeddings}, ${cfg.hiddenSize}] (after final_layer_norm)`, weights));
  } finally {
    weights.close();
  }
  const shards = weights.shardList().map((s) => `onnx/${s.location}`);
  log(`text encoder: ${cfg.numHiddenLayers} layers, hidden ${cfg.hiddenSize}, ${cfg.hiddenAct}; ${(weights.byteLength / 1e6).toFixed(2)} MB of weights in ${shards.length} shard(s), built in ${Date.now() - t0} ms`);

  mkdirSync(join(outDir, 'text_encoder'), { recursive: true });
  writeFileSync(join(outDir, F.config), configText);
  mkdirSync(join(outDir, F.tokenizerDir), { recursive: true });
  const copied = TOKENIZER_FILES.filter((n) => existsSync(join(tokenizerDir, n)));
  for (const n of copied) copyFileSync(join(tokenizerDir, n), join(outDir, F.tokenizerDir, n));
  const tok = (n: string) => `${F.tokenizerDir}/${n}`;
  const entry: TokenizerEntry = {
    type: 'clip-bpe',
    file: tok('vocab.json'),
    merges: tok('merges.txt'),
    ...(copied.includes('tokenizer_config.json') ? { config: tok('tokenizer_config.json') } : {}),
    ...(copied.includes('special_tokens_map.json') ? { special_tokens_map: tok('special_tokens_map.json') } : {}),
  };
  return {
    textEncoder: {
      config: F.config, weights: F.weights, onnx: F.onnx, max_length: cfg.maxPositionEmbeddings, hidden_size: cfg.hiddenSize,
      input: 'input_ids', output: 'last_hidden_state', external_data: shards,
    },
    tokenizer: entry,
    files: [F.onnx, ...shards, F.config, ...copied.map(tok)].sort(),
    shards,
  };
}
