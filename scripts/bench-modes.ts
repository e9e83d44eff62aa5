// Exchange modes: quality. Renders the same jobs over in-process ranks (real embedded model,
// onnxruntime-node CPU) in every exchange mode at W = 2, 4, 8 tabs and prints one table: per-frame
// PSNR of the decoded RGB video against 'exact' at the same W and seed (mean over frames and seeds,
// and the worst frame), the seam score (mean |frame difference| across clip borders ÷ the same
// inside clips, as scripts/seam-ablation.ts; 1 = borders look like any other frame pair) and the
// bytes one tab sends per step (the busiest tab; an interior one).
//
//   npm run bench:modes [-- --model public/models/vi-shapes-tiny] [--frames 32] [--steps 8] [--tabs 2,4,8]
//        [--seeds 0,1,2] [--guidance 7.5] [--modes exact,exact-fp16,stale,stale-exact-stats,stale-warmup-4,sparse-global,sparse-global-fp16,cfg-split,cfg-split-sparse-global-fp16,isolated]
//        [--prompt "a red circle moving right on a black background"]
//
// A per-frame PSNR is capped at 100 dB (identical frames). Variants: the modes with their default
// options, plus 'stale-exact-stats' (stale, exact GroupNorm statistics), 'stale-warmup-4' (4
// synchronous steps) and 'sparse-global-fp16' (sparse-global with float16 on the wire); 'cfg-split…':
// the guidance split (a clip's two CFG branches on a pair of tabs, so W tabs render W/2 clips) with
// exact or sparse-global-fp16 exchanges.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EXCHANGE_OPTION_DEFAULTS, type ExchangeMode, type ExchangeOptions } from '../src/engine/clip-exchange-mode.js';
import { denoise } from '../src/engine/denoise.js';
import { loadBranchModel, loadEngineModel, type EngineModel } from '../src/engine/engine-model.js';
import type { JobParams } from '../src/engine/job-state.js';
import { partitionFrames, shortestClip } from '../src/engine/partition.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { createInProcessCollectives } from '../src/net/in-process-collective.js';
import { frameDiffs, seamScore } from './seam-score.js';
import { arg, NO_SPIN } from './node-cli.js';


/** The benchmarked variants: a mode and its options, with or without the guidance split. */
const VARIANTS: Record<string, { mode: ExchangeMode; options?: ExchangeOptions; cfgSplit?: boolean }> = {
  exact: { mode: 'exact' },
  'exact-fp16': { mode: 'exact-fp16' },
  stale: { mode: 'stale' },
  'stale-exact-stats': { mode: 'stale', options: { staleStats: false } },
  'stale-warmup-4': { mode: 'stale', options: { warmupSteps: 4 } },
  'sparse-global': { mode: 'sparse-global' },
  'sparse-global-fp16': { mode: 'sparse-global', options: { float16Wire: true } },
  'cfg-split': { mode: 'exact', cfgSplit: true },
  'cfg-split-sparse-global-fp16': { mode: 'sparse-global', options: { float16Wire: true }, cfgSplit: true },
  isolated: { mode: 'isolated' },
};

function intList(name: string, fallback: string, min: number): number[] {
  const raw = arg(name, fallback);
  const out = raw.split(',').map(Number);
  if (out.some((v) => !Number.isSafeInteger(v) || v < min)) throw new Error(`--${name} ${JSON.stringify(raw)}: must be comma-separated integers >= ${min}`);
  return out;
}

