// The segment plan and dual-scope parameters whose exchange pattern the budget and bench:exchange
// use, from any of three sources: a compiled package (onnx/segment-plan.json + manifest defaults), a
// diffusers folder (unet/config.json, e.g. `make-test-model --preset videocrafter2 --random`: the plan
// is compiled from the config's shapes alone, no weight is read), or a published preset by name
// (`preset:videocrafter2`, the same shapes without writing 5.65 GB first). Also: where a tab sits in
// a room of W tabs × F frames (the engine's own partition and clip layout), the exchange modes by the
// names the dashboard offers, and the job's steps as those modes see them.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_EXCHANGE, EXCHANGE_CHOICES } from '../src/app/job/render-spec.js';
import { resolveExchangeOptions } from '../src/engine/clip-exchange-mode.js';
import { UPSTREAM_DUAL_SCOPE } from '../src/engine/dual-scope.js';
import { createScheduler } from '../src/engine/schedulers/create-scheduler.js';
import { partitionFrames } from '../src/engine/partition.js';
import { clipLayout } from '../src/engine/unet-call-inputs.js';
import { compileUNet } from '../src/model/compile/compile-model.js';
import { WholeScope } from '../src/model/compile/frame-scope.js';
import { Program } from '../src/model/compile/graph.js';
import { buildUNet } from '../src/model/compile/unet.js';
import { parseUNetConfig } from '../src/model/config.js';
import type { ClipPlace } from '../src/model/exchange-budget.js';
import type { JobSteps, ModePattern } from '../src/model/exchange-replay.js';
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
  /** T_phase of the dual-scope attention (the local phase is t < T_phase). */
  phaseTimestep: number;
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
  const vi = { p: UPSTREAM_DUAL_SCOPE.window, topK: UPSTREAM_DUAL_SCOPE.topK, phaseTimestep: UPSTREAM_DUAL_SCOPE.phaseTimestep };
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
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { defaults?: { local_window_p?: unknown; global_top_k?: unknown; phase_t?: unknown } };
    const p = manifest.defaults?.local_window_p;
    const topK = manifest.defaults?.global_top_k;
    const phaseTimestep = manifest.defaults?.phase_t;
    if (typeof p !== 'number' || typeof topK !== 'number' || typeof phaseTimestep !== 'number') {
      throw new Error(`${dir}/manifest.json: defaults.local_window_p, defaults.global_top_k and defaults.phase_t must be numbers`);
    }
    return { label: `${path.basename(dir)} (compiled package, latent ${plan.latent.height}×${plan.latent.width})`, plan, p, topK, phaseTimestep };
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

/** `cfg-split` alone is the CFG split of `exact`; `cfg-split+NAME` that of another mode. */
export const CFG_SPLIT = 'cfg-split';

/**
 * An exchange mode by the name the dashboard and `npm run generate` use (EXCHANGE_CHOICES:
 * exact, exact-fp16, sparse-global, sparse-global-fp16, stale), with the engine's option defaults
 * (resolveExchangeOptions), as the replay needs it; `cfg-split[+NAME]` adds a CFG split, which the
 * engine does not have yet: the pattern the budget describes.
 */
export function modePattern(name: string): ModePattern {
  const split = name === CFG_SPLIT || name.startsWith(`${CFG_SPLIT}+`);
  const base = split ? (name === CFG_SPLIT ? 'exact' : name.slice(CFG_SPLIT.length + 1)) : name;
  const choice = EXCHANGE_CHOICES.find((c) => c.name === base);
  if (!choice) throw new Error(`unknown exchange mode '${name}' (known: ${EXCHANGE_CHOICES.map((c) => c.name).join(', ')}, ${CFG_SPLIT}, ${CFG_SPLIT}+NAME)`);
  const o = resolveExchangeOptions(choice.mode, choice.options);
  if (choice.mode === 'isolated') throw new Error(`mode '${name}': 'isolated' exchanges nothing`);
  return {
    rule: choice.mode === 'stale' || choice.mode === 'sparse-global' ? choice.mode : 'exact',
    precision: choice.mode === 'exact-fp16' || o.float16Wire === true ? 'fp16' : 'fp32',
    warmupSteps: o.warmupSteps ?? 0,
    staleStats: o.staleStats ?? false,
    globalEvery: o.globalEvery ?? 1,
    cfgSplit: split,
  };
}

/** The dashboard's default mode's name (render-spec.ts). */
export const DEFAULT_MODE_NAME = DEFAULT_EXCHANGE;

/** A job of `steps` DDIM steps (the dashboard's default sampler): where its local phase starts. */
export function jobSteps(x: ExchangePlan, steps: number): JobSteps & { timesteps: number[] } {
  const scheduler = createScheduler({ kind: 'ddim', eta: 0 });
  scheduler.setTimesteps(steps);
  const timesteps = Array.from(scheduler.timesteps);
  return { steps, firstLocalStep: timesteps.findIndex((t) => t < x.phaseTimestep), timesteps };
}

/** One tab of a replayed room: its clip's place, and with a CFG split its branch's tabs and its partner (mesh ranks). */
export interface TabRole {
  place: ClipPlace;
  group?: number[];
  partner?: number;
}

/**
 * Every tab's role in a room of W tabs rendering W × F frames. Without a split, tab r holds clip r
 * (F frames). With a CFG split the same video is cut into W / 2 clips of 2F frames, each on two tabs:
 * tab r computes branch r mod 2 (batch 1) of clip ⌊r / 2⌋, exchanges with the W / 2 tabs of its
 * branch, and swaps ε with tab r xor 1 (so every tab still computes 2F × ½ batch = F frames' worth).
 */
export function roomRoles(x: ExchangePlan, worldSize: number, framesPerTab: number, cfgSplit: boolean): TabRole[] {
  if (!cfgSplit) return roomPlaces(x, worldSize, framesPerTab).map((place) => ({ place }));
  if (!(Number.isInteger(worldSize / 2) && worldSize >= 2)) throw new Error(`a CFG split needs an even number of tabs, got ${worldSize}`);
  const clips = roomPlaces(x, worldSize / 2, 2 * framesPerTab);
  return Array.from({ length: worldSize }, (_, r) => ({
    place: clips[Math.floor(r / 2)]!,
    group: clips.map((_, c) => 2 * c + (r % 2)),
    partner: r ^ 1,
  }));
}
