// `npm run bench:exchange`: real Chromium tabs on the real mesh (the signaling server, PeerJS WebRTC
// data channels, our framing) replay one package's exact exchange pattern: every exchange point of
// the segment plan in plan order, with the tensor sizes each tab really sends (src/model/
// exchange-budget.ts), and each segment's compute simulated by a wait. Prints, per world size W and
// link: step time against compute-only time, the network-wait share, MB/s achieved while exchanging,
// and bytes sent per step per tab (measured, and the budget's figure). Not a test.
//
//   npm run bench:exchange -- [--model DIR | --model preset:videocrafter2] [--tabs 2,4] [--link loopback,1gbit]
//     [--compute-rate 8] [--frames-per-tab 24] [--steps 3] [--scale 1] [--precision fp32|fp16] [--size 320x512] [--dry-run]
//
// --link: `loopback` = every tab in one Chromium on this machine's loopback (no shaping); `1gbit`
//   (any tc rate) = one network namespace and one Chromium per tab, each behind its own veth link
//   rate-limited both ways with tc tbf to a hub namespace where the signaling server runs (scripts/
//   netns.ts; needs root). This kernel has no netem, so no delay is added. The benchmark removes its
//   namespaces on exit, on failure and on ctrl-C; a run killed hard is cleaned up by the next one.
// --compute-rate: frames of one UNet call (CFG batch 2) per second per tab; a step's compute is
//   frames-per-tab / rate, split evenly over the plan's segments. Default 8 frames/s, a mid-range
//   GPU at VideoCrafter2 size (docs/performance.md says where the figure comes from). `measured`:
//   the engine's own speed benchmark (measureUnetSpeed, one warm-up call then one timed call of
//   frames-per-tab frames) on a compiled package, in Node with onnxruntime-node on this machine's CPU.
// --scale s: every message and every compute wait is multiplied by s (e.g. 1/16), so a full-size
//   pattern fits in this machine's time; time ratios and MB/s are what a bandwidth-bound link gives
//   at full size, and step times and bytes are reported divided by s (full-size equivalents). The
//   fixed per-message costs are multiplied by 1/s with them, so the network share is, if anything,
//   overstated.
// --steps n: the first step warms up (SCTP windows, JIT) and is left out of the figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from '@playwright/test';
import type { ReplaySpec, ReplayStep } from '../src/app/testing/bench-hooks.js';
import { ourMessages, ourStepBudget, type WireOptions, type WirePrecision } from '../src/model/exchange-budget.js';
import { startSignalingServer } from '../signaling/server.js';
import { loadEngineModel } from '../src/engine/engine-model.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { measureUnetSpeed } from '../src/engine/worker/speed-benchmark.js';
import { ensureAppBuilt, TEST_DIST } from './app-build.mjs';
import { CHROMIUM_ARGS, chromiumPathOrDefault } from './chromium.mjs';
import { mb, table } from './exchange-budget.js';
import { loadExchangePlan, roomPlaces, type ExchangePlan } from './exchange-plan.js';
import { GIGABIT, netnsLayout, NetnsNetwork, removeStale, runIdOf, type NetnsLayout } from './netns.js';
import { NO_SPIN } from './node-cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] ?? d : d);
const DEFAULT_RATE = 8; // frames/s per tab: see docs/performance.md "Network budget and bench:exchange"
const SERVER_PORT = 8080;

interface Room {
  workers: Page[]; // in rank order
  close(): Promise<void>;
}

async function tab(browser: Browser, url: string, name: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => console.error(`[${name}] pageerror: ${e.message}`));
  page.on('console', (m) => void ((m.type() === 'error' || process.env.BENCH_DEBUG) && console.error(`[${name}] console.${m.type()}: ${m.text()}`)));
  await page.goto(url);
  await page.waitForFunction(() => window.__vi !== undefined, undefined, { timeout: 60_000 });
  return page;
}

