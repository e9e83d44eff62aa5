/**
 * The render job as the host's form describes it and the task built from it (protocol.ts
 * `RenderTask`, whose job is the engine's JobParams as is). Also the small encodings used on the
 * control channel (base64 previews) and the host-side model facts (manifest defaults, tokenizer
 * for checking prompts before Start).
 */
import type { ExchangeMode, ExchangeOptions } from '../../engine/clip-exchange-mode.js';
import { partitionFrames, shortestClip } from '../../engine/partition.js';
import { parseManifest, type ModelManifest } from '../../model/manifest.js';
import { openTokenizer, type PromptTokenizer } from '../../model/prompt-tokenizer.js';
import type { RenderTask } from '../protocol.js';
import type { ExportCodec } from '../media/index.js';

export const DEFAULT_PACKAGE_URL = '/models/vi-shapes-tiny/';

/** The samplers a render may use, as the form, the saved render and `npm run generate` name them. */
export const SAMPLER_NAMES = ['ddim', 'dpm++2m', 'dpm++2m-sde'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

/**
 * The exchange settings the form and `npm run generate` offer (a mode and its options,
 * clip-exchange-mode.ts), each with its measured cost in one line (docs/performance.md,
 * "Exchange modes: quality", npm run bench:modes).
 */
export const EXCHANGE_CHOICES: readonly { readonly name: string; readonly mode: ExchangeMode; readonly options?: ExchangeOptions; readonly cost: string }[] = [
  { name: 'exact', mode: 'exact', cost: 'the reference: the same video on any number of tabs; 1× bytes' },
  { name: 'exact-fp16', mode: 'exact-fp16', cost: '0.50× bytes; worst frame ≥ 64 dB PSNR vs exact, seams as exact' },
  { name: 'sparse-global', mode: 'sparse-global', cost: '0.80–0.83× bytes; worst frame ≥ 66 dB vs exact, seams as exact' },
  { name: 'sparse-global-fp16', mode: 'sparse-global', options: { float16Wire: true }, cost: '0.40–0.42× bytes; worst frame ≥ 63 dB vs exact, seams as exact' },
  { name: 'stale', mode: 'stale', cost: 'no step waits for the network, ~0.9× bytes; a different video: 18–19 dB worst frame vs exact at 8 steps, 22 dB at 25' },
];
/**
 * What a new render uses unless the user picks another: the one with the fewest bytes per step
 * whose worst frame stays ≥ 48 dB PSNR from exact (under one 8-bit level RMS) with seam scores
 * within 0.02 of exact at W = 2, 4, 8 (docs/performance.md, "Exchange modes: quality").
 */
export const DEFAULT_EXCHANGE = 'sparse-global-fp16';

export interface RenderSettings {
  /** One entry per line in the editor: "FROM: prompt". */
  readonly schedule: readonly { readonly fromFrame: number; readonly prompt: string }[];
  readonly totalFrames: number;
  readonly steps: number;
  readonly guidanceScale: number;
  readonly seed: number;
  readonly sampler: SamplerName;
  readonly exportScale: number;
  /** How the tabs exchange context: an EXCHANGE_CHOICES name; absent (older saved renders): 'exact'. */
  readonly exchange?: string;
  /** Each clip's two guidance branches on a pair of tabs (engine guidance-split.ts); absent: false. */
  readonly cfgSplit?: boolean;
}

/** The guidance split's measured cost in one line, as the form and `npm run generate` show it (docs/performance.md). */
export const CFG_SPLIT_COST = 'each clip on a pair of tabs, one guidance branch each: 0.14–0.49× exact\'s bytes per tab, exact\'s video on half as many tabs (bit for bit on CPU); needs an even number of computing tabs';

export function samplerSpec(name: SamplerName): RenderTask['job']['sampler'] {
  if (name === 'ddim') return { kind: 'ddim', eta: 0 };
  return { kind: 'dpm-solver++-2m', algorithmType: name === 'dpm++2m' ? 'dpmsolver++' : 'sde-dpmsolver++' };
}

/** Parses the editor's text: lines "FROM: prompt", the first at frame 0, increasing. Errors name the line. */
export function parseScheduleText(text: string, totalFrames: number): { entries: { fromFrame: number; prompt: string }[]; errors: string[] } {
  const entries: { fromFrame: number; prompt: string }[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^\s*(\d+)\s*:(.*)$/.exec(line);
    if (!m) return errors.push(`line ${i + 1}: write "FRAME: prompt"`);
    const fromFrame = Number(m[1]);
    const prev = entries[entries.length - 1];
    if (prev && fromFrame <= prev.fromFrame) errors.push(`line ${i + 1}: frame ${fromFrame} must come after ${prev.fromFrame}`);
    else if (fromFrame >= totalFrames) errors.push(`line ${i + 1}: frame ${fromFrame} is past the last frame (${totalFrames - 1})`);
    entries.push({ fromFrame, prompt: m[2]!.trim() });
  });
  if (entries.length === 0) errors.push('give at least one line "0: prompt"');
  else if (entries[0]!.fromFrame !== 0) errors.push('the first line must start at frame 0');
  return { entries, errors };
}

