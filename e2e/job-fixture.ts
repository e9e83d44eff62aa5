/**
 * What the render-job specs share (e2e/job-render.spec.ts on WASM, e2e/job-render-webgpu.spec.ts on
 * WebGPU): the model package, compiled here from the compiler's random-weight tiny package
 * (src/model/testing/) and served from the app's dist/ (so the tests never depend on training),
 * picked with `?model=`; the Node in-process render of a job (onnxruntime-node, the reference the
 * browser's file must match) and of two wrong versions of it (negative controls the file must not
 * match, so the PSNR bound is shown to reject a wrong video); the host's form; and fetching the
 * host's muxed file and decoding it against the reference and the controls
 * (e2e/job-fixtures/decode-harness.ts: frame count, size, timestamps, PSNR).
 */
import { expect, type Browser, type Page } from '@playwright/test';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import type { Collective } from '../src/engine/collective.js';
import { denoise } from '../src/engine/denoise.js';
import { loadEngineModel, type EngineModel } from '../src/engine/engine-model.js';
import type { JobParams } from '../src/engine/job-state.js';
import { partitionFrames, shortestClip } from '../src/engine/partition.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { CorruptingCollective } from '../src/engine/testing/corrupting-collective.js';
import { compileModelPackage } from '../src/model/compile/compile-model.js';
import { pipelineSources } from '../src/model/compile/import-model.js';
import { importPipeline } from '../src/model/compile/import-pipeline.js';
import { writeTestPipeline } from '../src/model/testing/test-pipeline.js';
import { writeTinyPackage } from '../src/model/testing/tiny-model.js';
import { createInProcessCollectives } from '../src/net/in-process-collective.js';
import type { DecodeResult } from './job-fixtures/decode-harness.js';
import { bundleHarness, startTestServer, type TestServer } from './harness-media/test-server.js';
import { openTab, serverUrl } from './room-fixture.js';
import { TEST_DIST } from '../scripts/app-build.mjs';
import { NO_SPIN } from '../scripts/node-cli.js';


/**
 * The bound every job-render check holds the browser's file to (PSNR min over frames, after the
 * codec, against the Node render), and the one each negative control must fall below.
 */
export const MATCH_DB = 35;

/** `[tag] +12.3 s what`, seconds since the spec module loaded. */
export function specLog(tag: string): (what: string) => void {
  const t0 = Date.now();
  return (what) => console.log(`[${tag}] +${((Date.now() - t0) / 1000).toFixed(1)} s ${what}`);
}

/** The job the host's form gets and the Node reference renders. */
export interface JobSpec {
  readonly frames: number;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
  readonly prompt: string;
  /** Export upscale factor (the host's `export-scale`). */
  readonly scale: number;
  /** The exchange mode (the host's `exchange-mode`); default the dashboard's. The Node reference is always exact. */
  readonly exchange?: string;
}

/** The tiny package, compiled and served by the app under `/models/<name>/`. */
export interface ServedPackage {
  /** The compiled package on disk (what the Node reference reads). */
  readonly dir: string;
  /** `/models/<name>/`: the app's `?model=`. */
  readonly url: string;
  /** Removes the package and its served copy. */
  dispose(): void;
}

