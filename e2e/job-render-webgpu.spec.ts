/**
 * The render job end to end on WebGPU: real tabs, real WebRTC, and the engine on the WebGPU EP
 * (SwiftShader, fp32, on GPU-less machines with `--enable-unsafe-webgpu`; a real adapter elsewhere).
 * The app computes on WASM when the only WebGPU adapter is a software fallback, so the 2 worker
 * tabs pin WebGPU with `?ep=webgpu` (src/app/job/backend-choice.ts). Each loads the model and times
 * it on WebGPU as soon as it has joined; the host (not computing) starts a 16-frame, 1-step job
 * shared evenly (8 frames per worker); each worker renders its clip over the mesh and sends its
 * encoded frames; the host muxes one file, which must decode to 16 frames and match the Node
 * in-process render of the same job (onnxruntime-node) at ≥ 35 dB PSNR after the codec, and score
 * below it against the wrong renders of e2e/job-fixture.ts (negative controls). Every
 * worker must say, in its own UI and in its reports to the host, that it computed on WebGPU.
 *
 * The job is small because SwiftShader is slow (the spec logs its timings). Measured with 2 tabs on
 * 2 shared cores: each worker's join-time benchmark ~110 s (a warm-up call on 4 frames 39-51 s, the
 * timed 8-frame call 50-67 s: 0.12-0.15 frames/s), then 55 s from Start to file (the one step 53 s
 * on 8 frames, of which ~0.6 s network wait; the render skips its own warm-up call since the
 * benchmark already ran the graph): 2.9 minutes in all, against 1 minute for the 48-frame, 2-step
 * job of e2e/job-render.spec.ts on WASM. The package and the reference come from e2e/job-fixture.ts (the same random-weight tiny
 * package as that spec).
 */
import { expect, test } from '@playwright/test';
import { partitionFrames } from '../src/engine/partition.js';
import type { TestServer } from './harness-media/test-server.js';
import { decodeResult, fillJob, MATCH_DB, openHost, ranksSeen, renderReference, serveTinyPackage, specLog, startDecoder, type JobSpec, type Reference, type ServedPackage } from './job-fixture.js';
import { openTab } from './room-fixture.js';

const log = specLog('job-render-webgpu');
const JOB: JobSpec = { frames: 16, steps: 1, guidance: 3, seed: 5, prompt: 'a red circle moving right on a black background', scale: 8 };
const WORKERS = 2;

let pkg: ServedPackage;
let decoder: TestServer;
let reference: Reference;

test.setTimeout(600_000);

test.beforeAll(async () => {
  pkg = serveTinyPackage(`e2e-job-webgpu-${process.pid}`);
  decoder = await startDecoder();
  reference = await renderReference(pkg.dir, JOB, WORKERS);
  log(`Node reference rendered in ${(reference.renderMs.reference / 1000).toFixed(1)} s, its ${reference.controls.length} negative controls in ${(reference.renderMs.controls / 1000).toFixed(1)} s`);
});

test.afterAll(async () => {
  await decoder?.close();
  pkg?.dispose();
});

interface MemberSeen {
  name: string;
  provider?: string;
  fallbackReason?: string;
  loadMs?: number;
  speed?: { framesPerSecond: number; frames: number; unetMs: number };
}

