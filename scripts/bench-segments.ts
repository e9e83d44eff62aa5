// Per-segment timings of one UNet call in Chromium with onnxruntime-web, WASM and WebGPU (issue 4 §6):
// how much of a call is session.run overhead versus compute.
//
//   npx tsx scripts/bench-segments.ts [--package public/models/vi-shapes-tiny] [--frames 8] [--repeats 3] [--ep wasm,webgpu]
//
// Without --package (or if it has no onnx/), a random-weight package of the embedded architecture is
// written and compiled in a temp dir (same graphs, so the same timings). The timed rank is the middle
// of three clips of F frames (interior halos on both sides). Numbers are wall times of session.run;
// the first call (WebGPU pipeline compilation) is excluded.
import { chromium } from '@playwright/test';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startHarnessServer } from '../e2e/model-fixtures/harness-server.js';
import { compileModelPackage } from '../src/model/compile/compile-model.js';
import { Program } from '../src/model/compile/graph.js';
import { serializeGraph } from '../src/model/compile/onnx-writer.js';
import { writeTinyPackage } from '../src/model/testing/tiny-model.js';
import { CHROMIUM_ARGS, ensureChromium } from './chromium.mjs';

interface BenchResult {
  perSegment: number[][];
  readMs: number[];
  wholeMs: number[];
  emptyMs: number[];
  ops: number[];
  sends: string[];
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const fmt = (x: number) => x.toFixed(2).padStart(8);

async function main(): Promise<void> {
  const frames = Number(arg('frames', '8'));
  const repeats = Number(arg('repeats', '3'));
  const eps = arg('ep', 'wasm,webgpu').split(',') as ('wasm' | 'webgpu')[];
  let pkg = arg('package', 'public/models/vi-shapes-tiny');
  let tmp: string | undefined;
  if (!existsSync(path.join(pkg, 'onnx', 'segment-plan.json'))) {
    tmp = mkdtempSync(path.join(tmpdir(), 'vi-bench-'));
    writeTinyPackage(tmp);
    compileModelPackage(tmp);
    console.log(`(${pkg} has no compiled onnx/: using a random-weight package of the same architecture)`);
    pkg = tmp;
  }
  const work = mkdtempSync(path.join(tmpdir(), 'vi-bench-empty-'));
  const P = new Program('empty');
  P.output(P.op('Identity', [P.callInput('x', 'float32', [16])], {}, 'y', [16]), 'result');
  writeFileSync(path.join(work, 'empty.onnx'), serializeGraph(P.segments[0].graph));

  const server = await startHarnessServer({ '/pkg/': path.resolve(pkg), '/work/': work });
  const browser = await chromium.launch({
    executablePath: ensureChromium(),
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
    const adapter = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      return a ? `${a.info.vendor} ${a.info.architecture}${a.info.isFallbackAdapter ? ' (fallback adapter)' : ''}` : 'none';
    });
    console.log(`Chromium ${browser.version()}, WebGPU adapter: ${adapter}; clip F=${frames} (middle rank of 3), batch 2, ${repeats} timed calls after 1 warm-up`);
    const summary: string[] = [];
    for (const ep of eps) {
      const r = (await page.evaluate((cfg) => (window as unknown as { modelParity: { bench(c: unknown): Promise<unknown> } }).modelParity.bench(cfg), {
        ep, pkg: '/pkg', frames, repeats, params: { window: 4, topK: 8, phaseTimestep: 800, phaseBias: 10 }, emptyModel: '/work/empty.onnx',
      })) as BenchResult;
      const seg = r.perSegment.map(median);
      const segSum = seg.reduce((a, b) => a + b, 0);
      const empty = median(r.emptyMs);
      console.log(`\n[${ep}] per segment (median ms of session.run):`);
      console.log('  seg   ops      ms   then');
      seg.forEach((ms, i) => console.log(`  ${String(i).padStart(3)} ${String(r.ops[i]).padStart(5)} ${fmt(ms)}   ${r.sends[i]}`));
      const overhead = seg.length * empty;
      summary.push(
        `| ${ep} | ${seg.length} | ${segSum.toFixed(1)} | ${median(r.readMs).toFixed(1)} | ${median(r.wholeMs).toFixed(1)} | ${empty.toFixed(3)} | ${overhead.toFixed(1)} (${((100 * overhead) / segSum).toFixed(0)}%) | ${(segSum - median(r.wholeMs)).toFixed(1)} |`,
      );
    }
    console.log('\n| EP | segments | Σ segment run (ms) | readback of sends (ms) | whole graph, same F (ms) | empty run (ms) | est. run overhead = segments × empty | Σ segments − whole (ms) |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const line of summary) console.log(line);
  } finally {
    await browser.close();
    await server.close();
    rmSync(work, { recursive: true, force: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