/** Host tab + W workers, the mesh formed; `browserOf(i)` gives tab i's browser (0 = host). */
async function openRoom(browserOf: (i: number) => Browser, base: string, W: number): Promise<Room> {
  const host = await tab(browserOf(0), base, 'host');
  await host.evaluate(() => window.__vi!.host!.createRoom());
  const joinUrl = await host.evaluate(() => window.__vi!.host!.state.room!.joinUrl);
  const workers = await Promise.all(Array.from({ length: W }, (_, i) => tab(browserOf(i + 1), joinUrl, `w${i}`)));
  await host.waitForFunction((k) => window.__vi!.host!.readyWorkers().length === k, W, { timeout: 120_000 });
  const status = await host.evaluate((t) => window.__vi!.host!.startJob({ kind: 'mesh' }, t).then((j) => j.status), 120_000);
  if (status !== 'done') throw new Error(`the mesh did not form: ${status}`);
  const rankOf = await Promise.all(workers.map((w) => w.evaluate(() => window.__vi!.worker!.state.rank!)));
  return {
    workers: rankOf.map((_, r) => workers[rankOf.indexOf(r)]!),
    close: async () => void (await Promise.all([host, ...workers].map((p) => p.context().close()))),
  };
}

/** Each rank's replay spec: its own message sizes at every point, the same compute waits. */
function specs(x: ExchangePlan, W: number, framesPerTab: number, wire: WireOptions, rate: number, scale: number, steps: number, firstStep: number): ReplaySpec[] {
  const stepComputeMs = ((framesPerTab / rate) * 1000 * scale);
  const perSegment = stepComputeMs / x.plan.segments.length;
  return roomPlaces(x, W, framesPerTab).map((place) => {
    const byId = new Map(ourMessages(x.plan, place, x.p, wire).map((m) => [m.id, m]));
    return {
      firstStep, steps,
      segments: x.plan.segments.map((s) => ({
        computeMs: perSegment,
        exchanges: s.exchangesAfter.map((id) => {
          const m = byId.get(id)!;
          return { pointIndex: m.pointIndex, kind: m.kind, haloBytes: Math.round(m.haloBytes * scale), gatherBytes: Math.round(m.gatherBytes * scale) };
        }),
      })),
    };
  });
}

interface Result {
  W: number;
  link: string;
  /** Per rank, the measured steps (warm-up dropped). */
  perRank: ReplayStep[][];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/** A signaling server inside the hub namespace, as its own process (our pid to stop). */
async function serverInNamespace(net: NetnsLayout): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn('ip', ['netns', 'exec', net.hub, process.execPath, '--import', 'tsx', path.join(root, 'signaling', 'main.ts'),
    '--host', net.serverIp, '--port', String(SERVER_PORT), '--dist', TEST_DIST, '--rooms-per-client-hour', '10000'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the signaling server in the hub namespace did not start in 60 s')), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /VI_SERVER_URL=(\S+)/.exec(buf);
      if (m) (clearTimeout(timer), resolve(m[1]!));
    });
    child.on('exit', (code) => (clearTimeout(timer), reject(new Error(`the signaling server exited (${code})`))));
  });
  return { url, child };
}

