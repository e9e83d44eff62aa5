// A whole diffusers text-to-video pipeline into a renderable package: the UNet (import-model.ts),
// then the text encoder with its CLIP BPE tokenizer (text-package.ts) and the VAE decoder (vae.ts),
// and finally manifest.json, which promises that every part a render needs is there. Without a
// text encoder, tokenizer, VAE and scheduler the UNet is still imported, and no manifest is written.
// Node only.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parsePythonJson, parseSchedulerConfig } from '../config.js';
import { parseManifest, type ModelManifest, type RenderDefaults } from '../manifest.js';
import { PACKAGE_FILES, listFiles, unetGraphSetsIn } from './compile-model.js';
import { hashFile } from './file-hash.js';
import { importModel, type ImportOptions, type ImportRecord, type ImportSources } from './import-model.js';
import { compileTextPackage } from './text-package.js';
import { compileVae } from './vae.js';

/**
 * Video-Infinity's settings for VideoCrafter2 (its configs): a ±8-frame window, 16 global frames,
 * the phase switch at t = 800 with bias 10, CFG 12, 30 steps, fps condition 24, 16 native frames.
 */
const VIDEO_INFINITY_DEFAULTS = { fps: 24, native_frames: 16, local_window_p: 8, global_top_k: 16, phase_t: 800, phase_bias: 10, guidance: 12, steps: 30 } as const;

export interface ImportedPipeline {
  readonly record: ImportRecord;
  /** The package's manifest, or null when a part a render needs was not given. */
  readonly manifest: ModelManifest | null;
  /** Why there is no manifest (the missing parts), when there is none. */
  readonly missing: readonly string[];
}

export async function importPipeline(src: ImportSources, opts: ImportOptions): Promise<ImportedPipeline> {
  const log = opts.log ?? (() => {});
  const out = opts.out;
  rmSync(join(out, 'manifest.json'), { force: true }); // a stale manifest must not outlive a failed import
  const record = importModel(src, opts);
  const { latent } = record.unet;
  const unetConfig = JSON.parse(readFileSync(join(out, PACKAGE_FILES.unetConfig), 'utf8')) as { cross_attention_dim?: number };
  const text = src.textEncoder && src.tokenizer
    ? compileTextPackage(src.textEncoder, src.tokenizer, out, { crossAttentionDim: unetConfig.cross_attention_dim, shardBytes: opts.shardBytes, log })
    : null;
  const vae = src.vae ? await compileVae(src.vae, out, { height: latent.height, width: latent.width, shardBytes: opts.shardBytes, log }) : null;
  if (vae && vae.latentChannels !== latent.channels) {
    throw new ConfigError(`${src.vae}/config.json: latent_channels ${vae.latentChannels} != UNet in_channels ${latent.channels}`);
  }
  const missing = [...(text ? [] : ['text encoder and tokenizer']), ...(vae ? [] : ['VAE']), ...(src.scheduler ? [] : ['scheduler'])];
  if (text) record.components.text_encoder = { source: record.components.text_encoder?.source ?? src.textEncoder!, status: `compiled: ${text.shards.length} weight shard(s)` };
  if (vae) record.components.vae = { source: record.components.vae?.source ?? src.vae!, status: `compiled: decoder ×${vae.vae.upscale}, preview map R² ${vae.vae.latent_preview.r2.toFixed(3)}` };
  writeFileSync(join(out, 'import.json'), JSON.stringify(record, null, 2) + '\n');
  if (!text || !vae || missing.length) {
    log(`no manifest.json: missing ${missing.join(', ')}`);
    return { record, manifest: null, missing };
  }

  const files: ModelManifest['files'] = {};
  for (const path of listFiles(out).filter((p) => p !== 'manifest.json').sort()) files[path] = hashFile(join(out, path));
  const schedulerPath = join(out, PACKAGE_FILES.scheduler);
  const schedulerJson = parsePythonJson(readFileSync(schedulerPath, 'utf8')) as Record<string, unknown>;
  const sc = parseSchedulerConfig(schedulerJson, schedulerPath);
  const defaults: RenderDefaults = {
    ...VIDEO_INFINITY_DEFAULTS,
    sampler: schedulerJson.algorithm_type === 'sde-dpmsolver++' ? 'sde-dpm++' : schedulerJson._class_name === 'DDIMScheduler' ? 'ddim' : 'dpm++',
    uncond_prompt: '',
  };
  // The version names the content, so a cache holding another import of the same name is replaced.
  const version = createHash('sha256').update(Object.entries(files).map(([p, e]) => `${p} ${e.sha256}`).join('\n')).digest('hex').slice(0, 12);
  const manifest: ModelManifest = {
    name: out.split('/').filter(Boolean).pop()!,
    format: 1,
    version,
    family: 'unet3d-videocrafter',
    info: { imported_from: record.unet.checkpoint, unet_class: record.unet.class, parameters: record.unet.parameters },
    defaults,
    latent: { channels: latent.channels, height: latent.height, width: latent.width, decode: vae.decode },
    // Video-Infinity conditions on fps 24; the export plays at the same rate.
    frame_rate: defaults.fps,
    text_encoder: { ...text.textEncoder, external_data: text.shards },
    tokenizer: text.tokenizer,
    scheduler: {
      config: PACKAGE_FILES.scheduler, num_train_timesteps: sc.numTrainTimesteps, beta_start: sc.betaStart, beta_end: sc.betaEnd,
      beta_schedule: sc.betaSchedule, prediction_type: sc.predictionType,
    },
    unet: {
      config: PACKAGE_FILES.unetConfig,
      weights: PACKAGE_FILES.unetWeights,
      onnx_whole: PACKAGE_FILES.unetWholeOnnx,
      segment_plan: PACKAGE_FILES.segmentPlan,
      batch: record.unet.batch,
      segments: record.unet.segments,
      exchange_points: record.unet.exchange_points,
      ...(record.unet.precision === 'float16' && { precision: 'float16' as const }),
      ...unetGraphSetsIn(out),
    },
    vae: vae.vae,
    files,
  };
  parseManifest(JSON.parse(JSON.stringify(manifest)), `${out}/manifest.json`); // the engine's own check, before it is written
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  log(`manifest.json: ${Object.keys(files).length} files, version ${version}`);
  return { record, manifest, missing: [] };
}
