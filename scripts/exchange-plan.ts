// The segment plan and dual-scope parameters whose exchange pattern the budget and bench:exchange
// use, from any of three sources: a compiled package (onnx/segment-plan.json + manifest defaults), a
// diffusers folder (unet/config.json, e.g. `make-test-model --preset videocrafter2 --random`: the plan
// is compiled from the config's shapes alone, no weight is read), or a published preset by name
// (`preset:videocrafter2`, the same shapes without writing 5.65 GB first). Also: where a tab sits in
// a room of W tabs × F frames (the engine's own partition and clip layout).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { UPSTREAM_DUAL_SCOPE } from '../src/engine/dual-scope.js';
import { partitionFrames } from '../src/engine/partition.js';
import { clipLayout } from '../src/engine/unet-call-inputs.js';
import { compileUNet } from '../src/model/compile/compile-model.js';
import { WholeScope } from '../src/model/compile/frame-scope.js';
import { Program } from '../src/model/compile/graph.js';
import { buildUNet } from '../src/model/compile/unet.js';
import { parseUNetConfig } from '../src/model/config.js';
import type { ClipPlace } from '../src/model/exchange-budget.js';
import type { TensorEntry, TensorReader } from '../src/model/safetensors.js';
import { validateSegmentPlan, type SegmentPlan } from '../src/model/segment-plan.js';
import { PUBLISHED_PRESETS } from '../src/model/testing/published-presets.js';
import { RecordingWeights } from '../src/model/testing/recording-weights.js';

export interface ExchangePlan {
  label: string;
  plan: SegmentPlan;
  /** Attention window (frames each side) and global frames of the dual-scope attention. */
  p: number;
  topK: number;
}

/** The plan of a UNet config at a latent size, compiled from shapes alone (a reader that never reads a value). */
function planFromConfig(config: unknown, latent: { height: number; width: number }): SegmentPlan {
  const cfg = parseUNetConfig(config as Parameters<typeof parseUNetConfig>[0]);
  const rec = new RecordingWeights(() => new Float32Array(0), 'linear');
  rec.keepValues = false;
  const c = { P: new Program('record'), W: rec, batch: 2 };
  const shape = { height: latent.height, width: latent.width, textTokens: 77 };
  buildUNet(c, new WholeScope(c, 'F'), cfg, shape);
  const entries = new Map<string, TensorEntry>([...rec.shapes].map(([name, s]) => [name, { name, dtype: 'F32', shape: s, begin: 0, end: 0 } as TensorEntry]));
  const reader: TensorReader = { label: 'shapes only', entries, has: (k) => entries.has(k), entry: (k) => entries.get(k)!, float32: () => new Float32Array(0) };
  return compileUNet(cfg, reader, shape).plan;
}

/**
 * `source`: a package or diffusers directory, or `preset:<name>`. `pixels` (height × width of the
 * video, latent = /8) applies to configs only; a compiled package has its latent size built in.
 * Configs use Video-Infinity's published p = 8, topK = 16 (a compiled package: its manifest defaults).
 */
export function loadExchangePlan(source: string, pixels = { height: 320, width: 512 }): ExchangePlan {
  const latent = { height: pixels.height / 8, width: pixels.width / 8 };
  if (!Number.isInteger(latent.height) || !Number.isInteger(latent.width)) throw new Error(`--size ${pixels.height}x${pixels.width}: both must be multiples of 8`);
  const vi = { p: UPSTREAM_DUAL_SCOPE.window, topK: UPSTREAM_DUAL_SCOPE.topK };
  if (source.startsWith('preset:')) {
    const name = source.slice('preset:'.length) as keyof typeof PUBLISHED_PRESETS;
    const preset = PUBLISHED_PRESETS[name];
    if (!preset) throw new Error(`unknown preset '${name}' (known: ${Object.keys(PUBLISHED_PRESETS).join(', ')})`);
    return { label: `${name} (published config, shapes only) at ${pixels.height}×${pixels.width}`, plan: planFromConfig(preset.unetConfig, latent), ...vi };
  }
  const dir = path.resolve(source);
  const planFile = path.join(dir, 'onnx', 'segment-plan.json');
  if (existsSync(planFile)) {
    const plan = validateSegmentPlan(JSON.parse(readFileSync(planFile, 'utf8')) as SegmentPlan);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { defaults?: { local_window_p?: unknown; global_top_k?: unknown } };
    const p = manifest.defaults?.local_window_p;
    const topK = manifest.defaults?.global_top_k;
    if (typeof p !== 'number' || typeof topK !== 'number') throw new Error(`${dir}/manifest.json: defaults.local_window_p and defaults.global_top_k must be numbers`);
    return { label: `${path.basename(dir)} (compiled package, latent ${plan.latent.height}×${plan.latent.width})`, plan, p, topK };
  }
  const configFile = path.join(dir, 'unet', 'config.json');
  if (existsSync(configFile)) {
    return { label: `${path.basename(dir)} (unet/config.json, shapes only) at ${pixels.height}×${pixels.width}`, plan: planFromConfig(JSON.parse(readFileSync(configFile, 'utf8')), latent), ...vi };
  }
  throw new Error(`${dir}: neither a compiled package (onnx/segment-plan.json) nor a diffusers folder (unet/config.json)`);
}

/** Every tab's place in a room of W tabs with F frames each (even partition), with its global frames. */
export function roomPlaces(x: ExchangePlan, worldSize: number, framesPerTab: number): ClipPlace[] {
  const total = worldSize * framesPerTab;
  const scope = { ...UPSTREAM_DUAL_SCOPE, window: x.p, topK: x.topK };
  const minClip = Math.max(x.p, x.plan.tconvHalo);
  if (worldSize > 1 && framesPerTab < minClip) throw new Error(`${framesPerTab} frames per tab: a clip needs at least max(p, tconvHalo) = ${minClip}`);
  const ranges = partitionFrames(total, worldSize, minClip).ranges;
  return ranges.map((r) => {
    const l = clipLayout(r, total, scope, x.plan.tconvHalo);
    return { worldSize, frames: l.frames, hasLeft: r.start > 0, hasRight: r.end < total, ownedGlobal: worldSize > 1 ? l.ownedGlobal.localFrames.length : 0 };
  });
}
