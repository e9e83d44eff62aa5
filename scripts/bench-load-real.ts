// `npm run bench:load-real -- --model DIR [--ep wasm,webgpu] [--graph whole|segments] [--frames F]
//    [--window P] [--top-k K] [--no-call] [--force] [--timeout-s S] [--all-shards] [--gc-after-load]`
// Loads a (full-size) package's UNet in headless Chromium with onnxruntime-web, one fresh browser
// per execution provider, through the engine's executors, and runs one whole-graph UNet call on F
// frames (default: the smallest legal clip, max(p, halo)). Before loading, the memory plan
// (src/model/memory-plan.ts) is asked with the limits of that backend (the page's own adapter limits
// for WebGPU, the wasm32 heap for WASM): when it refuses, the run is skipped and its one-line reason
// printed, unless --force, which tries anyway and prints what really stops it. Prints load and call
// time and the peak memory (PSS) of the browser's processes. Each session is given only the weight
// shards its graph points into (SegmentPlan `shards`), each read once and let go after its last
// session; --all-shards ignores those lists (every session gets every shard, all held for the whole
// load: what the executors did before), for a before/after comparison on one package.
// --gc-after-load (a diagnostic) forces a V8 collection once loaded, so the shards the page let go
// are freed before the call rather than whenever V8 next collects.
// Takes minutes: not part of `npm test`.
import { chromium } from '@playwright/test';
import { build } from 'esbuild';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarnessServer } from '../e2e/model-fixtures/harness-server.js';
import { formatBytes, largestClip, modelBytes, type MemoryLimits } from '../src/model/memory-plan.js';
import { WASM_LIMITS } from '../src/model/memory-plan-limits.js';
import { validateSegmentPlan, type SegmentPlan } from '../src/model/segment-plan.js';
import { CHROMIUM_ARGS, ensureChromium } from './chromium.mjs';
import type { LoadRealConfig, LoadRealResult } from './load-real/load-real-page.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MARK = `--vi-load-real=${process.pid}`;

