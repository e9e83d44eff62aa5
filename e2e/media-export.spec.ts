/**
 * Video export in real Chromium: 48 frames of 32×32 moving squares, split into 3 clips of 16, each
 * encoded by its own encoder instance (as separate worker tabs would), serialised and parsed as on
 * the wire, muxed into one file on the "host", then decoded back: frame count 48, size 256×256
 * (×8 nearest-neighbour), PSNR ≥ 35 dB per frame against the upscaled source. The harness is
 * bundled from e2e/harness-media/media-harness.ts and served by a throwaway local server.
 */
import { expect, test, type Page } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { bundleHarness, startTestServer, type TestServer } from './harness-media/test-server.js';
import type { RunOptions, RunResult } from './harness-media/media-harness.js';

let server: TestServer;

test.beforeAll(async () => {
  server = await startTestServer(await bundleHarness(fileURLToPath(new URL('./harness-media/media-harness.ts', import.meta.url))));
});
test.afterAll(async () => {
  await server?.close();
});

async function runHarness(page: Page, options: RunOptions): Promise<RunResult> {
  await page.goto(server.url);
  await page.waitForFunction(() => 'mediaHarness' in window);
  const result = await page.evaluate((o) => window.mediaHarness.run(o), options);
  if ('error' in result) throw new Error(`harness failed (${result.code}): ${result.error}`);
  console.log(`[media-export] ${JSON.stringify(result)}`);
  return result;
}

const BASE = { frames: 48, fps: 8, scale: 8 };

test('three clips from three encoders mux into one 48-frame file that decodes at ≥ 35 dB', async ({ page }) => {
  const r = await runHarness(page, { ...BASE, clipSizes: [16, 16, 16] });
  expect(r.codec).toBe(r.encodable[0]); // chooseExportCodec: the first encodable of avc, vp9, vp8
  expect(r.muxedFrames).toBe(48);
  if (r.codec === 'avc') expect(r.distinctParameterSets).toHaveLength(1); // separate encoders, same SPS/PPS → 'avc1'
  expect(r.decodedFrames).toBe(48);
  expect([r.decodedWidth, r.decodedHeight]).toEqual([256, 256]);
  expect(r.timestampsOk).toBe(true);
  expect(r.psnrMin).toBeGreaterThanOrEqual(35);
  expect(r.mimeType).toBe(r.codec === 'avc' ? 'video/mp4' : 'video/webm');
  expect(r.videoElement).toEqual({ duration: 6, width: 256, height: 256 });
});

test("a real model's frames (512×320, not square, not upscaled) from two encoders mux and decode at ≥ 35 dB", async ({ page }) => {
  const r = await runHarness(page, { frames: 16, fps: 8, scale: 1, width: 512, height: 320, clipSizes: [8, 8] });
  expect(r.decodedFrames).toBe(16);
  expect([r.decodedWidth, r.decodedHeight]).toEqual([512, 320]);
  expect(r.timestampsOk).toBe(true);
  expect(r.psnrMin).toBeGreaterThanOrEqual(35);
  expect(r.videoElement).toEqual({ duration: 2, width: 512, height: 320 });
});

test('one clip gives the same frame count', async ({ page }) => {
  const r = await runHarness(page, { ...BASE, clipSizes: [48] });
  expect(r.decodedFrames).toBe(48);
  expect(r.psnrMin).toBeGreaterThanOrEqual(35);
});

test('worst-case content (random model pixels every frame) still decodes at ≥ 35 dB at the default bitrate', async ({ page }) => {
  const r = await runHarness(page, { ...BASE, pattern: 'noise', clipSizes: [16, 16, 16] });
  expect(r.decodedFrames).toBe(48);
  expect(r.psnrMin).toBeGreaterThanOrEqual(35);
});

for (const codec of ['vp9', 'vp8'] as const) {
  test(`WebM fallback ${codec}: three clips decode to 48 frames at ≥ 35 dB`, async ({ page }) => {
    const r = await runHarness(page, { ...BASE, codec, clipSizes: [16, 16, 16] });
    expect(r.mimeType).toBe('video/webm');
    expect(r.decodedFrames).toBe(48);
    expect(r.videoElement).toEqual({ duration: 6, width: 256, height: 256 });
    expect(r.psnrMin).toBeGreaterThanOrEqual(35);
  });
}

test('H.264 clips with different parameter sets (other encoders) mux as avc3 and still decode', async ({ page }) => {
  const r = await runHarness(page, { ...BASE, codec: 'avc', clipSizes: [16, 16, 16], codecStrings: [undefined, 'avc1.4d0015', undefined] });
  expect(r.distinctParameterSets).toHaveLength(2);
  expect(r.codecString.startsWith('avc3')).toBe(true);
  expect(r.decodedFrames).toBe(48);
  expect(r.videoElement).toEqual({ duration: 6, width: 256, height: 256 });
  expect(r.psnrMin).toBeGreaterThanOrEqual(35);
});
