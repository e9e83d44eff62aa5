// Headless generation: starts the signaling server on the built app, opens a host tab and N worker
// tabs in headless Chromium (Playwright, the system Chromium), runs one render job through the real
// app (WebRTC mesh, engine workers, WebCodecs, mediabunny), and writes the file.
//
//   npm run generate -- --prompt "a red circle moving right on a black background" --frames 256 --tabs 4 --out out.mp4
//   npm run generate -- --prompt-schedule "0:a red circle moving right;64:a blue square moving left" --frames 128 --tabs 2 --out out.mp4
//
// Flags: --prompt TEXT | --prompt-schedule "FROM:TEXT;..."  --frames N (256)  --tabs N (4; 0 = the
// host tab renders alone, whole-graph UNet)  --steps S  --guidance G  --seed N (0)
// --sampler ddim|dpm++2m|dpm++2m-sde  --scale K (the package's: ×8 for the 32×32 embedded model, ×1 from a 256-pixel short side)  --ep webgpu|wasm (default: WebGPU, WASM fallback)
// --partition speed|even (speed: frames shared by each tab's measured UNet speed, the dashboard's
// default; even: the same frames per tab)
// --exchange exact|exact-fp16|sparse-global|sparse-global-fp16|stale (how the tabs exchange context; default: the
// dashboard's; a wrong value lists each mode with its measured cost, docs/performance.md)
// --cfg-split on|off (off; on: each clip's two guidance branches on a pair of tabs, --tabs even)
// --model DIR (public/models/vi-shapes-tiny)  --timeout SECONDS (1800)  --out FILE (required)
// --json FILE (also write the summary and per-step figures as JSON; scripts/bench-cluster.ts reads it)
// CHROMIUM_PATH overrides /usr/bin/chromium; with neither, a Chromium is installed as for npm test. Exits non-zero with a message on any failure.
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from '@playwright/test';
import { startSignalingServer, type SignalingServer } from '../signaling/server.js';
import { ensureAppBuilt } from './app-build.mjs';
import { CHROMIUM_ARGS, ensureChromium } from './chromium.mjs';
import type { RenderJobState } from '../src/app/job/render-view.js';
import { DEFAULT_EXCHANGE, EXCHANGE_CHOICES, SAMPLER_NAMES } from '../src/app/job/render-spec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

class Failure extends Error {}

const FLAGS = ['prompt', 'prompt-schedule', 'frames', 'tabs', 'steps', 'guidance', 'seed', 'sampler', 'scale', 'ep', 'partition', 'exchange', 'cfg-split', 'model', 'timeout', 'out', 'json'] as const;
type Flag = (typeof FLAGS)[number];

