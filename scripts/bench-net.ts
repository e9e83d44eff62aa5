// `npm run bench:net`: throughput, small-message RTT and halo-exchange latency of the WebRTC mesh
// (our framing, chunking and send queue) next to a bare RTCDataChannel loop between the same two
// tabs, with 2 and 4 worker tabs in one headless Chromium. Prints tables; not a test.
//
// Options (env): BENCH_TABS="2,4"  BENCH_SIZES="16384,65536,262144,1048576,4194304,8388608"
//                BENCH_RTT=200  BENCH_HALO="65536,1048576,4194304"  CHROMIUM_PATH=/usr/bin/chromium
import { chromium, type Browser, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../playwright.config.js';
import { startSignalingServer } from '../signaling/server.js';
import { ensureAppBuilt, TEST_DIST } from './app-build.mjs';

const list = (v: string | undefined, d: number[]) => (v ? v.split(',').map(Number) : d);
const TABS = list(process.env.BENCH_TABS, [2, 4]);
const SIZES = list(process.env.BENCH_SIZES, [16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20]);
const RTT_N = Number(process.env.BENCH_RTT ?? 200);
const HALO = list(process.env.BENCH_HALO, [64 << 10, 1 << 20, 4 << 20]);
const TIMEOUT_MS = 120_000;
let nextStep = 0; // bench tags: every tab must use the same steps for the same exchange
const steps = (n: number) => ((nextStep += n), nextStep - n);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);
const fmtSize = (b: number) => (b >= 1 << 20 ? `${b / (1 << 20)} MiB` : `${b >> 10} KiB`);
const repsFor = (bytes: number) => Math.min(30, Math.max(8, Math.ceil((32 << 20) / bytes))); // ≥ 8: medians of fewer reps were noisy on a shared 2-core box

async function tab(browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
  await page.goto(url);
  return page;
}

async function room(browser: Browser, base: string, n: number): Promise<{ host: Page; ranks: Page[]; close(): Promise<void> }> {
  const host = await tab(browser, base);
  await host.evaluate(() => window.__vi!.host!.createRoom());
  const joinUrl = await host.evaluate(() => window.__vi!.host!.state.room!.joinUrl);
  const workers = await Promise.all(Array.from({ length: n }, () => tab(browser, joinUrl)));
  await host.waitForFunction((k) => window.__vi!.host!.readyWorkers().length === k, n, { timeout: 60_000 });
  const job = await host.evaluate((t) => window.__vi!.host!.startJob({ kind: 'mesh' }, t).then((j) => j.status), TIMEOUT_MS);
  if (job !== 'done') throw new Error(`mesh did not form: ${job}`);
  const rankOf = await Promise.all(workers.map((w) => w.evaluate(() => window.__vi!.worker!.state.rank!)));
  const ranks = rankOf.map((_, r) => workers[rankOf.indexOf(r)]!);
  return { host, ranks, close: async () => void (await Promise.all([host, ...workers].map((p) => p.context().close()))) };
}

interface Row {
  tabs: number;
  cells: string[];
}

