// `npm run bench:exchange`: real Chromium tabs on the real mesh (the signaling server, PeerJS WebRTC
// data channels, our framing) replay one package's exchange pattern in a given exchange mode, step by
// step over a whole job: every exchange point of the segment plan in plan order, with the tensor sizes
// each tab really sends (src/model/exchange-budget.ts) and the mode's rule for each step (src/model/
// exchange-replay.ts: which steps gather the globals, which wait and which overlap), each segment's
// compute simulated by a wait. Prints, per mode, world size W and link: step time against
// compute-only time, the network-wait share, MB/s sent, and bytes sent per step per tab (measured,
// and the schedule's figure). Not a test.
//
//   npm run bench:exchange -- [--model DIR | --model preset:videocrafter2] [--mode exact,sparse-global-fp16,...] [--tabs 2,4]
//     [--link loopback,1gbit] [--compute-rate 8] [--frames-per-tab 24] [--steps 30] [--sample all|k] [--scale 1] [--size 320x512] [--dry-run]
//
// --mode (a list runs each): the names the dashboard offers (exact, exact-fp16, stale,
//   sparse-global, sparse-global-fp16; options at the engine's defaults), and `cfg-split` /
//   `cfg-split+NAME`: the same video on W / 2 clips of 2F frames, each clip's two CFG branches on two
//   tabs (batch 1 each) that exchange within their branch and swap ε after every step; the engine has
//   no such mode yet, this is the pattern the budget describes (exchange-plan.ts roomRoles).
//   Default: exact and the dashboard's default.
// --steps n: the job's DDIM steps (default 30). Every step of the job is replayed as the engine would
//   run it (the local phase starts at the first t < T_phase; stale: synchronous warm-up steps, then
//   overlapped, the last step only receives), after one extra warm-up step (a copy of step 0, left out
//   of the figures: SCTP windows, JIT).
// --sample k: replay only the first k steps of each kind (steps that send and wait alike: e.g. stale's
//   warm-up, overlapped and last step; sparse-global's gathering and non-gathering steps), in job
//   order, and weight each by the job steps of its kind (src/model/exchange-replay.ts sampleSteps), so
//   the figures are still per step of the whole job (bytes exactly; times as the sampled steps took).
//   `all` (default) replays every step.
// --link: `loopback` = every tab in one Chromium on this machine's loopback (no shaping); `1gbit`
//   (any tc rate) = one network namespace and one Chromium per tab, each behind its own veth link
//   rate-limited both ways with tc tbf to a hub namespace where the signaling server runs (scripts/
//   netns.ts; needs root). This kernel has no netem, so no delay is added. The benchmark removes its
//   namespaces on exit, on failure and on ctrl-C; a run killed hard is cleaned up by the next one.
// --compute-rate: frames of one UNet call (CFG batch 2) per second per tab; a step's compute is
//   frames-per-tab / rate, split evenly over the plan's segments (a CFG-split tab computes 2F frames
//   at batch 1: the same time). Default 8 frames/s (docs/network.md, "bench:exchange", says where the
//   figure comes from). `measured`: the engine's own speed benchmark (measureUnetSpeed, one warm-up
//   call then one timed call of frames-per-tab frames) on a compiled package, in Node with
//   onnxruntime-node on this machine's CPU.
// --scale s: every message and every compute wait is multiplied by s (e.g. 1/16), so a full-size
//   pattern fits in this machine's time; time ratios and MB/s are what a bandwidth-bound link gives
//   at full size, and step times and bytes are reported divided by s (full-size equivalents). The
//   fixed per-message costs are multiplied by 1/s with them, so the network share is, if anything,
//   overstated.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from '@playwright/test';
import type { ReplaySpec, ReplayStep, ReplayStepSpec } from '../src/app/testing/bench-hooks.js';
import { sampleSteps, scheduleJob, stepBytesSent, type JobSteps, type ModePattern, type ScheduledStep, type StepSample } from '../src/model/exchange-replay.js';
import { startSignalingServer } from '../signaling/server.js';
import { loadEngineModel } from '../src/engine/engine-model.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { measureUnetSpeed } from '../src/engine/worker/speed-benchmark.js';
import { ensureAppBuilt, TEST_DIST } from './app-build.mjs';
import { CHROMIUM_ARGS, chromiumPathOrDefault } from './chromium.mjs';
import { mb, table } from './exchange-budget.js';
import { DEFAULT_MODE_NAME, jobSteps, loadExchangePlan, modePattern, roomRoles, type ExchangePlan, type TabRole } from './exchange-plan.js';
import { GIGABIT, netnsLayout, NetnsNetwork, removeStale, runIdOf, type NetnsLayout } from './netns.js';
import { NO_SPIN } from './node-cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] ?? d : d);
const DEFAULT_RATE = 8; // frames/s per tab: see docs/network.md "bench:exchange"
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