function parseArgs(argv: string[]): Partial<Record<Flag, string>> {
  const flags: Partial<Record<Flag, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Failure(`unexpected argument ${JSON.stringify(a)}: flags look like --name value`);
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!(FLAGS as readonly string[]).includes(name)) throw new Failure(`unknown flag --${name}; known: ${FLAGS.map((f) => `--${f}`).join(' ')}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Failure(`--${name} needs a value`);
    flags[name as Flag] = value;
  }
  return flags;
}

function int(flags: Partial<Record<Flag, string>>, name: Flag, fallback: number, min: number, max: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || v < min || v > max) throw new Failure(`--${name} ${JSON.stringify(raw)}: must be an integer in [${min}, ${max}]`);
  return v;
}

function scheduleText(flags: Partial<Record<Flag, string>>): string {
  if ((flags.prompt === undefined) === (flags['prompt-schedule'] === undefined)) throw new Failure('give exactly one of --prompt "TEXT" and --prompt-schedule "FROM:TEXT;FROM:TEXT"');
  if (flags.prompt !== undefined) return `0: ${flags.prompt}`;
  return flags['prompt-schedule']!.split(';').filter((s) => s.trim()).join('\n');
}

const bar = (done: number, total: number, width = 30) => `[${'#'.repeat(Math.round((done / Math.max(total, 1)) * width)).padEnd(width, '.')}]`;

async function main(argv: string[]): Promise<void> {
  // 1. Arguments and prerequisites.
  const flags = parseArgs(argv);
  if (!flags.out) throw new Failure('--out FILE is required (e.g. --out out.mp4)');
  const frames = int(flags, 'frames', 256, 1, 100_000);
  const tabs = int(flags, 'tabs', 4, 0, 32);
  const timeoutMs = int(flags, 'timeout', 1800, 10, 86_400) * 1000;
  const schedule = scheduleText(flags);
  if (flags.ep !== undefined && flags.ep !== 'webgpu' && flags.ep !== 'wasm') throw new Failure(`--ep ${JSON.stringify(flags.ep)}: must be webgpu or wasm`);
  if (flags.sampler !== undefined && !(SAMPLER_NAMES as readonly string[]).includes(flags.sampler)) throw new Failure(`--sampler ${JSON.stringify(flags.sampler)}: must be ${SAMPLER_NAMES.slice(0, -1).join(', ')} or ${SAMPLER_NAMES.at(-1)}`);
  const exchange = flags.exchange ?? DEFAULT_EXCHANGE;
  if (!EXCHANGE_CHOICES.some((c) => c.name === exchange)) throw new Failure(`--exchange ${JSON.stringify(flags.exchange)}: must be one of\n${EXCHANGE_CHOICES.map((c) => `  ${c.name.padEnd(19)} ${c.cost}`).join('\n')}`);
  const partition = flags.partition ?? 'speed';
  if (partition !== 'speed' && partition !== 'even') throw new Failure(`--partition ${JSON.stringify(partition)}: must be speed or even`);
  if (tabs === 0 && flags.partition !== undefined) throw new Failure('--partition needs worker tabs: with --tabs 0 the host renders the whole video alone');
  if (flags['cfg-split'] !== undefined && flags['cfg-split'] !== 'on' && flags['cfg-split'] !== 'off') throw new Failure(`--cfg-split ${JSON.stringify(flags['cfg-split'])}: must be on or off`);
  const cfgSplit = flags['cfg-split'] === 'on';
  if (cfgSplit && (tabs < 2 || tabs % 2 !== 0)) throw new Failure(`--cfg-split on needs an even number of worker tabs (each clip runs on a pair), got --tabs ${tabs}`);
  let chromiumPath: string;
  try {
    chromiumPath = ensureChromium();
  } catch (e) {
    throw new Failure((e as Error).message);
  }
  const modelDir = path.resolve(flags.model ?? path.join(root, 'public', 'models', 'vi-shapes-tiny'));
  if (!existsSync(path.join(modelDir, 'manifest.json'))) throw new Failure(`no compiled model package at ${modelDir} (missing manifest.json; run npm run compile-model -- DIR, or pass --model DIR)`);
  if (ensureAppBuilt() !== 0) throw new Failure('vite build failed (see above)');
  // The server serves dist/; the package goes under dist/models/ for the run (removed afterwards).
  const servedName = `generate-${process.pid}`;
  const servedDir = path.join(root, 'dist', 'models', servedName);
  mkdirSync(path.dirname(servedDir), { recursive: true });
  cpSync(modelDir, servedDir, { recursive: true });

  let server: SignalingServer | null = null;
  let browser: Browser | null = null;
  try {
    // 2. Server, browser, host and worker tabs.
    server = await startSignalingServer({ port: 0, distDir: path.join(root, 'dist') });
    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS }).catch((e: Error) => {
      throw new Failure(`could not start Chromium at ${chromiumPath}: ${e.message.split('\n')[0]}`);
    });
    let crashed: string | null = null;
    const open = async (url: string, name: string): Promise<Page> => {
      const page = await (await browser!.newContext()).newPage();
      // A worker tab lost mid-job is survivable (the host restarts the job on the others); the host is not.
      page.on('crash', () => (name === 'host' ? (crashed = 'the host tab crashed') : console.error(`[${name}] the tab crashed; the host goes on without it`)));
      page.on('pageerror', (e) => console.error(`[${name}] ${e.message}`));
      await page.goto(url);
      return page;
    };
    const ep = flags.ep ? `&ep=${flags.ep}` : '';
    const host = await open(`${server.url}/?model=${encodeURIComponent(`/models/${servedName}/`)}${ep}`, 'host');
    await host.getByTestId('create-room').click();
    const joinUrl = await host.getByTestId('join-link').inputValue();
    await Promise.all(Array.from({ length: tabs }, (_, i) => open(`${joinUrl}&name=tab${i}${ep}`, `tab${i}`)));
    const deadline = Date.now() + timeoutMs;
    const waitFor = async (what: string, ok: () => Promise<boolean>) => {
      while (!(await ok())) {
        if (crashed) throw new Failure(crashed);
        if (Date.now() > deadline) throw new Failure(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    await waitFor(`${tabs} worker tabs to join`, () => host.evaluate(() => (document.querySelector('vi-host') as unknown as { service: { readyWorkers(): unknown[] } }).service.readyWorkers().length).then((n) => n === tabs));

    // 3. The job, through the dashboard's form.
    await host.getByTestId('prompt-schedule').fill(schedule);
    await host.getByTestId('frames').fill(String(frames));
    if (flags.steps) await host.getByTestId('steps').fill(String(int(flags, 'steps', 25, 1, 1000)));
    if (flags.guidance) await host.getByTestId('guidance').fill(flags.guidance);
    await host.getByTestId('seed').fill(String(int(flags, 'seed', 0, 0, 0xffffffff)));
    if (flags.sampler) await host.getByTestId('sampler').selectOption(flags.sampler);
    await host.getByTestId('exchange-mode').selectOption(exchange);
    if (cfgSplit) await host.getByTestId('cfg-split').check();
    if (flags.scale) await host.getByTestId('export-scale').fill(String(int(flags, 'scale', 1, 1, 16)));
    if (tabs === 0) await host.getByTestId('compute-here').check();
    else await host.getByTestId('partition').selectOption(partition);
    const unknown = await host.getByTestId('unknown-words').textContent({ timeout: 1000 }).catch(() => null);
    if (unknown) throw new Failure(`the prompt has ${unknown}`);
    const start = host.getByTestId('start-job');
    await waitFor('the Start button', () => start.isEnabled());
    const t0 = Date.now();
    await start.click();

    // 4. Follow the job: a progress bar from the host's state.
    const stateOf = () => host.evaluate(() => (document.querySelector('vi-host') as unknown as { renderJob: { state: RenderJobState } }).renderJob.state).then((s) => JSON.parse(JSON.stringify({ ...s, ranks: s.ranks.map((r) => ({ ...r, preview: undefined })) })) as RenderJobState);
    let s = await stateOf();
    let last = '';
    while (s.phase === 'preparing' || s.phase === 'running' || s.phase === 'muxing') {
      if (crashed) throw new Failure(crashed);
      if (Date.now() > deadline) throw new Failure(`timed out after ${timeoutMs / 1000} s (phase ${s.phase}, ${s.stepStats.length}/${s.steps} steps)`);
      const steps = s.steps ?? 1;
      const line = `${bar(s.stepStats.length, steps)} step ${s.stepStats.length}/${steps}  ${s.phase}${s.etaMs ? `  ETA ${(s.etaMs / 1000).toFixed(0)} s` : ''}  ${s.ranks.map((r) => `${r.provider ?? '…'}:${r.stepsDone}`).join(' ')}`;
      if (line !== last) process.stdout.write(`${process.stdout.isTTY ? '\r' : ''}${line}${process.stdout.isTTY ? '' : '\n'}`);
      last = line;
      await new Promise((r) => setTimeout(r, 1000));
      s = await stateOf();
    }
    if (process.stdout.isTTY) process.stdout.write('\n');
    if (s.phase !== 'done' || !s.video) throw new Failure(`the job ${s.phase}: ${s.error ?? 'no video'}`);
    if (tabs > 0 && s.partitionBy !== partition) throw new Failure(`asked for --partition ${partition}, the job shared the frames ${s.partitionBy ?? 'somehow else'}`);

    // 5. The file and a summary.
    const b64 = await host.evaluate(async (url) => {
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      let out = '';
      for (let i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(out);
    }, s.video.url);
    const outPath = path.resolve(flags.out);
    writeFileSync(outPath, Buffer.from(b64, 'base64'));
    const seconds = (Date.now() - t0) / 1000;
    const n = s.stepStats.length || 1;
    const mean = (f: (x: RenderJobState['stepStats'][number]) => number) => s.stepStats.reduce((a, x) => a + f(x), 0) / n;
    console.log(`wrote ${outPath}: ${s.video.frames} frames ${s.video.width}×${s.video.height}, ${s.video.mimeType} (${s.video.codecString}), ${(s.video.bytes / 1024).toFixed(0)} KiB`);
    if (!outPath.endsWith(`.${s.video.mimeType.split('/')[1]}`)) console.log(`note: the container is ${s.video.mimeType} (this Chromium could not encode H.264)`);
    console.log(`${s.ranks.length} tab(s) [${s.ranks.map((r) => `${r.name} ${r.provider} [${r.range.start},${r.range.end})`).join('; ')}], ${s.steps} steps, ${seconds.toFixed(1)} s from Start to file`);
    const frameCounts = s.ranks.map((r) => r.range.end - r.range.start).join('/');
    console.log(`partition: ${s.partitionBy === 'speed' ? `by measured speed (${s.ranks.map((r) => `${r.name} ${r.framesPerSecond?.toFixed(1)} frames/s`).join(', ')}) → ${frameCounts} frames` : s.partitionBy === 'even' ? `even → ${frameCounts} frames` : 'none (the host rendered the whole video alone)'}`);
    console.log(`exchange: ${exchange} (${EXCHANGE_CHOICES.find((c) => c.name === exchange)!.cost})${cfgSplit ? '; guidance split over pairs of tabs' : ''}`);
    for (const r of s.restarts ?? []) console.log(`restarted: ${r}`);
    if (flags.json) writeFileSync(path.resolve(flags.json), JSON.stringify({ seconds, tabs: s.ranks.length, frames: s.video.frames, steps: s.steps, partition: s.partitionBy ?? null, exchange, ranks: s.ranks, stepStats: s.stepStats, restarts: s.restarts ?? [], packageDir: modelDir }, null, 2));
    console.log(`per step (mean over steps, per tab): wall ${mean((x) => x.wallMs).toFixed(0)} ms = compute ${mean((x) => x.computeMs).toFixed(0)} ms + network wait ${mean((x) => x.networkWaitMs).toFixed(0)} ms; sent ${(mean((x) => x.bytesSentPerTab) / 1e6).toFixed(2)} MB per step per tab to the mesh, ${(mean((x) => x.checkpointBytesPerTab) / 1e6).toFixed(2)} MB of checkpoints to the host`);
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    rmSync(servedDir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`generate: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof Failure ? 2 : 1);
  },
);