test('2 workers on WebGPU render 16 frames (8 each) over the mesh; the file matches the Node render (≥ 35 dB)', async ({ browser }) => {
  const host = await openHost(browser, pkg.url);
  const joinUrl = await host.getByTestId('join-link').inputValue();
  const workers = await Promise.all(Array.from({ length: WORKERS }, (_, i) => openTab(browser, `${joinUrl}&name=w${i}&ep=webgpu`, `w${i}`)));
  for (const w of workers) await expect(w.getByTestId('worker-phase')).toHaveAttribute('data-phase', 'ready');
  await expect.poll(() => host.evaluate(() => window.__vi!.host!.readyWorkers().length)).toBe(WORKERS);
  log(`${WORKERS} workers joined`);
  for (const [i, w] of workers.entries()) {
    const adapter = await w.evaluate(() => window.__vi!.worker!.state.adapter);
    console.log(`[job-render-webgpu] w${i} adapter: ${JSON.stringify({ backend: adapter?.backend, description: adapter?.description, vendor: adapter?.vendor, architecture: adapter?.architecture, isFallbackAdapter: adapter?.isFallbackAdapter })}`);
    expect(adapter?.backend, 'the tab sees a WebGPU adapter (Chromium runs with --enable-unsafe-webgpu)').toBe('webgpu');
  }

  // Each worker loads the model on WebGPU and times it as soon as it has joined.
  for (const w of workers) {
    await expect(w.getByTestId('model-state')).toHaveAttribute('data-phase', 'ready', { timeout: 420_000 });
    await expect(w.getByTestId('model-state')).toHaveText('ready on WebGPU');
    await expect(w.getByTestId('model-speed')).toContainText('frames/s');
    await expect(w.getByTestId('model-fallback')).toHaveCount(0);
  }
  log('every worker loaded and timed the model');
  for (const [i, w] of workers.entries()) {
    // The tab's own view (EngineReadiness on vi-worker): the backend it loaded and both benchmark calls.
    const own = await w.evaluate(() => (document.querySelector('vi-worker') as unknown as { readiness: { state: { provider?: string; speed?: { frames: number; unetMs: number; warmUpMs: number } } } }).readiness.state);
    console.log(`[job-render-webgpu] w${i} benchmark: warm-up ${(own.speed!.warmUpMs / 1000).toFixed(1)} s, timed ${own.speed!.frames}-frame call ${(own.speed!.unetMs / 1000).toFixed(1)} s`);
    expect(own.provider).toBe('webgpu');
  }
  await expect.poll(() => host.evaluate(() => window.__vi!.host!.readyWorkers().every((w) => w.engine?.phase === 'ready' && w.engine.speed !== undefined))).toBe(true);
  const members = await host.evaluate(() => window.__vi!.host!.readyWorkers().map((w) => ({ name: w.name, provider: w.engine?.provider, fallbackReason: w.engine?.fallbackReason, loadMs: w.engine?.loadMs, speed: w.engine?.speed }) as MemberSeen));
  for (const m of members) {
    console.log(`[job-render-webgpu] ${m.name}: model loaded on ${m.provider} in ${((m.loadMs ?? 0) / 1000).toFixed(1)} s; speed ${m.speed!.framesPerSecond.toFixed(2)} frames/s (${m.speed!.frames}-frame UNet call, ${m.speed!.unetMs.toFixed(0)} ms)`);
    expect(m.provider, `${m.name} reports WebGPU to the host`).toBe('webgpu');
    expect(m.fallbackReason).toBeUndefined();
    expect(m.speed!.framesPerSecond).toBeGreaterThan(0);
  }

  await fillJob(host, JOB);
  await host.getByTestId('partition').selectOption('even');
  const t0 = Date.now();
  await host.getByTestId('start-job').click();
  await expect(host.getByTestId('partition-by')).toHaveAttribute('data-by', 'even');
  const ranks = await ranksSeen(host);
  expect(ranks.map((r) => r.name).sort()).toEqual(['w0', 'w1']);
  expect(ranks.map((r) => r.range)).toEqual(partitionFrames(JOB.frames, WORKERS, reference.minClipFrames).ranges);
  expect(ranks.map((r) => r.range.end - r.range.start)).toEqual([8, 8]);
  const r = await decodeResult(host, await (await browser.newContext()).newPage(), { decoder, reference, spec: JOB, log });
  const done = await ranksSeen(host);
  const steps = await host.evaluate(() => (document.querySelector('vi-host') as unknown as { renderJob: { state: { stepStats: { step: number; wallMs: number; computeMs: number; networkWaitMs: number }[] } } }).renderJob.state.stepStats);
  console.log(`[job-render-webgpu] ${WORKERS} workers: ${((Date.now() - t0) / 1000).toFixed(1)} s from Start to file; per rank: ${done.map((x) => `${x.name} on ${x.provider}, last step ${((x.lastStepMs ?? 0) / 1000).toFixed(1)} s`).join('; ')}; steps: ${JSON.stringify(steps)}`);

  // Each worker computed on WebGPU: its own render panel and its engine report to the host say so.
  for (const x of done) expect(x.provider, `${x.name}'s engine report to the host`).toBe('webgpu');
  for (const [i, w] of workers.entries()) {
    const mine = done.find((x) => x.name === `w${i}`)!;
    await expect(w.getByTestId('render-phase')).toHaveAttribute('data-phase', 'done');
    await expect(w.getByTestId('render-phase')).toContainText(`frames [${mine.range.start}, ${mine.range.end})`);
    await expect(w.getByTestId('worker-rank')).toHaveText(`${mine.rank} of ${WORKERS}`);
    await expect(w.getByTestId('engine-backend')).toHaveText('engine: webgpu');
  }
  expect(r.frames).toBe(JOB.frames);
  expect([r.width, r.height]).toEqual([reference.width * JOB.scale, reference.height * JOB.scale]);
  expect(r.timestampsOk).toBe(true);
  expect(r.psnrMin).toBeGreaterThanOrEqual(MATCH_DB);
  log('done');
});
