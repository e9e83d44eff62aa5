/**
 * A compiled model package opened for the engine: manifest (sha256-checked files), segment plan,
 * tokenizer, and the sessions the loop needs (text encoder, UNet segments and/or whole graph), all
 * created through one `SessionRunner`. Ranks of one process may share one `EngineModel`: sessions
 * are stateless between runs and the runner queues every run.
 *
 * Files come through a `ModelFileReader` (Node: fs; browser: fetch/cache), so this file has no I/O
 * of its own. Must not import src/net, src/app, peerjs or lit.
 */

import { parseManifest, verifyFile, type ModelManifest } from '../model/manifest.js';
import type { SegmentPlan } from '../model/segment-plan.js';
import { WordTokenizer } from '../model/tokenizer.js';
import { EngineError } from './errors.js';
import { SegmentExecutor, WholeGraphExecutor, type ModelFileReader } from './segment-executor.js';
import type { LoadedSession, SessionRunner } from './session-runner.js';
import type { FrameGeometry } from './decode.js';

export interface EngineModel {
  readonly manifest: ModelManifest;
  readonly plan: SegmentPlan;
  readonly runner: SessionRunner;
  /** Latent [C, H, W] per frame and the pixel_shuffle factor of the decode. */
  readonly geometry: FrameGeometry;
  readonly segments: SegmentExecutor | null;
  readonly whole: WholeGraphExecutor | null;
  /** Text embedding [L, D] of one prompt (float32, row-major). */
  encodePrompt(prompt: string): Promise<Float32Array>;
}

export interface LoadEngineModelOptions {
  /** Which UNet graphs to create sessions for (default: both). */
  readonly graphs?: readonly ('segmented' | 'whole')[];
  /** Check every file read against the manifest's sha256 (default true). */
  readonly verify?: boolean;
}

export async function loadEngineModel(runner: SessionRunner, read: ModelFileReader, options: LoadEngineModelOptions = {}): Promise<EngineModel> {
  const verify = options.verify ?? true;
  const graphs = options.graphs ?? ['segmented', 'whole'];
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(await read('manifest.json'))));
  const file = async (path: string): Promise<Uint8Array> => {
    const bytes = await read(path);
    if (verify) await verifyFile(manifest, path, bytes);
    return bytes;
  };
  const json = async (path: string): Promise<unknown> => JSON.parse(new TextDecoder().decode(await file(path)));
  const plan = (await json(manifest.unet.segment_plan)) as SegmentPlan;
  const tokenizer = new WordTokenizer(await json(manifest.tokenizer.file));
  const decode = manifest.latent.decode;
  if (decode.kind !== 'pixel_shuffle') throw new EngineError('invalid-argument', `loadEngineModel: ${manifest.name} decodes with '${decode.kind}'; only pixel_shuffle packages are supported`);
  const text: LoadedSession = await runner.load('text encoder', await file(manifest.text_encoder.onnx));
  // Both UNet graphs point into the same weights shards: read (and verify) each once.
  const shardFiles = new Set((plan.weights ?? []).map((w) => w.file));
  const shards = new Map<string, Promise<Uint8Array>>();
  const unetFile = (path: string): Promise<Uint8Array> => {
    if (!shardFiles.has(path)) return file(path);
    if (!shards.has(path)) shards.set(path, file(path));
    return shards.get(path)!;
  };
  const segments = graphs.includes('segmented') ? await SegmentExecutor.load(runner, plan, unetFile) : null;
  const whole = graphs.includes('whole') ? await WholeGraphExecutor.load(runner, plan, unetFile) : null;
  const L = manifest.text_encoder.max_length;
  const D = manifest.text_encoder.hidden_size;
  return {
    manifest,
    plan,
    runner,
    geometry: { channels: plan.latent.channels, height: plan.latent.height, width: plan.latent.width, factor: decode.factor },
    segments,
    whole,
    async encodePrompt(prompt: string): Promise<Float32Array> {
      const ids = tokenizer.encodeBatch([prompt]); // [1, L] int64
      const out = await runner.run(text, { [manifest.text_encoder.input]: { dtype: 'int64', dims: [1, L], data: ids } });
      const value = out[manifest.text_encoder.output];
      if (!value) throw new EngineError('invalid-argument', `text encoder: no output '${manifest.text_encoder.output}'`);
      const data = (await runner.read(value)).slice(); // [1, L, D]
      runner.release(value);
      if (data.length !== L * D) throw new EngineError('shape-mismatch', `text encoder: output has ${data.length} values, expected ${L}·${D}`);
      return data;
    },
  };
}
