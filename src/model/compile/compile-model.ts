// Compile a model package directory (config + safetensors) into ONNX graphs, a segment plan and a
// manifest (docs/model-package.md). Node only. Writes only `onnx/` and `manifest.json`.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import {
  ConfigError, type TextEncoderConfig, type UNetConfig, parsePythonJson, parseSchedulerConfig, parseTextEncoderConfig, parseUNetConfig,
} from '../config.js';
import { type ModelManifest, type RenderDefaults, type UNetPrecision, parseManifest } from '../manifest.js';
import type { TensorReader } from '../safetensors.js';
import type { PlanTensor, Segment, SegmentOutput, SegmentPlan } from '../segment-plan.js';
import { validateSegmentPlan } from '../segment-plan.js';
import { WordTokenizer } from '../tokenizer.js';
import { buildTextEncoder } from './blocks/text-encoder.js';
import { openCheckpoint } from './checkpoint-reader.js';
import { hashFile } from './file-hash.js';
import { DEFAULT_NUMERICS, type Numerics } from './numerics.js';
import { EXTERNAL_SHARD_BYTES, ExternalData } from './external-data.js';
import { toFloat16Compute } from './float16-compute.js';
import { SegmentedScope, TCONV_HALO, WholeScope } from './frame-scope.js';
import { type DType, type GraphDef, Program } from './graph.js';
import { opCounts, serializeGraph } from './onnx-writer.js';
import { type UNetShape, buildUNet } from './unet.js';
import { WeightStore } from './weights.js';

/** Paths inside a package (the same as training/package.py FILES). */
export const PACKAGE_FILES = {
  unetConfig: 'unet/config.json',
  unetWeights: 'unet/diffusion_pytorch_model.safetensors',
  textConfig: 'text_encoder/config.json',
  textWeights: 'text_encoder/model.safetensors',
  tokenizer: 'tokenizer.json',
  scheduler: 'scheduler/scheduler_config.json',
  onnxDir: 'onnx',
  textOnnx: 'onnx/text_encoder.onnx',
  unetWholeOnnx: 'onnx/unet.onnx',
  /** Stem of the UNet graphs' weight shards, each weight once (ONNX external data; SegmentPlan.weights). */
  unetWeightsStem: 'unet_weights',
  segmentPlan: 'onnx/segment-plan.json',
  /** The float16-compute graph set (float16-compute.ts), beside the float32 one and sharing its weight shards. */
  unetWholeF16Onnx: 'onnx/unet_f16.onnx',
  segmentPlanF16: 'onnx/segment-plan-f16.json',
  /** The batch-1 graph set of a guidance split (one CFG branch per rank), sharing the weight shards. */
  unetWholeB1Onnx: 'onnx/unet_b1.onnx',
  segmentPlanB1: 'onnx/segment-plan-b1.json',
  manifest: 'manifest.json',
} as const;

/** Used when the package has no manifest with defaults yet (the embedded model's, training/package.py). */
export const DEFAULT_RENDER: RenderDefaults = {
  fps: 8, native_frames: 16, local_window_p: 4, global_top_k: 8, phase_t: 800, phase_bias: 10,
  guidance: 7.5, steps: 25, sampler: 'dpm++', uncond_prompt: '',
};

export interface CompileOptions {
  /** CFG batch compiled into the UNet graphs (default 2 = [uncond, cond]). */
  batch?: number;
  /** Latent height/width (default config sample_size). */
  height?: number;
  width?: number;
  /** Package version string written to the manifest (default: existing manifest's, else '1.0.0'). */
  version?: string;
  /** Largest UNet weight shard in bytes (default EXTERNAL_SHARD_BYTES; tests use small ones). */
  shardBytes?: number;
  /** Storage precision of the UNet's weight shards (default 'float32'; numerics.ts). */
  precision?: UNetPrecision;
  /** How attention is lowered (numerics.ts `temporalBlock`, `queryChunk`; default DEFAULT_NUMERICS'). */
  attention?: Partial<Pick<Numerics, 'temporalBlock' | 'queryChunk'>>;
  /** With float16 weights: also write the float16-compute graph set (default true). */
  float16Compute?: boolean;
  log?: (line: string) => void;
}

