// Cluster benchmark: the same render job on W = 1, 2, 3 worker tabs at the same frames per tab,
// each run through `npm run generate --partition even` (real tabs, WebRTC mesh, engine workers; an
// even partition, so every tab renders the same frames whatever its measured speed); prints a table of
// per-step compute, network wait and bytes sent per step per tab, next to what upstream
// Video-Infinity's scheme would have sent for the same attention exchanges: K and V (twice our
// attention input's channels) with 8-frame halos both ways, instead of the attention input with
// p-frame halos. Other exchanges (temporal-conv halos, norm statistics) are counted the same. The
// last column is what each tab sends the host per step so the job can resume without it (checkpoints,
// base64 on the control channel; the host's own rank sends none).
//
//   npm run bench:cluster -- [--frames-per-tab 16] [--steps 2] [--tabs 1,2,3] [--ep wasm|webgpu] [--model DIR]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RankView, StepStat } from '../src/app/job/render-view.js';
import { globalFrameIndices } from '../src/engine/dual-scope.js';
import type { SegmentPlan } from '../src/model/segment-plan.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const UPSTREAM_HALO_FRAMES = 8;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Run { seconds: number; tabs: number; frames: number; steps: number; partition: 'speed' | 'even' | null; ranks: RankView[]; stepStats: StepStat[]; packageDir: string }

/** Attention bytes one rank sends per step: ours (input, p-frame halos) and upstream's (K and V, 8-frame halos). */
function attentionBytes(plan: SegmentPlan, manifest: { defaults: { local_window_p: number; global_top_k: number } }, ranges: { start: number; end: number }[], totalFrames: number): { ours: number; upstream: number } {
  const p = manifest.defaults.local_window_p;
  const globals = globalFrameIndices(totalFrames, manifest.defaults.global_top_k);
  const W = ranges.length;
  let ours = 0;
  let upstream = 0;
  for (const point of plan.exchangePoints) {
    if (point.kind !== 'attention') continue;
    const perFrame = point.tokens * point.channels * 4; // [T = B·H·W tokens, C] float32 per frame
    for (const r of ranges) {
      const neighbours = (r.start > 0 ? 1 : 0) + (r.end < totalFrames ? 1 : 0);
      const ownGlobals = globals.filter((g) => g >= r.start && g < r.end).length;
      ours += (neighbours * p + ownGlobals * (W - 1)) * perFrame;
      upstream += (neighbours * UPSTREAM_HALO_FRAMES + ownGlobals * (W - 1)) * 2 * perFrame; // K and V
    }
  }
  return { ours: ours / W, upstream: upstream / W };
}

const framesPerTab = Number(arg('frames-per-tab', '16'));
const steps = arg('steps', '2');
const tabsList = arg('tabs', '1,2,3').split(',').map(Number);
const ep = arg('ep', 'wasm');
const model = path.resolve(arg('model', path.join(root, 'public', 'models', 'vi-shapes-tiny')));
const dir = mkdtempSync(path.join(tmpdir(), 'bench-cluster-'));
const rows: string[][] = [];
try {
  for (const W of tabsList) {
    const json = path.join(dir, `w${W}.json`);
    console.log(`W = ${W}: ${W * framesPerTab} frames, ${steps} steps on ${ep}…`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'generate.ts'),
      '--prompt', 'a red circle moving right on a black background', '--frames', String(W * framesPerTab), '--tabs', String(W), '--steps', steps,
      '--sampler', 'ddim', '--partition', 'even', '--ep', ep, '--model', model, '--out', path.join(dir, `w${W}.mp4`), '--json', json], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`generate failed for W = ${W} (exit ${r.status})`);
    const run = JSON.parse(readFileSync(json, 'utf8')) as Run;
    const perTab = run.ranks.map((x) => x.range.end - x.range.start);
    if (run.partition !== 'even' || perTab.some((f) => f !== framesPerTab)) throw new Error(`W = ${W}: expected ${framesPerTab} frames on every tab, got ${run.partition} partition ${perTab.join('/')}`);
    const plan = JSON.parse(readFileSync(path.join(model, 'onnx', 'segment-plan.json'), 'utf8')) as SegmentPlan;
    const manifest = JSON.parse(readFileSync(path.join(model, 'manifest.json'), 'utf8'));
    const n = run.stepStats.length || 1;
    const mean = (f: (s: StepStat) => number) => run.stepStats.reduce((a, s) => a + f(s), 0) / n;
    const measured = mean((s) => s.bytesSentPerTab);
    const att = attentionBytes(plan, manifest, run.ranks.map((x) => x.range), run.frames);
    const upstream = measured - att.ours + att.upstream;
    rows.push([String(W), String(run.frames), perTab.join('/'), mean((s) => s.wallMs).toFixed(0), mean((s) => s.computeMs).toFixed(0), mean((s) => s.networkWaitMs).toFixed(0),
      (measured / 1e6).toFixed(3), (att.ours / 1e6).toFixed(3), (upstream / 1e6).toFixed(3), W > 1 ? `${(upstream / Math.max(measured, 1)).toFixed(2)}×` : '–',
      (mean((s) => s.checkpointBytesPerTab) / 1e6).toFixed(3)]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const head = ['W', 'frames', 'per tab', 'step ms', 'compute ms', 'net wait ms', 'sent MB/step/tab', 'of which attention', 'upstream MB/step/tab', 'upstream/ours', 'checkpoint MB/step/tab'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(`\nbench:cluster (${ep}, ${framesPerTab} frames per tab (even partition), ${steps} steps; means over steps and tabs)`);
console.log(line(head));
for (const r of rows) console.log(line(r));