/** A launcher for Chromium inside namespace `ns` (Playwright talks to it over a pipe, which crosses namespaces). */
function chromiumIn(ns: string, dir: string): string {
  const file = path.join(dir, `chromium-${ns}.sh`);
  writeFileSync(file, `#!/bin/sh\nexec ip netns exec ${ns} ${chromiumPathOrDefault()} "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

async function runOne(x: ExchangePlan, W: number, link: string, o: Options, firstStep: number, cleanup: Cleanup): Promise<Result> {
  const sp = specs(x, W, o.framesPerTab, o.wire, o.rate, o.scale, o.steps, firstStep);
  if (link === 'loopback') {
    const server = await startSignalingServer({ port: 0, distDir: TEST_DIST, limits: { roomsPerClientPerHour: 10_000 } });
    const browser = await chromium.launch({ executablePath: chromiumPathOrDefault(), args: CHROMIUM_ARGS });
    try {
      return { W, link, perRank: await replayIn(await openRoom(() => browser, server.url, W), sp) };
    } finally {
      await browser.close();
      await server.close();
    }
  }
  const id = runIdOf();
  const net = new NetnsNetwork(netnsLayout(id, W + 1, { ...GIGABIT, rate: link }));
  cleanup.net = net;
  const dir = path.join(tmpdir(), `vix-${id}`);
  mkdirSync(dir, { recursive: true });
  const browsers: Browser[] = [];
  try {
    net.up();
    const server = await serverInNamespace(net.layout);
    cleanup.server = server.child;
    const origin = new URL(server.url).origin;
    for (const ns of net.layout.tabs) {
      // Plain http off localhost is not a secure context: WebCrypto, storage and workers need one.
      browsers.push(await chromium.launch({ executablePath: chromiumIn(ns, dir), args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origin}`] }));
    }
    return { W, link, perRank: await replayIn(await openRoom((i) => browsers[i]!, server.url, W), sp) };
  } finally {
    await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
    cleanup.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function replayIn(room: Room, sp: ReplaySpec[]): Promise<ReplayStep[][]> {
  try {
    const all = await Promise.all(room.workers.map((w, r) => w.evaluate((s) => window.__vi!.bench!.replay(s), sp[r]!)));
    return all.map((steps) => steps.slice(1)); // the first step warms up
  } finally {
    await room.close();
  }
}

interface Options {
  framesPerTab: number;
  rate: number;
  scale: number;
  steps: number;
  wire: WireOptions;
}

/** What to undo however the run ends: the namespaces and the server process in them. */
class Cleanup {
  net: NetnsNetwork | null = null;
  server: ChildProcess | null = null;
  stop(): void {
    if (this.server && this.server.exitCode === null) this.server.kill('SIGTERM');
    this.server = null;
    const failed = this.net?.down() ?? [];
    this.net = null;
    for (const f of failed) console.error(`could not undo: ${f}`);
  }
}

function parseScale(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(s);
  const v = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  if (!(v > 0 && v <= 1)) throw new Error(`--scale must be in (0, 1], e.g. 1/16; got ${s}`);
  return v;
}

/** Frames per second of the package's UNet on this machine (the engine's speed benchmark, onnxruntime-node CPU). */
async function measuredRate(source: string, frames: number): Promise<number> {
  if (!existsSync(path.join(source, 'onnx', 'segment-plan.json'))) throw new Error(`--compute-rate measured needs a compiled package (onnx/segment-plan.json), not ${source}`);
  const ort = await import('onnxruntime-node');
  const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: NO_SPIN });
  const model = await loadEngineModel(runner, async (p) => new Uint8Array(await readFile(path.join(source, p))), { graphs: ['segmented'] });
  const m = await measureUnetSpeed(model, frames);
  console.error(`measured: ${m.frames} frames in ${m.unetMs.toFixed(0)} ms on onnxruntime-node CPU = ${m.framesPerSecond.toFixed(1)} frames/s (warm-up ${m.warmUpMs.toFixed(0)} ms)`);
  return m.framesPerSecond;
}