/** Writes the random-weight tiny package (seed 4321), compiles it and copies it into dist/models/<name>/. */
export function serveTinyPackage(name: string): ServedPackage {
  const dir = mkdtempSync(path.join(tmpdir(), 'vi-e2e-job-'));
  writeTinyPackage(dir, { seed: 4321 });
  compileModelPackage(dir);
  const served = path.join(TEST_DIST, 'models', name);
  cpSync(dir, served, { recursive: true });
  return {
    dir,
    url: `/models/${name}/`,
    dispose: () => {
      rmSync(served, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A real model's pipeline, narrow and with random weights (src/model/testing/test-pipeline.ts:
 * VideoCrafter2's UNet architecture, a CLIP text encoder with its BPE tokenizer, an AutoencoderKL),
 * imported as `npm run import-model` does at `height`×`width` pixels into dist/models/<name>/.
 */
export async function servePipelinePackage(name: string, height: number, width: number): Promise<ServedPackage> {
  const src = mkdtempSync(path.join(tmpdir(), 'vi-e2e-pipeline-'));
  const served = path.join(TEST_DIST, 'models', name);
  writeTestPipeline(src, 'videocrafter2-narrow');
  const { manifest, missing } = await importPipeline(pipelineSources(src), { out: served, height, width });
  if (!manifest) throw new Error(`the narrow pipeline did not import into a renderable package: missing ${missing.join(', ')}`);
  rmSync(src, { recursive: true, force: true });
  return { dir: served, url: `/models/${name}/`, dispose: () => rmSync(served, { recursive: true, force: true }) };
}

/** The Node render of a job: RGB bytes [frames, height, width, 3]. */
export interface Reference {
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** The shortest clip a rank may own (largest halo): the partition's minimum. */
  readonly minClipFrames: number;
  /**
   * Renders of the same job done wrong, laid out like `rgb`: the browser's file must score below
   * MATCH_DB against each, or the bound could not tell a wrong video from the right one.
   */
  readonly controls: readonly { readonly name: string; readonly rgb: Uint8Array }[];
  /** Wall time of the reference render and of the controls' renders (ms), for the spec's log. */
  readonly renderMs: { readonly reference: number; readonly controls: number };
}

/**
 * Renders `spec` in process on onnxruntime-node (CPU, segmented graph) over `ranks` in-process
 * ranks with the partition the host computes for an even split. The video does not depend on the
 * partition, so it is the reference for any split.
 *
 * With it, the negative controls on the same ranks (`ranks` ≥ 2):
 * - isolated: no exchanges at all (each clip its own video), what a mesh that never delivers
 *   anything would render;
 * - one halo zeroed: rank 1 receives zeros instead of rank 0's frames in the first temporal-conv
 *   halo of step 0, once. That is what a real exchange bug produces (a dropped or misaddressed
 *   message standing in for the video-end zeros, a buffer read at the wrong offset), and it is the
 *   smallest wrong render this bound can see: the same corruption in the last step moves frames by
 *   only 46–59 dB on the random-weight package (measured), which the unit tests' latent bounds catch.
 */
export async function renderReference(pkgDir: string, spec: JobSpec, ranks: number): Promise<Reference> {
  const runner = new SessionRunner(ortNode as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: NO_SPIN });
  const model = await loadEngineModel(runner, async (p) => new Uint8Array(await readFile(path.join(pkgDir, p))), { graphs: ['segmented'] });
  const d = model.manifest.defaults;
  const minClipFrames = shortestClip(d.local_window_p, model.plan.tconvHalo);
  const job: JobParams = {
    jobId: 1, totalFrames: spec.frames, promptSchedule: { entries: [{ fromFrame: 0, prompt: spec.prompt }] }, seed: spec.seed, steps: spec.steps, guidanceScale: spec.guidance,
    sampler: { kind: 'ddim', eta: 0 }, dualScope: { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias },
    fps: model.manifest.frame_rate, partition: partitionFrames(spec.frames, ranks, minClipFrames),
  };
  const t0 = performance.now();
  const { rgb, width, height } = await renderRgb(model, job, ranks);
  const t1 = performance.now();
  const controls: { name: string; rgb: Uint8Array }[] = [];
  if (ranks >= 2) {
    controls.push({ name: 'isolated clips (no exchanges)', rgb: (await renderRgb(model, { ...job, exchangeMode: 'isolated' }, ranks)).rgb });
    const pointId = model.plan.exchangePoints.findIndex((p) => p.kind === 'halo');
    const corrupting: CorruptingCollective[] = [];
    const wrong = await renderRgb(model, job, ranks, (c) => {
      if (c.rank !== 1) return c;
      const w = new CorruptingCollective(c, { step: 0, pointId, side: 'left' });
      corrupting.push(w);
      return w;
    });
    // A control that corrupted nothing would be the reference itself: say so rather than fail obscurely.
    if (corrupting.length !== 1 || corrupting[0]!.hits !== 1) throw new Error(`negative control: the halo at exchange point ${pointId} of step 0 was not corrupted exactly once`);
    controls.push({ name: `rank 1's halo from rank 0 zeroed once (step 0, ${model.plan.exchangePoints[pointId]!.id})`, rgb: wrong.rgb });
  }
  return { rgb, width, height, fps: model.manifest.frame_rate, minClipFrames, controls, renderMs: { reference: t1 - t0, controls: performance.now() - t1 } };
}

/** Every rank of `job` in process (`wrap`: a rank's collective as that rank should see it). */
async function renderRgb(model: EngineModel, job: JobParams, ranks: number, wrap: (c: Collective) => Collective = (c) => c): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const results = await Promise.all(createInProcessCollectives(ranks).map((c) => denoise(model, job, wrap(c))));
  const { width, height } = results[0]!.frames!;
  const rgb = new Uint8Array(job.totalFrames * width * height * 3);
  for (const r of results) rgb.set(r.frames!.data, r.range.start * width * height * 3);
  return { rgb, width, height };
}

/** The decode harness's own server (mediabunny + WebCodecs in a page). */
export async function startDecoder(): Promise<TestServer> {
  return startTestServer(await bundleHarness(fileURLToPath(new URL('./job-fixtures/decode-harness.ts', import.meta.url))));
}

/** A host tab on the package (`extra`: more query, e.g. `&ep=wasm`) with a room created. */
export async function openHost(browser: Browser, modelUrl: string, extra = ''): Promise<Page> {
  const host = await openTab(browser, `${serverUrl()}/?model=${encodeURIComponent(modelUrl)}${extra}`, 'host');
  await host.getByTestId('create-room').click();
  return host;
}

export async function fillJob(host: Page, spec: JobSpec): Promise<void> {
  await host.getByTestId('prompt-schedule').fill(`0: ${spec.prompt}`);
  await host.getByTestId('frames').fill(String(spec.frames));
  await host.getByTestId('steps').fill(String(spec.steps));
  await host.getByTestId('guidance').fill(String(spec.guidance));
  await host.getByTestId('seed').fill(String(spec.seed));
  await host.getByTestId('sampler').selectOption('ddim');
  await host.getByTestId('export-scale').fill(String(spec.scale));
  if (spec.exchange) await host.getByTestId('exchange-mode').selectOption(spec.exchange);
}

/** The host's render state as the specs read it. */
export interface RankSeen {
  rank: number;
  name: string;
  range: { start: number; end: number };
  provider?: string;
  framesPerSecond?: number;
  lastStepMs?: number;
}

export function ranksSeen(host: Page): Promise<RankSeen[]> {
  return host.evaluate(() =>
    (document.querySelector('vi-host') as unknown as { renderJob: { state: { ranks: RankSeen[] } } }).renderJob.state.ranks.map(({ rank, name, range, provider, framesPerSecond, lastStepMs }) => ({ rank, name, range, provider, framesPerSecond, lastStepMs })),
  );
}

export interface DecodeOptions {
  readonly decoder: TestServer;
  readonly reference: Reference;
  readonly spec: JobSpec;
  readonly log: (what: string) => void;
  /** How long the render may take from now (default 480 s). */
  readonly timeoutMs?: number;
  /** The bound the caller holds the file to (default MATCH_DB); each negative control must fall below it. */
  readonly matchDb?: number;
}

/** Waits for the host's video, fetches its bytes and decodes them against the Node render. */
export async function decodeResult(host: Page, decodePage: Page, o: DecodeOptions): Promise<DecodeResult & { mime: string }> {
  o.log('waiting for the render');
  await expect(host.getByTestId('render-phase')).toHaveAttribute('data-phase', /done|failed/, { timeout: o.timeoutMs ?? 480_000 });
  o.log('render finished');
  const errors = await host.getByTestId('render-error').allTextContents();
  expect(errors, 'render error on the host').toEqual([]);
  await expect(host.getByTestId('download')).toBeVisible();
  const video = await host.evaluate(() => (document.querySelector('vi-host') as unknown as { renderJob: { state: { video?: { url: string; frames: number; mimeType: string } } } }).renderJob.state.video!);
  expect(video.frames).toBe(o.spec.frames);
  const mime = video.mimeType;
  const fileB64 = await host.evaluate(async (url) => {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }, video.url);
  o.log('file fetched');
  await decodePage.goto(o.decoder.url);
  await decodePage.waitForFunction(() => 'decodeHarness' in window);
  const controls = o.reference.controls;
  const r = await decodePage.evaluate(
    ([f, ref, width, height, scale, fps, wrong]) => window.decodeHarness.decode(f, ref, width, height, scale, fps, wrong),
    [fileB64, Buffer.from(o.reference.rgb).toString('base64'), o.reference.width, o.reference.height, o.spec.scale, o.reference.fps, controls.map((c) => Buffer.from(c.rgb).toString('base64'))] as const,
  );
  o.log(`decoded: ${mime} ${JSON.stringify(r)}`);
  // Negative controls: the same file against renders of the job done wrong must fall below the
  // bound the caller then holds it to against the right one; otherwise that check proves nothing.
  const scores = controls.map((c, i) => `${c.name} ${r.controlPsnrMin[i]!.toFixed(1)} dB`);
  const bound = o.matchDb ?? MATCH_DB;
  o.log(`PSNR min ${r.psnrMin.toFixed(1)} dB against the Node render; negative controls (must be < ${bound} dB): ${scores.join('; ') || 'none'}`);
  controls.forEach((c, i) => expect(r.controlPsnrMin[i], `the file against the negative control '${c.name}'`).toBeLessThan(bound));
  return { ...r, mime };
}