function framePsnr(a: Uint8Array, b: Uint8Array, frames: number): number[] {
  const size = a.length / frames;
  const out: number[] = [];
  for (let f = 0; f < frames; f++) {
    let se = 0;
    for (let i = f * size; i < (f + 1) * size; i++) se += (a[i]! - b[i]!) ** 2;
    out.push(se === 0 ? 100 : Math.min(100, 10 * Math.log10((255 * 255) / (se / size))));
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const modelDir = resolve(arg('model', 'public/models/vi-shapes-tiny'));
  if (!existsSync(join(modelDir, 'onnx', 'segment-plan.json'))) throw new Error(`--model ${modelDir}: not a compiled package (no onnx/segment-plan.json)`);
  const [frames] = intList('frames', '32', 1);
  const [steps] = intList('steps', '8', 1);
  const tabs = intList('tabs', '2,4,8', 2);
  const seeds = intList('seeds', '0,1,2', 0);
  const guidance = Number(arg('guidance', '7.5'));
  if (!Number.isFinite(guidance)) throw new Error('--guidance must be a number');
  const variants = arg('modes', Object.keys(VARIANTS).join(',')).split(',');
  for (const v of variants) if (!VARIANTS[v]) throw new Error(`--modes: unknown ${JSON.stringify(v)}; known: ${Object.keys(VARIANTS).join(', ')}`);
  if (!variants.includes('exact')) variants.unshift('exact'); // the reference
  const prompt = arg('prompt', 'a red circle moving right on a black background');

  const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: NO_SPIN });
  const read = async (p: string) => new Uint8Array(await readFile(join(modelDir, p)));
  const model = await loadEngineModel(runner, read, { graphs: ['segmented'] });
  let branchModel: EngineModel | null = null; // the batch-1 graphs, for the split variants
  const d = model.manifest.defaults;
  const minClip = shortestClip(d.local_window_p, model.plan.tconvHalo);
  console.log(`exchange modes: model ${model.manifest.name} (${modelDir}), ${frames} frames, ${steps} steps (DPM-Solver++ 2M), guidance ${guidance}, seeds ${seeds.join(',')}, tabs ${tabs.join(',')}`);
  console.log(`stale warm-up ${EXCHANGE_OPTION_DEFAULTS.warmupSteps} steps; sparse-global re-gathers every ${EXCHANGE_OPTION_DEFAULTS.globalEvery} local-phase steps (t < ${d.phase_t}); prompt ${JSON.stringify(prompt)}\n`);
  console.log('| W | mode | PSNR vs exact, mean (dB) | PSNR, worst frame (dB) | seam score | KB sent / step / tab | bytes vs exact |');
  console.log('|---|---|---|---|---|---|---|');
  const t0 = performance.now();
  for (const W of tabs) {
    const reference = new Map<number, Uint8Array>();
    let exactBytes = 0;
    for (const name of variants) {
      const { mode, options, cfgSplit } = VARIANTS[name]!;
      if (cfgSplit && W % 2 !== 0) continue; // a split runs on pairs
      const partition = partitionFrames(frames, cfgSplit ? W / 2 : W, minClip);
      const borders = new Set(partition.ranges.slice(1).map((r) => r.start - 1));
      const renderModel = cfgSplit ? (branchModel ??= await loadBranchModel(model, read)) : model;
      const psnr: number[] = [];
      const seams: number[] = [];
      let bytesPerStep = 0;
      for (const seed of seeds) {
        const job: JobParams = {
          jobId: 1, totalFrames: frames, promptSchedule: { entries: [{ fromFrame: 0, prompt }] }, seed, steps, guidanceScale: guidance,
          sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' },
          dualScope: { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias },
          fps: model.manifest.frame_rate, partition, exchangeMode: mode, ...(options && { exchangeOptions: options }), ...(cfgSplit && { cfgSplit }),
        };
        const cols = createInProcessCollectives(W);
        // A split's cond ranks (odd) hold the same latents as their partners: only the uncond ones decode.
        const results = (await Promise.all(cols.map((c) => denoise(renderModel, job, c, { decode: !cfgSplit || c.rank % 2 === 0 })))).filter((r) => r.frames);
        const { height: h, width: w } = results[0]!.frames!;
        const video = new Uint8Array(frames * h * w * 3);
        for (const r of results) video.set(r.frames!.data, r.range.start * h * w * 3);
        bytesPerStep = Math.max(bytesPerStep, ...cols.map((c) => c.stats().bytesSent / steps));
        const diffs = frameDiffs(video, frames);
        seams.push(seamScore(diffs, borders).ratio);
        if (name === 'exact') reference.set(seed, video);
        psnr.push(...framePsnr(video, reference.get(seed)!, frames));
      }
      if (name === 'exact') exactBytes = bytesPerStep;
      const ratio = exactBytes > 0 ? bytesPerStep / exactBytes : 0;
      console.log(`| ${W} | ${name} | ${mean(psnr).toFixed(1)} | ${Math.min(...psnr).toFixed(1)} | ${mean(seams).toFixed(2)} | ${(bytesPerStep / 1024).toFixed(0)} | ${ratio.toFixed(2)} |`);
    }
  }
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s; PSNR capped at 100 dB = identical frames; seam score: 1 = borders look like any other frame pair)`);
}

main().catch((e: unknown) => {
  console.error(`bench-modes: ${(e as Error).message}`);
  process.exit(1);
});