async function main(): Promise<void> {
  const source = opt('model', path.join(root, 'public', 'models', 'vi-shapes-tiny'));
  const [h, w] = opt('size', '320x512').split('x').map(Number);
  const x = loadExchangePlan(source, { height: h!, width: w! });
  const tabs = opt('tabs', '2,4').split(',').map(Number);
  const links = opt('link', 'loopback,1gbit').split(',');
  for (const l of links) if (l !== 'loopback' && !/^\d+(\.\d+)?[kmg]?bit$/.test(l)) throw new Error(`--link: 'loopback' or a tc rate such as 1gbit, got ${l}`);
  const rateArg = opt('compute-rate', String(DEFAULT_RATE));
  const rate = rateArg === 'measured' ? await measuredRate(source, Number(opt('frames-per-tab', '24'))) : Number(rateArg);
  if (!(rate > 0)) throw new Error(`--compute-rate must be frames per second > 0 or 'measured', got ${rateArg}`);
  const precision = opt('precision', 'fp32') as WirePrecision;
  if (precision !== 'fp32' && precision !== 'fp16') throw new Error(`--precision must be fp32 or fp16, got ${precision}`);
  const o: Options = {
    framesPerTab: Number(opt('frames-per-tab', '24')), rate, scale: parseScale(opt('scale', '1')), steps: Math.max(2, Number(opt('steps', '3'))),
    wire: { precision, globalShare: 1, cfgSplit: false },
  };
  const header = `bench:exchange, ${x.label}: ${x.plan.segments.length} segments, ${x.plan.exchangePoints.length} exchange points, p = ${x.p}, topK = ${x.topK}; ` +
    `${o.framesPerTab} frames per tab, exact mode, ${precision} on the wire; compute ${rate.toFixed(1)} frames/s per tab${rateArg === 'measured' ? ' (measured, onnxruntime-node CPU)' : ''} = ${((o.framesPerTab / rate)).toFixed(2)} s per step, ` +
    `split evenly over the segments; scale ${o.scale === 1 ? '1 (real sizes)' : `${o.scale} (messages and waits; figures below are full-size equivalents)`}; ` +
    `${o.steps - 1} measured steps after 1 warm-up step. Shaped links: tc tbf both ways per tab, no added delay (this kernel has no netem).`;
  if (args.includes('--dry-run')) {
    console.log(header);
    for (const W of tabs) {
      const sp = specs(x, W, o.framesPerTab, o.wire, o.rate, o.scale, o.steps, 1);
      console.log(`W = ${W}: per rank bytes per step ${sp.map((s) => s.segments.reduce((a, g) => a + g.exchanges.reduce((b, e) => b + e.haloBytes + e.gatherBytes, 0), 0)).join(', ')} (payload per message, before fan-out)`);
      for (const l of links.filter((k) => k !== 'loopback')) {
        console.log(`  ${l}: would run, then undo in reverse:`);
        for (const s of netnsLayout(runIdOf(), W + 1, { ...GIGABIT, rate: l }).steps) console.log(`    ${s.up.join(' ')}${s.down ? `    (undo: ${s.down.join(' ')})` : ''}`);
      }
    }
    return;
  }
  if (links.some((l) => l !== 'loopback')) {
    if (process.getuid?.() !== 0) throw new Error('shaped links need root (network namespaces and tc); use --link loopback otherwise');
    const stale = removeStale();
    if (stale.length) console.error(`removed namespaces of earlier runs that were killed: ${stale.join(', ')}`);
  }
  const built = ensureAppBuilt(console.error, { test: true }); // the test build: the benchmark drives window.__vi
  if (built !== 0) process.exit(built);
  const cleanup = new Cleanup();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: removing what the benchmark set up…`);
      cleanup.stop();
      process.exit(130);
    });
  }
  process.on('exit', () => cleanup.stop());
  const results: Result[] = [];
  let firstStep = 1;
  try {
    for (const link of links) {
      for (const W of tabs) {
        console.error(`bench:exchange: W = ${W}, ${link}…`);
        results.push(await runOne(x, W, link, o, firstStep, cleanup));
        firstStep += o.steps;
      }
    }
  } finally {
    cleanup.stop();
  }
  const computeS = o.framesPerTab / o.rate;
  const rows = results.map((r) => {
    const places = roomPlaces(x, r.W, o.framesPerTab);
    const perRank = r.perRank.map((steps) => ({
      wall: mean(steps.map((s) => s.wallMs)) / 1e3 / o.scale,
      compute: mean(steps.map((s) => s.computeMs)) / 1e3 / o.scale,
      sent: mean(steps.map((s) => s.bytesSent)) / o.scale,
    }));
    const step = Math.max(...perRank.map((p) => p.wall)); // a step is as slow as its slowest tab
    const busiest = perRank.reduce((a, b) => (b.sent > a.sent ? b : a));
    const budget = Math.max(...places.map((p) => ourStepBudget(x.plan, p, x.p, o.wire).total));
    const waitShare = 1 - mean(perRank.map((p) => p.compute)) / step;
    return [String(r.W), r.link, step.toFixed(2), mean(perRank.map((p) => p.compute)).toFixed(2), `${(100 * waitShare).toFixed(1)} %`,
      (busiest.sent / 1e6 / Math.max(busiest.wall - busiest.compute, 1e-9)).toFixed(1), mb(busiest.sent), mb(budget),
      mb(mean(perRank.map((p) => p.sent)))];
  });
  console.log(`\n${header}`);
  console.log(`Chromium ${chromiumPathOrDefault()}; compute-only step time = ${computeS.toFixed(2)} s.`);
  console.log(table(['W', 'link', 'step s', 'compute s', 'network wait', 'MB/s (busiest tab, while exchanging)', 'sent MB/step (busiest tab)', 'budget MB (busiest tab)', 'sent MB/step (mean tab)'], rows));
}

await main();
process.exit(0); // the PeerServer inside keeps interval timers that server.close() does not stop
