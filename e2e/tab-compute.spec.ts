/**
 * The UNet graph set a tab runs (float32 compute, or float16 compute where ORT's WebGPU device has
 * shader-f16), in real worker tabs of one room, on WASM. The package is the compiler's random-weight
 * tiny model compiled here with `--precision fp16` (float16 weight shards, both graph sets); it is
 * never committed.
 *
 * - The default tab computes in float32 and downloads none of the float16 graphs (headless
 *   Chromium's only adapter is SwiftShader, which has no shader-f16; the spec checks that premise).
 * - A tab opened with `?compute=float16` downloads only the float16 graphs and renders a clip that
 *   matches the float32 render within the float16-compute bounds of src/engine/golden.test.ts
 *   (max 64 levels, ≥ 70% of bytes identical); a render of another seed (negative control) does not.
 * - `?compute=float16` on a package without the set fails its load with a clear error.
 *
 * Both tabs render the same clip through their own engine worker (the tab's EngineHandle, as the
 * rank runner does) over a one-rank collective, and return the RGB bytes: no codec in the way.
 */
import { expect, test, type Page } from '@playwright/test';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { denoise } from '../src/engine/denoise.js';
import { loadEngineModel, type UNetCompute } from '../src/engine/engine-model.js';
import type { JobParams } from '../src/engine/job-state.js';
import { partitionFrames, shortestClip } from '../src/engine/partition.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { compileModelPackage } from '../src/model/compile/compile-model.js';
import { writeTinyPackage } from '../src/model/testing/tiny-model.js';
import { createInProcessCollectives } from '../src/net/in-process-collective.js';
import { TEST_DIST } from '../scripts/app-build.mjs';
import { NO_SPIN } from '../scripts/node-cli.js';
import { openHost, serveTinyPackage, specLog, type ServedPackage } from './job-fixture.js';
import { openTab } from './room-fixture.js';

const log = specLog('tab-compute');
/** src/engine/golden.test.ts, case 'float16 compute' (measured there on ORT's CPU EP: 22–37 levels, 75% identical). */
const F16_MAX_LEVELS = 64;
const F16_MIN_SAME = 0.7;
/** The same file's float32 case: a float32 tab must match the Node float32 render this closely. */
const F32_MAX_LEVELS = 1;
const F32_MIN_SAME = 0.995;

const isF16Graph = (p: string) => /\/onnx\/(unet_f16[._]|segment-plan-f16\.json$)/.test(p);
const isF32Graph = (p: string) => /\/onnx\/(unet\.onnx$|unet_seg_\d+\.onnx$|segment-plan\.json$)/.test(p);

interface Compared {
  maxLevels: number;
  same: number;
}
function compare(a: Uint8Array, b: Uint8Array): Compared {
  expect(a.length).toBe(b.length);
  let maxLevels = 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > maxLevels) maxLevels = d;
    if (d === 0) same++;
  }
  return { maxLevels, same: same / a.length };
}
const shown = (c: Compared) => `max ${c.maxLevels} levels, ${(100 * c.same).toFixed(1)}% identical`;

let pkgDir: string;
let served: string;
const PKG_URL = `/models/e2e-fp16-${process.pid}/`;
let job: JobParams;
/** Node renders (onnxruntime-node CPU) of the package: float32 compute, float16 compute, and float32 with another seed. */
const ref: Partial<Record<'f32' | 'f16' | 'otherSeed', Uint8Array>> = {};
let plainPkg: ServedPackage | undefined;

async function renderInNode(compute: UNetCompute, j: JobParams): Promise<Uint8Array> {
  const runner = new SessionRunner(ortNode as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: NO_SPIN });
  const model = await loadEngineModel(runner, async (p) => new Uint8Array(await readFile(path.join(pkgDir, p))), { graphs: ['segmented'], compute });
  const r = await denoise(model, j, createInProcessCollectives(1)[0]!);
  return r.frames!.data;
}

test.describe.configure({ mode: 'serial' });
test.setTimeout(600_000);

