// Render a video in Node with in-process ranks on onnxruntime-node (CPU): the same engine, executor
// and exchanges as the browser, over the in-process collective.
//
//   npm run render:node -- --prompt "a red circle moving right on a black background" --frames 128 --ranks 4 --out out/render
//   npm run render:node -- --prompt-schedule "0:a red circle moving right;64:a blue square moving left" --frames 128 --ranks 4 --out out/r2
//
// Flags (defaults from the model's manifest where it has them):
//   --prompt TEXT | --prompt-schedule "FROM:TEXT;FROM:TEXT..."  (one of the two; the schedule starts at frame 0)
//   --frames N (128)  --ranks W (1)  --split w1,w2,...  (speed weights per rank; default even)
//   --steps S  --guidance G  --seed SEED (0)  --sampler ddim|dpm++2m|dpm++2m-sde  --eta E (ddim only, 0)
//   --exchange exact|isolated (exact)  --whole (one rank, plan.whole)  --model DIR (public/models/vi-shapes-tiny)
//   --out DIR (required): frame_0000.png …, sheet.png (contact sheet, ×4), video.mp4 if ffmpeg is on PATH, render.json
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { denoise, denoiseWhole, type ClipResult, type StepProgress } from '../src/engine/denoise.js';
import type { DualScopeParams } from '../src/engine/dual-scope.js';
import { loadEngineModel } from '../src/engine/engine-model.js';
import type { JobParams } from '../src/engine/job-state.js';
import { partitionFrames } from '../src/engine/partition.js';
import type { PromptSchedule } from '../src/engine/prompt-schedule.js';
import type { SamplerSpec } from '../src/engine/schedulers/scheduler.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { createInProcessCollectives } from '../src/net/in-process-collective.js';
import { NO_SPIN } from './node-cli.js';


class ArgError extends Error {}

const FLAGS = ['prompt', 'prompt-schedule', 'frames', 'ranks', 'split', 'steps', 'guidance', 'seed', 'sampler', 'eta', 'exchange', 'model', 'out'] as const;
const SWITCHES = ['whole'] as const;
type Flag = (typeof FLAGS)[number];

function parseArgs(argv: string[]): { flags: Partial<Record<Flag, string>>; whole: boolean } {
  const flags: Partial<Record<Flag, string>> = {};
  let whole = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ArgError(`unexpected argument ${JSON.stringify(a)}: flags look like --name value`);
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if ((SWITCHES as readonly string[]).includes(name)) {
      whole = true;
      continue;
    }
    if (!(FLAGS as readonly string[]).includes(name)) throw new ArgError(`unknown flag --${name}; known: ${[...FLAGS, ...SWITCHES].map((f) => `--${f}`).join(' ')}`);
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new ArgError(`--${name} needs a value`);
    if (flags[name as Flag] !== undefined) throw new ArgError(`--${name} given twice`);
    flags[name as Flag] = value;
  }
  return { flags, whole };
}

function int(flags: Partial<Record<Flag, string>>, name: Flag, fallback: number, min: number, max: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min || v > max) throw new ArgError(`--${name} ${JSON.stringify(raw)}: must be an integer in [${min}, ${max}]`);
  return v;
}

function num(flags: Partial<Record<Flag, string>>, name: Flag, fallback: number, min: number, max: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) throw new ArgError(`--${name} ${JSON.stringify(raw)}: must be a number in [${min}, ${max}]`);
  return v;
}

function parseSchedule(flags: Partial<Record<Flag, string>>, frames: number): PromptSchedule {
  if ((flags.prompt === undefined) === (flags['prompt-schedule'] === undefined)) throw new ArgError('give exactly one of --prompt "TEXT" and --prompt-schedule "FROM:TEXT;FROM:TEXT"');
  if (flags.prompt !== undefined) return { entries: [{ fromFrame: 0, prompt: flags.prompt }] };
  const raw = flags['prompt-schedule']!;
  const entries = raw.split(';').filter((s) => s.trim() !== '').map((part) => {
    const m = /^\s*(\d+)\s*:(.*)$/s.exec(part);
    if (!m) throw new ArgError(`--prompt-schedule entry ${JSON.stringify(part)}: must be FROM:TEXT with FROM a frame index`);
    return { fromFrame: Number(m[1]), prompt: m[2]!.trim() };
  });
  if (entries.length === 0) throw new ArgError(`--prompt-schedule ${JSON.stringify(raw)}: needs at least one FROM:TEXT entry`);
  if (entries[0]!.fromFrame !== 0) throw new ArgError(`--prompt-schedule ${JSON.stringify(raw)}: the first entry must start at frame 0, got ${entries[0]!.fromFrame}`);
  entries.forEach((e, k) => {
    if (k > 0 && e.fromFrame <= entries[k - 1]!.fromFrame) throw new ArgError(`--prompt-schedule: entry ${k} starts at frame ${e.fromFrame}, must be after ${entries[k - 1]!.fromFrame}`);
    if (e.fromFrame >= frames) throw new ArgError(`--prompt-schedule: entry ${k} starts at frame ${e.fromFrame}, must be below --frames ${frames}`);
  });
  return { entries };
}

