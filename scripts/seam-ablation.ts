// Seam ablation: what the exchanges buy. Renders the same job twice over in-process ranks,
//   exact:    every exchange point on (the contract: the same video on any partition);
//   isolated: no exchanges — each clip rendered alone, as if it were an independent video
//             (same per-frame noise and prompts, so the exchanges are the only difference),
// and prints the seam score = mean |frame difference| across clip borders ÷ the same inside clips
// (frame difference = mean absolute difference of consecutive decoded RGB frames, 0..255).
// Without exchanges the borders jump (score clearly above 1); with them a border is like any frame.
//
//   npx tsx scripts/seam-ablation.ts [--model public/models/vi-shapes-tiny] [--frames 64] [--ranks 4]
//        [--steps 10] [--seeds 0,1,2] [--prompt "a red circle moving right on a black background"]
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { denoise, type ClipResult } from '../src/engine/denoise.js';
import { loadEngineModel } from '../src/engine/engine-model.js';
import type { JobParams } from '../src/engine/job-state.js';
import { partitionFrames } from '../src/engine/partition.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { createInProcessCollectives } from '../src/net/in-process-collective.js';
import { frameDiffs, seamScore } from './seam-score.js';
import { arg, NO_SPIN } from './node-cli.js';


function positiveInt(name: string, fallback: number): number {
  const raw = arg(name, String(fallback));
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} ${JSON.stringify(raw)}: must be an integer >= 1`);
  return v;
}

async function main(): Promise<void> {
  const modelDir = resolve(arg('model', 'public/models/vi-shapes-tiny'));
  if (!existsSync(join(modelDir, 'manifest.json'))) throw new Error(`--model ${modelDir}: no compiled package (manifest.json missing)`);
  if (!existsSync(join(modelDir, 'onnx', 'segment-plan.json'))) throw new Error(`--model ${modelDir}: the package is not compiled (no onnx/segment-plan.json); run npm run compile-model -- ${modelDir}`);
  const frames = positiveInt('frames', 64);
  const ranks = positiveInt('ranks', 4);
  const steps = positiveInt('steps', 10);
  const seeds = arg('seeds', '0,1,2').split(',').map(Number);
  const prompt = arg('prompt', 'a red circle moving right on a black background');

  const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: NO_SPIN });
  const model = await loadEngineModel(runner, async (p) => new Uint8Array(await readFile(join(modelDir, p))), { graphs: ['segmented'] });
  const d = model.manifest.defaults;
  const minClip = Math.max(d.local_window_p, model.plan.tconvHalo);
  const partition = partitionFrames(frames, ranks, minClip);
  const borders = new Set(partition.ranges.slice(1).map((r) => r.start - 1)); // diff index f = pair (f, f+1) crossing a border

  console.log(`seam ablation: model ${model.manifest.name}, ${frames} frames, ${ranks} ranks ${partition.ranges.map((r) => `[${r.start},${r.end})`).join(' ')}, ${steps} steps, guidance ${d.guidance}, seeds ${seeds.join(',')}`);
  console.log(`prompt: ${JSON.stringify(prompt)}\n`);
  console.log('                  RGB bytes                        final latents');
  console.log('mode      seed  border |Δ|  inside |Δ|  seam score  border |Δ|  inside |Δ|  seam score');
  const summary: Record<string, number[]> = { exact: [], isolated: [] };
  const latentSummary: Record<string, number[]> = { exact: [], isolated: [] };
  for (const seed of seeds) {
    for (const mode of ['exact', 'isolated'] as const) {
      const job: JobParams = {
        jobId: 1, totalFrames: frames, promptSchedule: { entries: [{ fromFrame: 0, prompt }] }, seed, steps, guidanceScale: d.guidance,
        sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' },
        dualScope: { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias },
        fps: model.manifest.frame_rate, partition, exchangeMode: mode,
      };
      const cols = createInProcessCollectives(ranks);
      const results: ClipResult[] = await Promise.all(cols.map((c) => denoise(model, job, c)));
      const { height: h, width: w } = results[0]!.frames!;
      const video = new Uint8Array(frames * h * w * 3);
      for (const r of results) video.set(r.frames!.data, r.range.start * h * w * 3);
      const latents = new Float32Array(frames * results[0]!.latents.length / (results[0]!.range.end - results[0]!.range.start));
      for (const r of results) latents.set(r.latents, (r.range.start * latents.length) / frames);
      const px = seamScore(frameDiffs(video, frames), borders);
      const lat = seamScore(frameDiffs(latents, frames), borders);
      summary[mode]!.push(px.ratio);
      latentSummary[mode]!.push(lat.ratio);
      const col = (x: number) => x.toFixed(2).padStart(10);
      const col3 = (x: number) => x.toFixed(3).padStart(10);
      console.log(`${mode.padEnd(9)} ${String(seed).padStart(4)}  ${col(px.border)}  ${col(px.inside)}  ${col(px.ratio)}  ${col3(lat.border)}  ${col3(lat.inside)}  ${col(lat.ratio)}`);
    }
  }
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`\nmean seam score (RGB): exact ${avg(summary.exact!).toFixed(2)}, isolated ${avg(summary.isolated!).toFixed(2)}`);
  console.log(`mean seam score (latents): exact ${avg(latentSummary.exact!).toFixed(2)}, isolated ${avg(latentSummary.isolated!).toFixed(2)}   (1 = borders look like any other frame pair)`);
}

main().catch((e: unknown) => {
  console.error(`seam-ablation: ${(e as Error).message}`);
  process.exit(1);
});