test.beforeAll(async () => {
  pkgDir = path.join(mkdtempSync(path.join(tmpdir(), 'vi-e2e-fp16-')), 'pkg');
  writeTinyPackage(pkgDir, { seed: 4321 });
  compileModelPackage(pkgDir, { precision: 'float16' });
  served = path.join(TEST_DIST, 'models', path.basename(PKG_URL));
  cpSync(pkgDir, served, { recursive: true });
  const runner = new SessionRunner(ortNode as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: NO_SPIN });
  const model = await loadEngineModel(runner, async (p) => new Uint8Array(await readFile(path.join(pkgDir, p))), { graphs: ['segmented'] });
  const d = model.manifest.defaults;
  const frames = 16;
  job = {
    jobId: 1, totalFrames: frames, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 5, steps: 2, guidanceScale: 2,
    sampler: { kind: 'ddim', eta: 0 }, dualScope: { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias },
    fps: model.manifest.frame_rate, partition: partitionFrames(frames, 1, shortestClip(d.local_window_p, model.plan.tconvHalo)),
  };
  ref.f32 = await renderInNode('float32', job);
  ref.f16 = await renderInNode('float16', job);
  ref.otherSeed = await renderInNode('float32', { ...job, seed: 6 });
  log(`package compiled (float16 weights, both graph sets); Node renders done; Node float16 vs float32: ${shown(compare(ref.f16, ref.f32))}`);
});

test.afterAll(() => {
  if (served) rmSync(served, { recursive: true, force: true });
  if (pkgDir) rmSync(path.dirname(pkgDir), { recursive: true, force: true });
  plainPkg?.dispose();
});

/** The tab's engine (vi-worker's EngineHandle): what it loaded, and one clip rendered over a one-rank collective. */
async function tabRender(tab: Page, j: JobParams): Promise<{ compute: string; shaderF16: boolean | null; provider: string; rgb: Uint8Array }> {
  const out = await tab.evaluate(async (input) => {
    type Handle = {
      loaded: { url: string; done: Promise<{ info: { compute: string; shaderF16: boolean | null; provider: string } }> };
      encodePrompts(url: string, schedule: unknown): Promise<Uint8Array>;
      engine: { render(i: unknown, onProgress: undefined, collective: unknown): Promise<{ frames: { data: Uint8Array } }> };
    };
    const h = (document.querySelector('vi-worker') as unknown as { engine: Handle }).engine;
    const { info } = await h.loaded.done;
    const promptEmbeddings = await h.encodePrompts(h.loaded.url, input.promptSchedule);
    const stats = { bytesSent: 0, bytesReceived: 0, waitMs: 0 };
    // One rank: no neighbours, every reduction is its own values (the Collective contract for worldSize 1).
    const solo = {
      rank: 0, worldSize: 1,
      exchangeHalo: async () => ({ fromLeft: null, fromRight: null }),
      allGather: async (_tag: unknown, mine: unknown) => [mine],
      allReduceSum: async (_tag: unknown, values: Float64Array) => Float64Array.from(values),
      barrier: async () => undefined,
      send: async () => { throw new Error('one rank: nothing to send to'); },
      recv: async () => { throw new Error('one rank: nothing to receive'); },
      stats: () => stats,
      resetStats: () => undefined,
    };
    const r = await h.engine.render({ job: input, mode: 'collective', rank: 0, worldSize: 1, warmUp: false, promptEmbeddings }, undefined, solo);
    let s = '';
    const bytes = r.frames.data;
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { compute: info.compute, shaderF16: info.shaderF16, provider: info.provider, rgb: btoa(s) };
  }, j);
  return { ...out, rgb: new Uint8Array(Buffer.from(out.rgb, 'base64')) };
}

