// Peak memory and step time of one rank against its frame count (issue 17 §2–3): one segmented
// denoise step of a single-rank clip of F frames on onnxruntime-node (CPU), each F in a fresh child
// process so that its peak RSS is its own.
//
//   npm run bench:frames -- [--model DIR[,DIR2...]] [--frames 64,128,256,512,1024] [--steps 1]
//                           [--arena default|on] [--max-rss-gb 12] [--graph segmented|whole]
//
// --model: one or more compiled packages (e.g. a copy compiled with the dense temporal attention next
//   to the current one), each measured at every F in the same run.
// --arena on: the old session options (ORT's per-session CPU arena on), for a before/after of the
//   runner's defaults in the same run; 'default' uses SessionRunner's defaults.
// A child whose resident memory passes --max-rss-gb is killed and reported as such (the machine is shared).
// Printed per row: peak RSS of the process (model loaded, one warm-up call, the timed steps), mean step
// time, and the ratio of each to the row with half the frames.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { denoise, denoiseWhole } from '../src/engine/denoise.js';
import { loadEngineModel } from '../src/engine/engine-model.js';
import type { JobParams } from '../src/engine/job-state.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { NO_SPIN } from './node-cli.js';


function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

interface ChildResult {
  frames: number;
  stepMs: number;
  peakRssMb: number;
}

/** Child mode: one model, one F; prints a JSON line. */
async function child(): Promise<void> {
  const modelDir = resolve(arg('model', 'public/models/vi-shapes-tiny'));
  const frames = Number(arg('frames', '64'));
  const steps = Number(arg('steps', '1'));
  const whole = arg('graph', 'segmented') === 'whole';
  const arena = arg('arena', 'default');
  const sessionOptions = arena === 'on' ? { ...NO_SPIN, enableCpuMemArena: true, enableMemPattern: true } : NO_SPIN;
  const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions });
  const model = await loadEngineModel(runner, async (p) => new Uint8Array(await readFile(join(modelDir, p))), { graphs: [whole ? 'whole' : 'segmented'] });
  const d = model.manifest.defaults;
  const job: JobParams = {
    jobId: 1, totalFrames: frames, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle moving right' }] }, seed: 0, steps,
    guidanceScale: d.guidance, sampler: { kind: 'ddim', eta: 0 },
    dualScope: { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias },
    fps: model.manifest.frame_rate, partition: whole ? null : { totalFrames: frames, ranges: [{ start: 0, end: frames }] }, exchangeMode: 'exact',
  };
  let stepMs = 0;
  const onProgress = (p: { stepMs: number }) => void (stepMs += p.stepMs);
  if (whole) await denoiseWhole(model, job, { onProgress, warmUp: true });
  else await denoise(model, job, null, { onProgress, warmUp: true });
  const out: ChildResult = { frames, stepMs: stepMs / steps, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  console.log(`RESULT ${JSON.stringify(out)}`);
}

/** Runs one child, killing it when its RSS passes the cap. */
function runChild(args: string[], capMb: number): Promise<ChildResult | { killed: number } | { error: string }> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((done) => {
    const p = spawn(process.execPath, ['--import', 'tsx', self, '--child', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let peak = 0;
    let killed = false;
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    const timer = setInterval(() => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        const mb = m ? Number(m[1]) / 1024 : 0;
        peak = Math.max(peak, mb);
        if (mb > capMb && !killed) (killed = true), p.kill('SIGKILL');
      } catch {
        /* exited */
      }
    }, 100);
    p.on('exit', () => {
      clearInterval(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (killed) done({ killed: peak });
      else if (line) done(JSON.parse(line.slice(7)) as ChildResult);
      else done({ error: (err.trim().split('\n').filter((l) => /error|Error/.test(l))[0] ?? err.trim().split('\n').pop() ?? 'no output').slice(0, 200) });
    });
  });
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child();
  const models = arg('model', 'public/models/vi-shapes-tiny').split(',');
  const frameList = arg('frames', '64,128,256,512,1024').split(',').map(Number);
  const steps = arg('steps', '1');
  const arena = arg('arena', 'default');
  const graph = arg('graph', 'segmented');
  const capMb = Number(arg('max-rss-gb', '12')) * 1024;
  console.log(`onnxruntime-node CPU, one rank, ${graph}, ${steps} DDIM step(s) after 1 warm-up call, session arena ${arena}, cap ${capMb / 1024} GB RSS`);
  console.log('| model | frames | peak RSS (MB) | ×RSS per doubling | step (ms) | ×time per doubling |');
  console.log('|---|---|---|---|---|---|');
  for (const m of models) {
    let prev: ChildResult | null = null;
    for (const f of frameList) {
      const r = await runChild(['--model', m, '--frames', String(f), '--steps', steps, '--arena', arena, '--graph', graph], capMb);
      if ('frames' in r) {
        const ratio = (a: number, b: number | undefined) => (prev && b && f === 2 * prev.frames ? (a / b).toFixed(2) : '');
        console.log(`| ${m} | ${f} | ${r.peakRssMb.toFixed(0)} | ${ratio(r.peakRssMb, prev?.peakRssMb)} | ${r.stepMs.toFixed(0)} | ${ratio(r.stepMs, prev?.stepMs)} |`);
        prev = r;
      } else {
        console.log(`| ${m} | ${f} | ${'killed' in r ? `> ${(r.killed).toFixed(0)} (killed at the cap)` : `failed: ${r.error}`} | | | |`);
        break;
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