function parseSampler(flags: Partial<Record<Flag, string>>, manifestDefault: string): SamplerSpec {
  const name = flags.sampler ?? ({ 'dpm++': 'dpm++2m', 'sde-dpm++': 'dpm++2m-sde' } as Record<string, string>)[manifestDefault] ?? manifestDefault;
  const eta = num(flags, 'eta', 0, 0, 1);
  if (flags.eta !== undefined && name !== 'ddim') throw new ArgError(`--eta ${flags.eta}: only applies to --sampler ddim (sampler is ${name})`);
  switch (name) {
    case 'ddim':
      return { kind: 'ddim', eta };
    case 'dpm++2m':
      return { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' };
    case 'dpm++2m-sde':
      return { kind: 'dpm-solver++-2m', algorithmType: 'sde-dpmsolver++' };
    default:
      throw new ArgError(`--sampler ${JSON.stringify(name)}: must be one of ddim, dpm++2m, dpm++2m-sde`);
  }
}

function bar(done: number, total: number, width = 24): string {
  const n = Math.round((done / total) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

function writePng(path: string, rgb: Uint8Array, w: number, h: number, scale = 1): void {
  const png = new PNG({ width: w * scale, height: h * scale });
  for (let y = 0; y < h * scale; y++)
    for (let x = 0; x < w * scale; x++) {
      const s = ((Math.floor(y / scale) * w + Math.floor(x / scale)) * 3);
      const d = (y * w * scale + x) * 4;
      png.data[d] = rgb[s]!;
      png.data[d + 1] = rgb[s + 1]!;
      png.data[d + 2] = rgb[s + 2]!;
      png.data[d + 3] = 255;
    }
  writeFileSync(path, PNG.sync.write(png));
}

async function main(argv: string[]): Promise<number> {
  // 1. Arguments.
  const { flags, whole } = parseArgs(argv);
  if (!flags.out) throw new ArgError('--out DIR is required (where the frames, contact sheet and video go)');
  const modelDir = resolve(flags.model ?? 'public/models/vi-shapes-tiny');
  if (!existsSync(join(modelDir, 'manifest.json'))) throw new ArgError(`--model ${JSON.stringify(flags.model ?? 'public/models/vi-shapes-tiny')}: no compiled package there (missing manifest.json; run npm run compile-model -- DIR)`);
  if (!existsSync(join(modelDir, 'onnx', 'segment-plan.json'))) throw new ArgError(`--model ${JSON.stringify(flags.model ?? 'public/models/vi-shapes-tiny')}: the package is not compiled (no onnx/segment-plan.json); run npm run compile-model -- ${flags.model ?? 'public/models/vi-shapes-tiny'}`);
  const frames = int(flags, 'frames', 128, 1, 100_000);
  const ranks = int(flags, 'ranks', 1, 1, 64);
  if (whole && ranks !== 1) throw new ArgError(`--whole renders on one rank: --ranks must be 1, got ${ranks}`);
  const exchangeMode = (flags.exchange ?? 'exact') as 'exact' | 'isolated';
  if (exchangeMode !== 'exact' && exchangeMode !== 'isolated') throw new ArgError(`--exchange ${JSON.stringify(flags.exchange)}: must be exact or isolated`);

  // 2. Model: one CPU runner shared by all in-process ranks (runs are queued one at a time).
  const t0 = performance.now();
  const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: NO_SPIN });
  const model = await loadEngineModel(runner, async (p) => new Uint8Array(await readFile(join(modelDir, p))), { graphs: whole ? ['whole'] : ['segmented'] });
  const d = model.manifest.defaults;
  const loadMs = performance.now() - t0;

  const dualScope: DualScopeParams = { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias };
  const minClip = Math.max(dualScope.window, model.plan.tconvHalo);
  let weights: number | number[] = ranks;
  if (flags.split !== undefined) {
    weights = flags.split.split(',').map((s) => Number(s));
    if (weights.length !== ranks || weights.some((w) => !Number.isFinite(w) || w <= 0)) throw new ArgError(`--split ${JSON.stringify(flags.split)}: must be ${ranks} positive numbers separated by commas (one per rank)`);
  }
  if (ranks > 1 && ranks * minClip > frames) throw new ArgError(`--frames ${frames} with --ranks ${ranks}: every clip needs at least ${minClip} frames (the largest halo), so use at most ${Math.floor(frames / minClip)} ranks or at least ${ranks * minClip} frames`);
  const job: JobParams = {
    jobId: 1,
    totalFrames: frames,
    promptSchedule: parseSchedule(flags, frames),
    seed: int(flags, 'seed', 0, 0, 0xffffffff),
    steps: int(flags, 'steps', d.steps, 1, 1000),
    guidanceScale: num(flags, 'guidance', d.guidance, -100, 100),
    sampler: parseSampler(flags, String(d.sampler)),
    dualScope,
    fps: model.manifest.frame_rate,
    partition: whole ? null : partitionFrames(frames, weights, minClip),
    exchangeMode,
  };

  // 3. Render: every rank's loop runs concurrently; a step line is printed when all ranks finished it.
  console.log(`model ${model.manifest.name} ${model.manifest.version} (${runner.provider}), loaded in ${loadMs.toFixed(0)} ms`);
  console.log(`${frames} frames, ${whole ? 'whole graph, 1 rank' : `${ranks} rank(s): ${job.partition!.ranges.map((r) => `[${r.start},${r.end})`).join(' ')}`}, ${job.steps} steps, guidance ${job.guidanceScale}, seed ${job.seed}, sampler ${flags.sampler ?? d.sampler}, exchange ${exchangeMode}`);
  const perStep = new Map<number, StepProgress[]>();
  let stepsMs = 0;
  const onProgress = (p: StepProgress) => {
    const list = perStep.get(p.step) ?? [];
    list.push(p);
    perStep.set(p.step, list);
    if (list.length < (whole ? 1 : ranks)) return;
    const wall = Math.max(...list.map((x) => x.stepMs));
    stepsMs += wall;
    const wait = Math.max(...list.map((x) => x.networkWaitMs));
    const mb = list.reduce((a, x) => a + x.bytesSent, 0) / 1e6;
    console.log(`${bar(p.step + 1, job.steps)} step ${String(p.step + 1).padStart(3)}/${job.steps} t=${String(p.timestep).padStart(3)}  ${wall.toFixed(0).padStart(6)} ms  (network wait max ${wait.toFixed(0)} ms, sent ${mb.toFixed(2)} MB)`);
  };
  // Each rank's loop first makes one warm-up call (no network), left out of the step timings.
  const t1 = performance.now();
  let results: ClipResult[];
  if (whole) results = [await denoiseWhole(model, job, { onProgress, warmUp: true })];
  else {
    const cols = createInProcessCollectives(ranks);
    results = await Promise.all(cols.map((c) => denoise(model, job, c, { onProgress, warmUp: true })));
  }
  const renderMs = performance.now() - t1;

  // 4. Output: PNG frames, contact sheet (16 per row, ×4), mp4 if ffmpeg exists, render.json.
  const out = resolve(flags.out);
  mkdirSync(out, { recursive: true });
  for (const name of readdirSync(out)) if (/^frame_\d+\.png$/.test(name)) rmSync(join(out, name)); // no stale frames from a longer render
  const { height: fh, width: fw } = results[0]!.frames!;
  const video = new Uint8Array(frames * fh * fw * 3);
  for (const r of results) video.set(r.frames!.data, r.range.start * fh * fw * 3);
  for (let f = 0; f < frames; f++) writePng(join(out, `frame_${String(f).padStart(4, '0')}.png`), video.subarray(f * fh * fw * 3, (f + 1) * fh * fw * 3), fw, fh);
  const perRow = Math.min(16, frames);
  const rows = Math.ceil(frames / perRow);
  const sheet = new Uint8Array(rows * fh * perRow * fw * 3);
  for (let f = 0; f < frames; f++)
    for (let y = 0; y < fh; y++) {
      const src = (f * fh + y) * fw * 3;
      const dst = ((Math.floor(f / perRow) * fh + y) * perRow * fw + (f % perRow) * fw) * 3;
      sheet.set(video.subarray(src, src + fw * 3), dst);
    }
  writePng(join(out, 'sheet.png'), sheet, perRow * fw, rows * fh, 4);
  let mp4 = 'skipped (no ffmpeg on PATH)';
  if (spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0) {
    const r = spawnSync('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${fw}x${fh}`, '-r', String(job.fps), '-i', '-',
      '-vf', 'scale=iw*8:ih*8:flags=neighbor', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-crf', '18', join(out, 'video.mp4')], { input: video });
    mp4 = r.status === 0 ? join(out, 'video.mp4') : `failed: ${r.stderr?.toString().trim()}`;
  }
  const t = runner.timings();
  writeFileSync(join(out, 'render.json'), JSON.stringify({ model: model.manifest.name, modelVersion: model.manifest.version, provider: runner.provider, job, ranges: results.map((r) => r.range), loadMs, renderMs, warmUpMs: t.warmUpMs, stepsMs, runs: t.runs, runMs: t.runMs }, null, 2) + '\n');
  console.log(`rendered in ${(renderMs / 1000).toFixed(2)} s wall (warm-up included: ${t.warmUpRuns} runs, ${t.warmUpMs.toFixed(0)} ms in runs); per step, slowest rank, mean ${(stepsMs / job.steps).toFixed(0)} ms; ${t.runs} timed session runs, ${t.runMs.toFixed(0)} ms in runs`);
  console.log(`wrote ${frames} frames, sheet.png, render.json to ${out}; mp4: ${mp4}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof ArgError) {
      console.error(`render:node: ${e.message}`);
      process.exit(2);
    }
    const err = e as Error & { code?: string };
    console.error(`render:node: ${err.code ? `[${err.code}] ` : ''}${err.message ?? String(e)}`);
    process.exit(1);
  },
);