test('a tab computes in float32 by default and in float16 with ?compute=float16 (WASM): only that graph set is downloaded; the float16 clip matches the float32 one within the fp16 bounds', async ({ browser }) => {
  const host = await openHost(browser, PKG_URL, '&ep=wasm');
  const joinUrl = await host.getByTestId('join-link').inputValue();
  const reqDefault: string[] = [];
  const reqF16: string[] = [];
  // The default tab asks for nothing: the app and its engine worker choose.
  const tabDefault = await openTab(browser, `${joinUrl}&name=wdefault`, 'wdefault', reqDefault);
  const tabF16 = await openTab(browser, `${joinUrl}&name=wf16&ep=wasm&compute=float16`, 'wf16', reqF16);
  for (const t of [tabDefault, tabF16]) await expect(t.getByTestId('model-state')).toHaveAttribute('data-phase', 'ready', { timeout: 300_000 });
  log('both tabs ready');

  // The premise: this Chromium's WebGPU adapter (SwiftShader, if any), seen from a worker as the engine's is, has no shader-f16.
  const workerF16 = await tabDefault.evaluate(async () => {
    const src = "navigator.gpu ? navigator.gpu.requestAdapter().then((a) => postMessage(a ? a.features.has('shader-f16') : 'no adapter')) : postMessage('no WebGPU')";
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    return new Promise((resolve) => (w.onmessage = (e) => resolve(e.data)));
  });
  log(`shader-f16 in a worker of this Chromium: ${JSON.stringify(workerF16)}`);
  expect(workerF16).not.toBe(true);

  await expect(tabDefault.getByTestId('model-state')).toHaveAttribute('data-compute', 'float32');
  await expect(tabF16.getByTestId('model-state')).toHaveAttribute('data-compute', 'float16');
  await expect(tabF16.getByTestId('model-compute')).toHaveText('UNet: fp16 compute');
  // The host's members table says which set each member runs.
  await expect(host.getByTestId('members')).toContainText('fp16 compute');
  await expect(host.getByTestId('members')).toContainText('fp32 compute');

  const pkgReq = (r: string[]) => r.filter((p) => p.startsWith(PKG_URL));
  log(`default tab fetched ${pkgReq(reqDefault).length} package files, the float16 tab ${pkgReq(reqF16).length}`);
  expect(pkgReq(reqDefault).filter(isF16Graph)).toEqual([]);
  expect(pkgReq(reqDefault).filter(isF32Graph).length).toBe(50); // 48 segments, the whole graph, the plan
  expect(pkgReq(reqF16).filter(isF32Graph)).toEqual([]);
  expect(pkgReq(reqF16).filter(isF16Graph).length).toBe(50);
  expect(pkgReq(reqF16).filter((p) => p.endsWith('.bin')).length).toBeGreaterThan(0); // the shared float16 weight shards

  const f32 = await tabRender(tabDefault, job);
  log(`default tab: ${f32.provider}, compute ${f32.compute}, shaderF16 ${f32.shaderF16}`);
  expect(f32.compute).toBe('float32');
  const f16 = await tabRender(tabF16, job);
  log(`?compute=float16 tab: ${f16.provider}, compute ${f16.compute}`);
  expect(f16).toMatchObject({ compute: 'float16', provider: 'wasm' });

  const f32VsNode = compare(f32.rgb, ref.f32!);
  const f16VsNode32 = compare(f16.rgb, ref.f32!);
  const f16VsNode16 = compare(f16.rgb, ref.f16!);
  const control = compare(f16.rgb, ref.otherSeed!);
  log(`float32 tab vs Node float32: ${shown(f32VsNode)}`);
  log(`float16 tab vs Node float32: ${shown(f16VsNode32)} (bound: ≤ ${F16_MAX_LEVELS} levels, ≥ ${100 * F16_MIN_SAME}% identical)`);
  log(`float16 tab vs Node float16: ${shown(f16VsNode16)}`);
  log(`negative control, float16 tab vs Node float32 of seed 6: ${shown(control)}`);
  expect(f32VsNode.maxLevels).toBeLessThanOrEqual(F32_MAX_LEVELS);
  expect(f32VsNode.same).toBeGreaterThanOrEqual(F32_MIN_SAME);
  expect(f16VsNode32.maxLevels).toBeLessThanOrEqual(F16_MAX_LEVELS);
  expect(f16VsNode32.same).toBeGreaterThanOrEqual(F16_MIN_SAME);
  // The float16 tab really ran other graphs: its clip is not the float32 one.
  expect(compare(f16.rgb, f32.rgb).maxLevels).toBeGreaterThan(0);
  // The bounds reject a wrong video: another seed fails at least one of them.
  expect(control.maxLevels > F16_MAX_LEVELS || control.same < F16_MIN_SAME).toBe(true);
});

test('?compute=float16 on a package without the float16 set: the load fails, naming the parameter and the fix', async ({ browser }) => {
  plainPkg = serveTinyPackage(`e2e-fp32-${process.pid}`);
  const host = await openHost(browser, plainPkg.url, '&ep=wasm');
  const joinUrl = await host.getByTestId('join-link').inputValue();
  const requests: string[] = [];
  const tab = await openTab(browser, `${joinUrl}&name=wf16&ep=wasm&compute=float16`, 'wf16', requests);
  await expect(tab.getByTestId('model-state')).toHaveAttribute('data-phase', 'failed', { timeout: 120_000 });
  await expect(tab.getByTestId('model-error')).toContainText('?compute=float16');
  await expect(tab.getByTestId('model-error')).toContainText('--precision fp16');
  expect(requests.filter((p) => p.startsWith(plainPkg!.url) && p.includes('/onnx/'))).toEqual([]); // refused before any graph
});