export interface ModelFacts {
  readonly manifest: ModelManifest;
  readonly tokenizer: PromptTokenizer;
  readonly minClipFrames: number;
}

/** Reads manifest.json and the tokenizer of a package (small JSON files; the big ones load in the worker). */
export async function fetchModelFacts(packageUrl: string): Promise<ModelFacts> {
  const base = new URL(packageUrl.endsWith('/') ? packageUrl : `${packageUrl}/`, location.href);
  const bytes = async (p: string) => {
    const r = await fetch(new URL(p, base));
    if (!r.ok) throw new Error(`GET ${new URL(p, base).pathname}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  const get = async (p: string): Promise<unknown> => JSON.parse(new TextDecoder().decode(await bytes(p)));
  const manifest = parseManifest(await get('manifest.json'));
  const tokenizer = await openTokenizer(manifest.tokenizer, bytes);
  const plan = (await get(manifest.unet.segment_plan)) as { tconvHalo: number };
  return { manifest, tokenizer, minClipFrames: shortestClip(manifest.defaults.local_window_p, plan.tconvHalo) };
}

/** The wire task: `weights` per clip (a rank, or with a guidance split a pair of ranks; a count: even). */
export function buildRenderTask(jobId: number, packageUrl: string, facts: ModelFacts, s: RenderSettings, codec: ExportCodec, weights: number | readonly number[], capacities?: readonly number[]): RenderTask {
  const d = facts.manifest.defaults;
  return {
    kind: 'render',
    packageUrl,
    job: {
      jobId,
      totalFrames: s.totalFrames,
      promptSchedule: { entries: s.schedule.map((e) => ({ ...e })) },
      seed: s.seed,
      steps: s.steps,
      guidanceScale: s.guidanceScale,
      sampler: samplerSpec(s.sampler),
      dualScope: { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias },
      fps: facts.manifest.frame_rate,
      partition: partitionFrames(s.totalFrames, weights, facts.minClipFrames, capacities),
      ...exchangeSettings(s.exchange),
      ...(s.cfgSplit && { cfgSplit: true }),
    },
    export: { codec, scale: s.exportScale },
  };
}

/** The job fields of an EXCHANGE_CHOICES name (none for exact, so such a job's identity is the one it always had). */
export function exchangeSettings(name: string | undefined): { exchangeMode?: ExchangeMode; exchangeOptions?: ExchangeOptions } {
  const c = EXCHANGE_CHOICES.find((x) => x.name === (name ?? 'exact'));
  if (!c) throw new Error(`exchange ${JSON.stringify(name)}: must be one of ${EXCHANGE_CHOICES.map((x) => x.name).join(', ')}`);
  return c.mode === 'exact' ? {} : { exchangeMode: c.mode, ...(c.options && { exchangeOptions: { ...c.options } }) };
}

/**
 * The export's default upscaling: whole multiples up to a 256-pixel short side, so the embedded
 * 32×32 model plays at a watchable 256×256, while a real model's 320×512 is exported as rendered.
 */
export function defaultExportScale(width: number, height: number): number {
  return Math.max(1, Math.floor(256 / Math.min(width, height)));
}

/** C·H·W: the values of one frame's latent (a checkpoint's per-frame size). */
export function latentValuesPerFrame(facts: ModelFacts): number {
  const { channels, height, width } = facts.manifest.latent;
  return channels * height * width;
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** RGB [F, H, W, 3] bytes → one RGBA frame per model frame (what encodeClip and canvases take). */
export function rgbToRgbaFrames(data: Uint8Array, frames: number, width: number, height: number): Uint8ClampedArray[] {
  const px = width * height;
  return Array.from({ length: frames }, (_, f) => {
    const out = new Uint8ClampedArray(px * 4);
    for (let i = 0; i < px; i++) {
      out[i * 4] = data[(f * px + i) * 3]!;
      out[i * 4 + 1] = data[(f * px + i) * 3 + 1]!;
      out[i * 4 + 2] = data[(f * px + i) * 3 + 2]!;
      out[i * 4 + 3] = 255;
    }
    return out;
  });
}