export interface CompiledUNet {
  whole: GraphDef;
  segments: GraphDef[];
  plan: SegmentPlan;
}

const segFile = (k: number) => `${PACKAGE_FILES.onnxDir}/unet_seg_${String(k).padStart(3, '0')}.onnx`;
const segFileF16 = (k: number) => `${PACKAGE_FILES.onnxDir}/unet_f16_seg_${String(k).padStart(3, '0')}.onnx`;
const segFileB1 = (k: number) => `${PACKAGE_FILES.onnxDir}/unet_b1_seg_${String(k).padStart(3, '0')}.onnx`;

/** The manifest entries of the extra UNet graph sets a package directory holds (writeUNetGraphs wrote them). */
export function unetGraphSetsIn(dir: string): Pick<ModelManifest['unet'], 'float16_compute' | 'cfg_split'> {
  const F = PACKAGE_FILES;
  return {
    ...(existsSync(join(dir, F.segmentPlanF16)) && { float16_compute: { onnx_whole: F.unetWholeF16Onnx, segment_plan: F.segmentPlanF16 } }),
    ...(existsSync(join(dir, F.segmentPlanB1)) && { cfg_split: { onnx_whole: F.unetWholeB1Onnx, segment_plan: F.segmentPlanB1 } }),
  };
}

/**
 * Build the whole-graph and segmented UNet from a config and its weights. The graphs hold the weights
 * lazily: each is read from the checkpoint when its graph is serialised.
 */
export function compileUNet(cfg: UNetConfig, weights: TensorReader, shape: UNetShape, batch = 2, numerics?: Numerics): CompiledUNet {
  // Whole graph: every weight must be consumed.
  const wholeP = new Program('unet_whole');
  const wholeW = new WeightStore(weights);
  const wc = { P: wholeP, W: wholeW, batch, numerics };
  buildUNet(wc, new WholeScope(wc, 'F'), cfg, shape);
  wholeW.assertAllConsumed();

  // Segments: the same forward, cut at the exchange points.
  const segP = new Program('unet_seg_');
  const segW = new WeightStore(weights);
  const sc = { P: segP, W: segW, batch, numerics };
  const scope = new SegmentedScope(sc);
  buildUNet(sc, scope, cfg, shape);
  segW.assertAllConsumed();

  const tensor = (t: { name: string; dtype: DType; shape: (number | string)[] }): PlanTensor => {
    // Graph I/O is float32/int64 at every precision: the engine and the exchanges never see float16.
    if (t.dtype === 'float16') throw new Error(`internal: graph input/output '${t.name}' is float16`);
    return { name: t.name, dtype: t.dtype, shape: [...t.shape] };
  };
  const segments: Segment[] = segP.segments.map((s) => ({
    index: s.index,
    file: segFile(s.index),
    inputs: s.graph.inputs.map((i) => ({ ...tensor(i), source: i.source })),
    outputs: s.graph.outputs.map((o): SegmentOutput =>
      o.role === 'keep' ? { ...tensor(o), role: 'keep', consumers: [...o.consumers] }
        : o.role === 'send' ? { ...tensor(o), role: 'send', point: o.point! }
          : { ...tensor(o), role: 'result' }),
    exchangesAfter: [...s.exchangesAfter],
    opCounts: opCounts(s.graph),
  }));
  const plan: SegmentPlan = {
    format: 'vi-segment-plan',
    version: 1,
    batch,
    latent: { channels: cfg.inChannels, height: shape.height, width: shape.width },
    tconvHalo: TCONV_HALO,
    layout:
      'Between blocks [B·F, C, H, W], row b·F + f. Temporal conv windows [B, C, F+8, H·W]. Temporal attention tokens ' +
      '[B·H·W, F, C] (b outermost, then h, w). Sent/received tensors use the layouts of docs/exchange-points.md.',
    callInputs: segP.callInputInfo().map(tensor),
    exchangePoints: scope.points,
    segments,
    whole: {
      file: PACKAGE_FILES.unetWholeOnnx,
      inputs: wholeP.segments[0].graph.inputs.map(tensor),
      outputs: wholeP.segments[0].graph.outputs.map(tensor),
      opCounts: opCounts(wholeP.segments[0].graph),
    },
  };
  validateSegmentPlan(plan);
  return { whole: wholeP.segments[0].graph, segments: segP.segments.map((s) => s.graph), plan };
}

