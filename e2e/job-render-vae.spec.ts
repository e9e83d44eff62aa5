/**
 * A real model's pipeline in real tabs: a narrow VideoCrafter2-shaped package (random weights;
 * VC2's UNet architecture with fps conditioning, a CLIP text encoder with its byte-level BPE
 * tokenizer, an AutoencoderKL; imported by `npm run import-model`'s code at 64×128 pixels, so
 * frames are not square) renders on the host and one worker over the mesh. The host encodes the
 * prompt once and sends the embeddings: the worker never fetches the tokenizer or the text encoder.
 * Each rank decodes its frames through the VAE and encodes them; the host muxes the file, which
 * must match the Node render of the same package (≥ 30 dB: random weights make noise, see
 * VAE_MATCH_DB) and fall below that against two wrong renders (isolated clips; one halo zeroed), as
 * in e2e/job-render.spec.ts.
 */
import { expect, test } from '@playwright/test';
import type { TestServer } from './harness-media/test-server.js';
import { decodeResult, fillJob, openHost, ranksSeen, renderReference, servePipelinePackage, specLog, startDecoder, type JobSpec, type Reference, type ServedPackage } from './job-fixture.js';
import { openTab } from './room-fixture.js';

const log = specLog('job-render-vae');
/** 64×128 pixels: an 8×16 latent, which the UNet's three halvings divide. */
const HEIGHT = 64;
const WIDTH = 128;
/** Exported at ×8 (the package's default is ×4, render-spec.ts defaultExportScale; see VAE_MATCH_DB for why). */
const JOB: JobSpec = { frames: 16, steps: 2, guidance: 12, seed: 3, prompt: 'A red panda eats bamboo in the rain, cinematic!', scale: 8, exchange: 'exact' };
const EP = '&ep=wasm'; // as in job-render.spec.ts: SwiftShader's WebGPU is far too slow for CI
/**
 * A random-weight VAE decodes to per-pixel noise, the codec's worst case: at ×8 and the default
 * bitrate the file decodes at 34 dB against the frames it was made from (measured), not the 35+ of
 * smooth content, while the wrong renders score 12 dB (isolated clips) and 21 dB (one halo zeroed).
 * So the bound here is 30 dB: 4 dB under the match, 8.5 dB over the closest wrong render. (At ×4,
 * 4 bits per model pixel fewer, the match falls to 25 dB, too near the controls to tell them apart.)
 */
const VAE_MATCH_DB = 30;

let pkg: ServedPackage;
let decoder: TestServer;
let reference: Reference;

test.describe.configure({ mode: 'serial' });
test.setTimeout(600_000);

test.beforeAll(async () => {
  pkg = await servePipelinePackage(`e2e-vae-${process.pid}`, HEIGHT, WIDTH);
  decoder = await startDecoder();
  reference = await renderReference(pkg.dir, JOB, 2);
  log(`package imported; Node reference rendered in ${(reference.renderMs.reference / 1000).toFixed(1)} s (${reference.width}×${reference.height})`);
});

test.afterAll(async () => {
  await decoder?.close();
  pkg?.dispose();
});

test('the host and a worker render the VC2-shaped package through the VAE at 128×64; the worker loads no text encoder; the file matches the Node render', async ({ browser }) => {
  expect([reference.width, reference.height]).toEqual([WIDTH, HEIGHT]);
  const host = await openHost(browser, pkg.url, EP);
  const listed = host.locator(`[data-testid="package"][data-url="${pkg.url}"]`);
  await expect(listed.getByTestId('package-size')).toHaveText(`${WIDTH}×${HEIGHT} @ ${reference.fps} fps`);
  await expect(host.getByTestId('export-scale')).toHaveValue('4'); // the package's default: up to a 256-pixel short side
  await host.getByTestId('compute-here').check();
  const joinUrl = await host.getByTestId('join-link').inputValue();
  const requests: string[] = [];
  const worker = await openTab(browser, `${joinUrl}&name=w0${EP}`, 'w0', requests);
  await expect(worker.getByTestId('model-state')).toHaveAttribute('data-phase', 'ready', { timeout: 180_000 });
  await expect.poll(() => host.evaluate(() => window.__vi!.host!.readyWorkers().length)).toBe(1);
  log('worker ready');

  // BPE prompts have no unknown words: the form shows the token count instead.
  await fillJob(host, JOB);
  await expect(host.getByTestId('unknown-words')).toHaveCount(0);
  await expect(host.getByTestId('prompt-tokens')).toContainText('/77');
  await host.getByTestId('start-job').click();
  // Start waits for every member's model, this tab's too.
  await expect(host.getByTestId('rank-progress')).toHaveCount(2, { timeout: 120_000 });
  const ranks = await ranksSeen(host);
  expect(ranks.map((r) => r.name).sort()).toEqual(['this tab (host)', 'w0']);
  const r = await decodeResult(host, await (await browser.newContext()).newPage(), { decoder, reference, spec: JOB, log, matchDb: VAE_MATCH_DB });
  expect(r.frames).toBe(JOB.frames);
  expect([r.width, r.height]).toEqual([WIDTH * JOB.scale, HEIGHT * JOB.scale]);
  expect(r.timestampsOk).toBe(true);
  expect(r.psnrMin).toBeGreaterThanOrEqual(VAE_MATCH_DB);

  const files = requests.filter((p) => p.startsWith(pkg.url)).map((p) => p.slice(pkg.url.length));
  expect(files, 'the worker fetched the VAE decoder').toContain('onnx/vae_decoder.onnx');
  expect(files.filter((f) => /tokenizer|text_encoder/.test(f)), `the worker fetched ${files.join(', ')}`).toEqual([]);
});
