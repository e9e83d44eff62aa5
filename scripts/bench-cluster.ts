// Cluster benchmark: the same render job on W = 1, 2, 3 worker tabs at the same frames per tab,
// each run through `npm run generate --partition even` (real tabs, WebRTC mesh, engine workers; an
// even partition, so every tab renders the same frames whatever its measured speed); prints a table of
// per-step compute, network wait and bytes sent per step per tab, next to the network budget
// (src/model/exchange-budget.ts, the one source for these figures): what our scheme should send, and
// what upstream Video-Infinity's scheme would send, at our p, topK and precision (fp32) and as
// published (p 8, topK 16, fp16). The last column is what each tab sends the host per step so the job
// can resume without it (checkpoints, base64 on the control channel; the host's own rank sends none).
//
//   npm run bench:cluster -- [--frames-per-tab 16] [--steps 2] [--tabs 1,2,3] [--ep wasm|webgpu] [--model DIR]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RankView, StepStat } from '../src/app/job/render-view.js';
import { ourStepBudget, UPSTREAM_PUBLISHED, upstreamStepBudget } from '../src/model/exchange-budget.js';
import { loadExchangePlan, roomPlaces } from './exchange-plan.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Run { seconds: number; tabs: number; frames: number; steps: number; partition: 'speed' | 'even' | null; ranks: RankView[]; stepStats: StepStat[]; packageDir: string }

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
    const x = loadExchangePlan(model);
    const places = roomPlaces(x, W, framesPerTab);
    const meanOver = (f: (p: (typeof places)[number]) => number) => places.reduce((a, p) => a + f(p), 0) / W;
    const n = run.stepStats.length || 1;
    const mean = (f: (s: StepStat) => number) => run.stepStats.reduce((a, s) => a + f(s), 0) / n;
    const measured = mean((s) => s.bytesSentPerTab);
    const budget = meanOver((p) => ourStepBudget(x.plan, p, x.p).total);
    const upstreamEqual = meanOver((p) => upstreamStepBudget(x.plan, p, { p: x.p, topK: x.topK, precision: 'fp32' }).total);
    const upstreamPublished = meanOver((p) => upstreamStepBudget(x.plan, p, UPSTREAM_PUBLISHED).total);
    rows.push([String(W), String(run.frames), perTab.join('/'), mean((s) => s.wallMs).toFixed(0), mean((s) => s.computeMs).toFixed(0), mean((s) => s.networkWaitMs).toFixed(0),
      (measured / 1e6).toFixed(3), (budget / 1e6).toFixed(3), (upstreamEqual / 1e6).toFixed(3), (upstreamPublished / 1e6).toFixed(3),
      W > 1 ? `${((100 * measured) / upstreamEqual).toFixed(0)} %` : '–', (mean((s) => s.checkpointBytesPerTab) / 1e6).toFixed(3)]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const head = ['W', 'frames', 'per tab', 'step ms', 'compute ms', 'net wait ms', 'sent MB/step/tab', 'budget MB', 'upstream at our p, topK, fp32', 'upstream as published', 'sent / upstream at equal', 'checkpoint MB/step/tab'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(`\nbench:cluster (${ep}, ${framesPerTab} frames per tab (even partition), ${steps} steps; means over steps and tabs)`);
console.log(line(head));
for (const r of rows) console.log(line(r));