export function compileTextEncoder(cfg: TextEncoderConfig, weights: TensorReader): GraphDef {
  const P = new Program('text_encoder');
  const W = new WeightStore(weights);
  buildTextEncoder(P, W, cfg);
  W.assertAllConsumed();
  return P.segments[0].graph;
}

function readJson(dir: string, path: string): unknown {
  const full = join(dir, path);
  if (!existsSync(full)) throw new ConfigError(`${dir}: missing ${path}`);
  try {
    return parsePythonJson(readFileSync(full, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${full}: not valid JSON (${(e as Error).message})`);
  }
}

/** The weights at a package path such as 'unet/diffusion_pytorch_model.safetensors' (or its shards' index beside it). */
function readWeights(dir: string, path: string): TensorReader {
  const stem = basename(path).replace(/\.safetensors$/, '');
  return openCheckpoint(join(dir, dirname(path)), stem);
}

/**
 * Write the UNet graphs into `<dir>/onnx/` (whole graph, segments, the shared weight shards, the plan),
 * reading each weight once per graph family and streaming the shards to disk. Returns the plan.
 */
export function writeUNetGraphs(
  dir: string, unet: CompiledUNet, shardBytes = EXTERNAL_SHARD_BYTES, log: (l: string) => void = () => {}, float16Compute = false, branch?: CompiledUNet,
): SegmentPlan {
  const F = PACKAGE_FILES;
  const onnxDir = join(dir, F.onnxDir);
  mkdirSync(onnxDir, { recursive: true });
  // The whole graph and the segments share the weight shards: a tab downloads each weight once.
  const weights = new ExternalData(F.unetWeightsStem, shardBytes, onnxDir);
  // Each graph's shards, so that the engine gives a session (and keeps in memory) only those.
  const write = (path: string, g: GraphDef, doc: string): string[] => {
    const { value, shards } = weights.shardsUsedBy(() => serializeGraph(g, doc, weights));
    writeFileSync(join(dir, path), value);
    return shards;
  };
  let f16: { whole: GraphDef; segments: GraphDef[]; wholeShards: string[]; segmentShards: string[][] } | undefined;
  let wholeShards: string[];
  let segmentShards: string[][];
  let b1: { wholeShards: string[]; segmentShards: string[][] } | undefined;
  try {
    wholeShards = write(F.unetWholeOnnx, unet.whole, 'UNet3DConditionModel, whole video, no exchange points');
    segmentShards = unet.segments.map((g, k) => write(segFile(k), g, `UNet segment ${k}; see segment-plan.json`));
    if (float16Compute) {
      // The float16-compute set points into the same shards: its float16 weights are the same bytes.
      const whole = toFloat16Compute(unet.whole);
      const segments = unet.segments.map((g) => toFloat16Compute(g));
      const how = 'float16 compute';
      f16 = {
        whole, segments,
        wholeShards: write(F.unetWholeF16Onnx, whole, `UNet3DConditionModel, whole video, ${how}`),
        segmentShards: segments.map((g, k) => write(segFileF16(k), g, `UNet segment ${k}, ${how}; see segment-plan-f16.json`)),
      };
    }
    if (branch) {
      // The batch-1 set of a guidance split: the same weights, so the same shards.
      const how = 'batch 1 (one guidance branch)';
      b1 = {
        wholeShards: write(F.unetWholeB1Onnx, branch.whole, `UNet3DConditionModel, whole video, ${how}`),
        segmentShards: branch.segments.map((g, k) => write(segFileB1(k), g, `UNet segment ${k}, ${how}; see segment-plan-b1.json`)),
      };
    }
  } finally {
    weights.close();
  }
  const shards = weights.shardList();
  const plan: SegmentPlan = validateSegmentPlan({
    ...unet.plan,
    segments: unet.plan.segments.map((s, k) => ({ ...s, shards: segmentShards[k]! })),
    whole: { ...unet.plan.whole, shards: wholeShards },
    weights: shards.map((w) => ({ file: `${F.onnxDir}/${w.location}`, location: w.location })),
  });
  log(`UNet weights: ${(weights.byteLength / 1e6).toFixed(2)} MB once in ${shards.length} shard(s) (${(weights.requestedBytes / 1e6).toFixed(2)} MB across the graphs)`);
  writeFileSync(join(dir, F.segmentPlan), JSON.stringify(plan, null, 1) + '\n');
  if (f16) {
    // The same plan (inputs, outputs, exchanges: all float32) naming the float16-compute files.
    const planF16: SegmentPlan = validateSegmentPlan({
      ...plan,
      segments: plan.segments.map((s, k) => ({ ...s, file: segFileF16(k), opCounts: opCounts(f16!.segments[k]!), shards: f16!.segmentShards[k]! })),
      whole: { ...plan.whole, file: F.unetWholeF16Onnx, opCounts: opCounts(f16.whole), shards: f16.wholeShards },
    });
    writeFileSync(join(dir, F.segmentPlanF16), JSON.stringify(planF16, null, 1) + '\n');
  }
  if (branch && b1) {
    const planB1: SegmentPlan = validateSegmentPlan({
      ...branch.plan,
      segments: branch.plan.segments.map((s, k) => ({ ...s, file: segFileB1(k), shards: b1!.segmentShards[k]! })),
      whole: { ...branch.plan.whole, file: F.unetWholeB1Onnx, shards: b1.wholeShards },
      weights: plan.weights,
    });
    writeFileSync(join(dir, F.segmentPlanB1), JSON.stringify(planB1, null, 1) + '\n');
  }
  return plan;
}

export function listFiles(dir: string, root = dir): string[] {
  return readdirSync(dir).flatMap((n) => {
    const full = join(dir, n);
    return statSync(full).isDirectory() ? listFiles(full, root) : [relative(root, full).split('\\').join('/')];
  });
}

/** Compile the package at `dir` in place: writes onnx/* and manifest.json. Returns the manifest. */
export function compileModelPackage(dir: string, opts: CompileOptions = {}): ModelManifest {
  const log = opts.log ?? (() => {});
  const F = PACKAGE_FILES;
  const unetCfg = parseUNetConfig(readJson(dir, F.unetConfig), F.unetConfig);
  const textCfg = parseTextEncoderConfig(readJson(dir, F.textConfig), F.textConfig);
  const sched = parseSchedulerConfig(readJson(dir, F.scheduler), F.scheduler);
  const tokenizerJson = readJson(dir, F.tokenizer);
  const tokenizer = new WordTokenizer(tokenizerJson);
  if (tokenizer.maxLength !== textCfg.maxPositionEmbeddings) {
    throw new ConfigError(`${F.tokenizer}: max_length ${tokenizer.maxLength} != text encoder max_position_embeddings ${textCfg.maxPositionEmbeddings}`);
  }
  if (textCfg.hiddenSize !== unetCfg.crossAttentionDim) {
    throw new ConfigError(`${F.textConfig}: hidden_size ${textCfg.hiddenSize} != UNet cross_attention_dim ${unetCfg.crossAttentionDim}`);
  }
  const previous = existsSync(join(dir, F.manifest)) ? (readJson(dir, F.manifest) as Partial<ModelManifest>) : {};
  const defaults: RenderDefaults = { ...DEFAULT_RENDER, ...(previous.defaults ?? {}) };

  const shape: UNetShape = {
    height: opts.height ?? unetCfg.sampleSize,
    width: opts.width ?? unetCfg.sampleSize,
    textTokens: textCfg.maxPositionEmbeddings,
  };
  const batch = opts.batch ?? 2;
  const t0 = Date.now();
  const precision = opts.precision ?? 'float32';
  const numerics = { ...DEFAULT_NUMERICS, ...opts.attention, precision };
  const unet = compileUNet(unetCfg, readWeights(dir, F.unetWeights), shape, batch, numerics);
  // A [uncond, cond] package also carries the batch-1 graphs of a guidance split.
  const branch = batch === 2 ? compileUNet(unetCfg, readWeights(dir, F.unetWeights), shape, 1, numerics) : undefined;
  const text = compileTextEncoder(textCfg, readWeights(dir, F.textWeights));
  log(`built ${unet.segments.length} segments, ${unet.plan.exchangePoints.length} exchange points in ${Date.now() - t0} ms`);

  // Write onnx/ from scratch (stale segment files from an older plan must not survive).
  const onnxDir = join(dir, F.onnxDir);
  rmSync(onnxDir, { recursive: true, force: true });
  mkdirSync(onnxDir, { recursive: true });
  writeFileSync(join(dir, F.textOnnx), serializeGraph(text, 'CLIP-style text encoder: input_ids [P, L] int64 -> last_hidden_state [P, L, D]'));
  const f16Compute = precision === 'float16' && (opts.float16Compute ?? true);
  writeUNetGraphs(dir, unet, opts.shardBytes ?? EXTERNAL_SHARD_BYTES, log, f16Compute, branch);

  // This compiler makes pixel-space packages (the latent is the frame folded by pixel_unshuffle);
  // a latent-space model comes through import-model, which compiles its VAE.
  const factor = Math.sqrt(unetCfg.inChannels / 3);
  if (!Number.isInteger(factor)) {
    throw new ConfigError(`${F.unetConfig}: in_channels ${unetCfg.inChannels} is not 3·f² (a pixel_shuffle package); import a latent-space model with its VAE: npm run import-model`);
  }
  const decode = { kind: 'pixel_shuffle' as const, factor, value_range: [-1, 1] as [number, number] };
  const files: ModelManifest['files'] = {};
  for (const path of listFiles(dir).filter((p) => p !== F.manifest).sort()) files[path] = hashFile(join(dir, path));
  const manifest: ModelManifest = {
    name: previous.name ?? basename(dir),
    format: 1,
    version: opts.version ?? previous.version ?? '1.0.0',
    family: 'unet3d-videocrafter',
    ...(previous.info ? { info: previous.info } : {}),
    defaults,
    latent: { channels: unetCfg.inChannels, height: shape.height, width: shape.width, decode },
    frame_rate: defaults.fps,
    text_encoder: {
      config: F.textConfig, weights: F.textWeights, onnx: F.textOnnx, max_length: textCfg.maxPositionEmbeddings,
      hidden_size: textCfg.hiddenSize, input: 'input_ids', output: 'last_hidden_state',
    },
    tokenizer: { file: F.tokenizer, type: 'word-level' },
    scheduler: {
      config: F.scheduler, num_train_timesteps: sched.numTrainTimesteps, beta_start: sched.betaStart, beta_end: sched.betaEnd,
      beta_schedule: sched.betaSchedule, prediction_type: sched.predictionType,
    },
    unet: {
      config: F.unetConfig, weights: F.unetWeights, onnx_whole: F.unetWholeOnnx, segment_plan: F.segmentPlan, batch,
      segments: unet.segments.length, exchange_points: unet.plan.exchangePoints.length,
      ...(precision !== 'float32' ? { precision } : {}),
      ...unetGraphSetsIn(dir),
    },
    files,
  };
  parseManifest(manifest);
  writeFileSync(join(dir, F.manifest), JSON.stringify(manifest, null, 2) + '\n');
  log(`wrote ${Object.keys(files).filter((p) => p.startsWith('onnx/')).length} files under onnx/ and manifest.json`);
  return manifest;
}