async function benchTabs(browser: Browser, base: string, n: number, out: { thr: Row[]; rtt: Row[]; halo: Row[] }): Promise<void> {
  const r = await room(browser, base, n);
  const [a, b] = [r.ranks[0]!, r.ranks[1]!];
  await Promise.all([a.evaluate(() => window.__vi!.bench!.bareOpen(1)), b.evaluate(() => window.__vi!.bench!.bareOpen(0))]);
  const mesh = (bytes: number, reps: number) => {
    const s0 = steps(reps);
    return Promise.all([
      a.evaluate(([x, k, s]) => window.__vi!.bench!.meshTransfer('send', 1, x, k, s), [bytes, reps, s0]),
      b.evaluate(([x, k, s]) => window.__vi!.bench!.meshTransfer('recv', 0, x, k, s), [bytes, reps, s0]),
    ]).then(([t]) => t);
  };
  const bare = (bytes: number, reps: number) =>
    Promise.all([a.evaluate(([x, k]) => window.__vi!.bench!.bareTransfer('send', x, k), [bytes, reps]), b.evaluate(([x, k]) => window.__vi!.bench!.bareTransfer('recv', x, k), [bytes, reps])]).then(([t]) => t);
  await mesh(1 << 20, 3); // warm-up: SCTP congestion window, JIT
  await bare(1 << 20, 3);
  for (const size of SIZES) {
    const reps = repsFor(size);
    // Alternate mesh and bare rep by rep, so drifting load on the machine hits both alike.
    const m: number[] = [];
    const bb: number[] = [];
    for (let i = 0; i < reps; i++) {
      m.push(...(await mesh(size, 1)));
      bb.push(...(await bare(size, 1)));
    }
    const mMBs = size / 1e6 / (median(m) / 1e3);
    const bMBs = size / 1e6 / (median(bb) / 1e3);
    out.thr.push({ tabs: n, cells: [fmtSize(size), String(reps), mMBs.toFixed(1), bMBs.toFixed(1), `${((100 * mMBs) / bMBs).toFixed(0)}%`] });
    console.error(`  ${n} tabs ${fmtSize(size)}: mesh ${mMBs.toFixed(1)} MB/s, bare ${bMBs.toFixed(1)} MB/s`);
  }
  const meshRtt = await a.evaluate((k) => window.__vi!.bench!.meshRtt(1, k), RTT_N);
  const [bareRtt] = await Promise.all([a.evaluate((k) => window.__vi!.bench!.bareRtt('send', k), RTT_N), b.evaluate((k) => window.__vi!.bench!.bareRtt('recv', k), RTT_N)]);
  out.rtt.push({ tabs: n, cells: [median(meshRtt).toFixed(2), quantile(meshRtt, 0.99).toFixed(2), median(bareRtt).toFixed(2), quantile(bareRtt, 0.99).toFixed(2)] });
  for (const bytes of HALO) {
    const reps = Math.min(20, Math.max(5, Math.ceil((16 << 20) / bytes)));
    const s0 = steps(reps);
    const perRank = await Promise.all(r.ranks.map((p) => p.evaluate(([x, k, s]) => window.__vi!.bench!.halo(x, k, s), [bytes, reps, s0])));
    const slowest = perRank[0]!.map((_, i) => Math.max(...perRank.map((t) => t[i]!))); // a step waits for the slowest rank
    out.halo.push({ tabs: n, cells: [fmtSize(bytes), String(reps), median(slowest).toFixed(1), quantile(slowest, 0.99).toFixed(1)] });
  }
  await r.close();
}

function table(title: string, head: string[], rows: Row[]): string {
  const all = [['tabs', ...head], ...rows.map((r) => [String(r.tabs), ...r.cells])];
  const w = all[0]!.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padStart(w[i]!)).join(' | ')} |`;
  return [`\n${title}`, line(all[0]!), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...all.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const built = ensureAppBuilt(console.log, { test: true }); // the test build: the benchmark drives window.__vi
  if (built !== 0) process.exit(built);
  // Every tab of the run comes from 127.0.0.1, and each measured configuration makes a room.
  const server = await startSignalingServer({ port: 0, distDir: TEST_DIST, limits: { roomsPerClientPerHour: 10_000 } });
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  const out = { thr: [] as Row[], rtt: [] as Row[], halo: [] as Row[] };
  try {
    for (const n of TABS) {
      console.error(`bench: ${n} worker tabs…`);
      await benchTabs(browser, server.url, n, out);
    }
  } finally {
    await browser.close();
    await server.close();
  }
  console.log(`\nbench:net, ${new Date().toISOString()}, Chromium ${browser.version()}, one machine (loopback), ${TABS.join(' and ')} worker tabs + 1 host tab`);
  console.log(table('Throughput rank 0 → rank 1 (median of reps; each rep = transfer + empty ack)', ['size', 'reps', 'mesh MB/s', 'bare MB/s', 'mesh/bare'], out.thr));
  console.log(table('Small-message RTT, rank 0 ↔ rank 1 (ms)', ['mesh p50', 'mesh p99', 'bare p50', 'bare p99'], out.rtt));
  console.log(table('Halo exchange latency (bytes per direction; slowest rank per rep, ms)', ['bytes/dir', 'reps', 'p50', 'p99'], out.halo));
}

await main();
process.exit(0); // the PeerServer inside keeps interval timers that server.close() does not stop