function opt(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

/** Sum of PSS over the browser's process tree (the process whose command line carries MARK, and its descendants). */
function browserPss(): number {
  const parent = new Map<number, number>();
  let root = -1;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (root < 0 && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(MARK)) root = Number(d);
    } catch {
      // the process ended meanwhile
    }
  }
  if (root < 0) return 0;
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === root) return true;
    return false;
  };
  let kb = 0;
  for (const pid of parent.keys()) {
    if (!inTree(pid)) continue;
    try {
      kb += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb * 1024;
}

const memAvailable = () => Number(/MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;

async function main(): Promise<void> {
  const dir = opt('model');
  if (!dir) throw new Error('usage: npm run bench:load-real -- --model DIR [--ep wasm,webgpu] [--graph whole|segments] [--frames F] [--window P] [--top-k K] [--no-call] [--force] [--timeout-s S] [--all-shards] [--gc-after-load]');
  const eps = (opt('ep') ?? 'wasm,webgpu').split(',') as ('wasm' | 'webgpu')[];
  const graph = (opt('graph') ?? 'whole') as 'whole' | 'segments';
  const window = Number(opt('window') ?? 8);
  const topK = Number(opt('top-k') ?? 16);
  const plan = validateSegmentPlan(JSON.parse(readFileSync(path.join(dir, 'onnx', 'segment-plan.json'), 'utf8')) as SegmentPlan);
  const minFrames = Math.max(window, plan.tconvHalo);
  const frames = Number(opt('frames') ?? minFrames);
  const timeoutMs = 1000 * Number(opt('timeout-s') ?? 1800);
  // Stop before the machine runs out: the browser is closed when less than this is left.
  const reserve = 2 * 2 ** 30;
  const model = modelBytes(plan, (p) => statSync(path.join(dir, p)).size);

  const work = mkdtempSync(path.join(tmpdir(), 'vi-load-real-'));
  const bundle = await build({ entryPoints: [path.join(here, 'load-real', 'load-real-page.ts')], bundle: true, format: 'esm', write: false, platform: 'browser', target: 'es2022' });
  writeFileSync(path.join(work, 'load-real.js'), bundle.outputFiles[0]!.contents);
  const server = await startHarnessServer({ '/pkg/': path.resolve(dir), '/work/': work });
  console.log(`${dir}: weights ${formatBytes(model.weightBytes)}; ${graph} graph, ${frames} frames at ${8 * plan.latent.height}×${8 * plan.latent.width} px, window ${window}, top-k ${topK}; ` +
    (flag('all-shards') || !plan.whole.shards ? 'every session gets every shard' : 'each session gets its own shards'));
  try {
    for (const ep of eps) {
      const browser = await chromium.launch({ executablePath: ensureChromium(), args: [...CHROMIUM_ARGS, MARK, ...(flag('gc-after-load') ? ['--js-flags=--expose-gc'] : [])] });
      let peak = 0;
      let stopped = '';
      const poll = setInterval(() => {
        peak = Math.max(peak, browserPss());
        if (!stopped && memAvailable() < reserve) {
          stopped = `stopped: the machine had less than ${formatBytes(reserve)} available (browser at ${formatBytes(peak)})`;
          void browser.close();
        }
      }, 500);
      const t0 = Date.now();
      try {
        const page = await browser.newPage();
        page.on('console', (m) => m.type() === 'error' && console.log(`  [page] ${m.text().slice(0, 300)}`));
        await page.goto(server.url);
        await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
        await page.addScriptTag({ url: '/work/load-real.js', type: 'module' });
        await page.waitForFunction(() => typeof (window as unknown as { loadReal?: unknown }).loadReal === 'function');
        const adapter = await page.evaluate(async () => {
          const a = await navigator.gpu?.requestAdapter();
          return a ? { name: `${a.info.vendor} ${a.info.architecture}`, maxBufferSize: a.limits.maxBufferSize, maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize, shaderF16: a.features.has('shader-f16') } : null;
        });
        const limits: MemoryLimits = ep === 'wasm' ? WASM_LIMITS : {
          name: adapter?.name ?? 'no adapter', backend: 'webgpu', source: 'this page\'s adapter',
          maxBufferSize: adapter?.maxBufferSize, maxStorageBufferBindingSize: adapter?.maxStorageBufferBindingSize,
        };
        console.log(`\n[${ep}] Chromium ${browser.version()}${ep === 'webgpu' ? `, adapter ${JSON.stringify(adapter)}` : ''}`);
        const fit = largestClip(plan, model, limits, { minFrames, window, topK });
        const refuses = !fit.fits || fit.maxFrames < frames;
        console.log(`  memory plan: ${fit.fits ? `largest clip ${fit.maxFrames} frames (then ${fit.limitedBy})` : fit.reason}`);
        if (refuses && !flag('force')) {
          console.log(`  skipped: the plan refuses ${frames} frames on ${ep} (--force tries anyway)`);
          continue;
        }
        const cfg: LoadRealConfig = { ep, pkg: '/pkg', graph, frames, call: !flag('no-call') && graph === 'whole', window, topK, allShards: flag('all-shards'), gcAfterLoad: flag('gc-after-load') };
        let loadedPeak = 0;
        let loadedNow = 0;
        const loadedAt = setInterval(() => void page.evaluate(() => (window as unknown as { loadRealStage?: string }).loadRealStage).then((st) => {
          if (st === 'loaded' && !loadedPeak) {
            loadedNow = browserPss();
            loadedPeak = Math.max(peak, loadedNow);
          }
        }).catch(() => undefined), 1000);
        const r = (await Promise.race([
          page.evaluate((c) => (window as unknown as { loadReal(c: LoadRealConfig): Promise<LoadRealResult> }).loadReal(c), cfg),
          new Promise<LoadRealResult>((resolve) => setTimeout(() => resolve({ stage: 'failed', error: `timed out after ${timeoutMs / 1000} s`, failedAt: '?' }), timeoutMs)),
          // A browser that dies (killed, or out of memory) does not always end the evaluate.
          new Promise<LoadRealResult>((resolve) => browser.on('disconnected', () => resolve({ stage: 'failed', error: `the browser went away${stopped ? ` (${stopped})` : ''}`, failedAt: '?' }))),
          new Promise<LoadRealResult>((resolve) => page.on('crash', () => resolve({ stage: 'failed', error: 'the page crashed (renderer process gone)', failedAt: '?' }))),
        ])) as LoadRealResult;
        clearInterval(loadedAt);
        if (loadedPeak) console.log(`  peak browser memory when loaded (PSS): ${formatBytes(loadedPeak)} (just after loading: ${formatBytes(loadedNow)})`);
        const s = (ms?: number) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(1)} s`);
        console.log(`  ${r.stage}${r.failedAt ? ` (failed at ${r.failedAt})` : ''}: load ${s(r.loadMs)}, call ${s(r.callMs)}` +
          `${r.outDims ? `, noise_pred [${r.outDims}] ${r.nonFinite === 0 ? 'all finite' : `${r.nonFinite} non-finite`}` : ''}`);
        if (r.error) console.log(`  error: ${r.error.slice(0, 1000)}`);
      } catch (e) {
        console.log(`  ${stopped || `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`}`);
      } finally {
        clearInterval(poll);
        peak = Math.max(peak, browserPss());
        console.log(`  wall ${((Date.now() - t0) / 1000).toFixed(1)} s; peak browser memory (PSS, all its processes) ${formatBytes(peak)}${stopped ? `; ${stopped}` : ''}`);
        await browser.close().catch(() => undefined);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    // A browser that died can leave the server's connections open, and close() would wait for them.
    await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