/** One tab's whole job in `mode`: the schedule's steps (exchange-replay.ts), full-size bytes. */
function tabSchedule(x: ExchangePlan, role: TabRole, mode: ModePattern, job: JobSteps): ScheduledStep[] {
  return scheduleJob(x.plan, role.place, x.p, mode, job);
}

/** The job's steps the run replays (--sample k: k of each kind; the kinds depend on the step only, not the tab). */
function sampleOf(x: ExchangePlan, roles: TabRole[], mode: ModePattern, o: Options): StepSample {
  return sampleSteps(tabSchedule(x, roles[0]!, mode, o.job), o.perKind);
}

/** Each rank's replay spec: one warm-up step (a copy of the first sampled step), then the sampled steps; the same compute waits everywhere. */
function specs(x: ExchangePlan, roles: TabRole[], mode: ModePattern, job: JobSteps, o: Options, firstStep: number): ReplaySpec[] {
  const sample = sampleOf(x, roles, mode, o);
  const stepComputeMs = (o.framesPerTab / o.rate) * 1000 * o.scale;
  const perSegment = stepComputeMs / x.plan.segments.length;
  return roles.map((role) => {
    const all = tabSchedule(x, role, mode, job);
    const steps = sample.steps.map((i) => all[i]!).map((st): ReplayStepSpec => {
      const byId = new Map(st.exchanges.map((e) => [e.id, e]));
      return {
        partnerBytes: Math.round(st.partnerBytes * o.scale),
        segments: x.plan.segments.map((seg) => ({
          computeMs: perSegment,
          exchanges: seg.exchangesAfter.map((id) => {
            const e = byId.get(id)!;
            return { pointIndex: e.pointIndex, kind: e.kind, haloBytes: Math.round(e.haloBytes * o.scale), gatherBytes: Math.round(e.gatherBytes * o.scale), timing: e.timing, gathers: e.gathers };
          }),
        })),
      };
    });
    return { firstStep, steps: [steps[0]!, ...steps], group: role.group, partner: role.partner };
  });
}

interface Result {
  mode: string;
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

async function runOne(x: ExchangePlan, modeName: string, W: number, link: string, o: Options, firstStep: number, cleanup: Cleanup): Promise<Result> {
  const mode = modePattern(modeName);
  const sp = specs(x, roomRoles(x, W, o.framesPerTab, mode.cfgSplit), mode, o.job, o, firstStep);
  if (link === 'loopback') {
    const server = await startSignalingServer({ port: 0, distDir: TEST_DIST, limits: { roomsPerClientPerHour: 10_000 } });
    const browser = await chromium.launch({ executablePath: chromiumPathOrDefault(), args: CHROMIUM_ARGS });
    try {
      return { mode: modeName, W, link, perRank: await replayIn(await openRoom(() => browser, server.url, W), sp) };
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
    return { mode: modeName, W, link, perRank: await replayIn(await openRoom((i) => browsers[i]!, server.url, W), sp) };
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
  job: JobSteps;
  /** --sample: steps of each kind replayed (Infinity: the whole job). */
  perKind: number;
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

/**
 * Per-run figures, full-size equivalents (÷ scale), per step of the job: each replayed step weighted
 * by the job steps it stands for (sampleSteps). A step is as slow as its slowest tab.
 */
function figures(x: ExchangePlan, r: Result, o: Options) {
  const mode = modePattern(r.mode);
  const roles = roomRoles(x, r.W, o.framesPerTab, mode.cfgSplit);
  const { weights } = sampleOf(x, roles, mode, o);
  const S = o.job.steps;
  const perJob = (f: (i: number) => number) => weights.reduce((a, w, i) => a + w * f(i), 0) / S;
  const step = perJob((i) => Math.max(...r.perRank.map((st) => st[i]!.wallMs))) / 1e3 / o.scale;
  const compute = perJob((i) => mean(r.perRank.map((st) => st[i]!.computeMs))) / 1e3 / o.scale;
  const sent = r.perRank.map((st) => perJob((i) => st[i]!.bytesSent) / o.scale);
  const busiest = Math.max(...sent);
  const predicted = roles.map((role) => tabSchedule(x, role, mode, o.job).reduce((a, s) => a + stepBytesSent(s, role.place), 0) / S);
  return { step, compute, waitShare: 1 - compute / step, busiest, mbps: busiest / 1e6 / step, predictedBusiest: Math.max(...predicted), meanSent: mean(sent) };
}

/** How the mode runs the job's steps, in one line (for the dry run and the header). */
function scheduleSummary(x: ExchangePlan, name: string, W: number, o: Options): string {
  const mode = modePattern(name);
  const roles = roomRoles(x, W, o.framesPerTab, mode.cfgSplit);
  const st = tabSchedule(x, roles[0]!, mode, o.job);
  const gathers = st.filter((s) => s.exchanges.some((e) => e.kind === 'attention' && e.gathers)).length;
  const count = (t: string) => st.filter((s) => s.exchanges.some((e) => e.timing === t)).length;
  const bytes = roles.map((role) => mb(tabSchedule(x, role, mode, o.job).reduce((a, s) => a + stepBytesSent(s, role.place), 0) / o.job.steps));
  const sample = sampleOf(x, roles, mode, o);
  const replayed = sample.steps.length === st.length ? 'all steps replayed' : `replays steps ${sample.steps.join(', ')} (weights ${sample.weights.map((w) => +w.toFixed(2)).join(', ')})`;
  return `${name} (${mode.precision}${mode.cfgSplit ? `, CFG split: ${W / 2} clips of ${2 * o.framesPerTab} frames, 2 tabs each` : ''}): global gathers on ${gathers}/${st.length} steps; ` +
    `${count('overlap')} overlapped + ${count('previous')} receive-only steps; ${replayed}; MB sent per step by rank 0..${W - 1}: ${bytes.join(', ')}`;
}

async function main(): Promise<void> {
  const source = opt('model', path.join(root, 'public', 'models', 'vi-shapes-tiny'));
  const [h, w] = opt('size', '320x512').split('x').map(Number);
  const x = loadExchangePlan(source, { height: h!, width: w! });
  const tabs = opt('tabs', '2,4').split(',').map(Number);
  const links = opt('link', 'loopback,1gbit').split(',');
  for (const l of links) if (l !== 'loopback' && !/^\d+(\.\d+)?[kmg]?bit$/.test(l)) throw new Error(`--link: 'loopback' or a tc rate such as 1gbit, got ${l}`);
  const modes = opt('mode', `exact,${DEFAULT_MODE_NAME}`).split(',');
  for (const m of modes) {
    const pattern = modePattern(m); // refuses unknown names before anything starts
    for (const W of tabs) if (pattern.cfgSplit && W % 2 !== 0) throw new Error(`--mode ${m} needs an even number of tabs, got W = ${W}`);
  }
  if (args.includes('--precision')) throw new Error('--precision is gone: the mode carries it (e.g. --mode exact-fp16)');
  const rateArg = opt('compute-rate', String(DEFAULT_RATE));
  const rate = rateArg === 'measured' ? await measuredRate(source, Number(opt('frames-per-tab', '24'))) : Number(rateArg);
  if (!(rate > 0)) throw new Error(`--compute-rate must be frames per second > 0 or 'measured', got ${rateArg}`);
  const steps = Number(opt('steps', '30'));
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`--steps must be an integer >= 1, got ${opt('steps', '')}`);
  const job = jobSteps(x, steps);
  const sampleArg = opt('sample', 'all');
  const perKind = sampleArg === 'all' ? Infinity : Number(sampleArg);
  if (!(perKind >= 1 && (perKind === Infinity || Number.isInteger(perKind)))) throw new Error(`--sample must be 'all' or an integer >= 1, got ${sampleArg}`);
  const o: Options = { framesPerTab: Number(opt('frames-per-tab', '24')), rate, scale: parseScale(opt('scale', '1')), job, perKind };
  const header = `bench:exchange, ${x.label}: ${x.plan.segments.length} segments, ${x.plan.exchangePoints.length} exchange points, p = ${x.p}, topK = ${x.topK}; ` +
    `${o.framesPerTab} frames per tab; a job of ${steps} DDIM steps (local phase from step ${job.firstLocalStep}, t < ${x.phaseTimestep}); ` +
    `compute ${rate.toFixed(1)} frames/s per tab${rateArg === 'measured' ? ' (measured, onnxruntime-node CPU)' : ''} = ${(o.framesPerTab / rate).toFixed(2)} s per step, ` +
    `split evenly over the segments; scale ${o.scale === 1 ? '1 (real sizes)' : `${o.scale} (messages and waits; figures below are full-size equivalents)`}; ` +
    `${perKind === Infinity ? 'every step of the job replayed' : `${perKind} step(s) of each kind replayed, weighted by the job steps of that kind`}, after 1 warm-up step. Shaped links: tc tbf both ways per tab, no added delay (this kernel has no netem).`;
  if (args.includes('--dry-run')) {
    console.log(header);
    for (const W of tabs) {
      console.log(`W = ${W}:`);
      for (const m of modes) console.log(`  ${scheduleSummary(x, m, W, o)}`);
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
  const rows: string[][] = [];
  const row = (r: Result) => {
    const f = figures(x, r, o);
    return [r.mode, String(r.W), r.link, f.step.toFixed(2), f.compute.toFixed(2), `${(100 * f.waitShare).toFixed(1)} %`, f.mbps.toFixed(1), mb(f.busiest), mb(f.predictedBusiest), mb(f.meanSent)];
  };
  const head = ['mode', 'W', 'link', 'step s', 'compute s', 'network wait', 'MB/s (busiest tab, sent / step time)', 'sent MB/step (busiest tab)', 'schedule MB/step (busiest tab)', 'sent MB/step (mean tab)'];
  let firstStep = 1;
  try {
    for (const link of links) {
      for (const W of tabs) {
        for (const m of modes) {
          const t0 = Date.now();
          console.error(`bench:exchange: ${m}, W = ${W}, ${link}…`);
          const r = await runOne(x, m, W, link, o, firstStep, cleanup);
          results.push(r);
          rows.push(row(r));
          console.error(`  ${rows[rows.length - 1]!.join(' | ')}  (${((Date.now() - t0) / 1e3).toFixed(0)} s)`);
          firstStep += steps + 2;
        }
      }
    }
  } finally {
    cleanup.stop();
  }
  console.log(`\n${header}`);
  console.log(`Chromium ${chromiumPathOrDefault()}; compute-only step time = ${(o.framesPerTab / o.rate).toFixed(2)} s.`);
  for (const W of tabs) for (const m of modes) console.log(`  W = ${W}: ${scheduleSummary(x, m, W, o)}`);
  console.log(table(head, rows));
}

await main();
process.exit(0); // the PeerServer inside keeps interval timers that server.close() does not stop
