/**
 * A worker whose model fails to load says why, the host shows it failed, and once the cause is gone
 * the worker loads again from its own tab ("Load the model again") without leaving the room: the
 * host then sees it ready with a measured speed. The failure is real: the served package's
 * onnx/unet.onnx is replaced on disk by bytes of the same length that do not match the manifest's
 * sha256, then put back.
 */
import { expect, test } from '@playwright/test';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openHost, serveTinyPackage, type ServedPackage } from './job-fixture.js';
import { openTab } from './room-fixture.js';
import { TEST_DIST } from '../scripts/app-build.mjs';

const EP = '&ep=wasm'; // SwiftShader's WebGPU is ~50x slower than WASM here (job-render.spec.ts)

let pkg: ServedPackage;

test.beforeAll(() => {
  pkg = serveTinyPackage(`e2e-retry-${process.pid}`);
});

test.afterAll(() => pkg?.dispose());

test('a worker whose model failed to load shows why, and loads it again from its tab once the server is fixed', async ({ browser }) => {
  test.setTimeout(300_000);
  const unetPath = path.join(TEST_DIST, pkg.url, 'onnx', 'unet.onnx');
  const good = readFileSync(unetPath);
  const bad = Buffer.from(good);
  for (let i = 0; i < bad.length; i += 4096) bad[i] = bad[i]! ^ 0xff; // same length, wrong sha256
  writeFileSync(unetPath, bad);

  const host = await openHost(browser, pkg.url, EP);
  const joinUrl = await host.getByTestId('join-link').inputValue();
  const worker = await openTab(browser, `${joinUrl}&name=w0${EP}`, 'w0');
  const modelRequests: string[] = [];
  worker.context().on('request', (r) => {
    const p = new URL(r.url()).pathname;
    if (p.startsWith(pkg.url)) modelRequests.push(p.slice(pkg.url.length));
  });
  await expect(worker.getByTestId('worker-phase')).toHaveAttribute('data-phase', 'ready');

  await expect(worker.getByTestId('model-state')).toHaveAttribute('data-phase', 'failed', { timeout: 120_000 });
  await expect(worker.getByTestId('model-error')).toContainText('onnx/unet.onnx');
  const hostModel = host.getByTestId('member-model');
  await expect(hostModel).toHaveAttribute('data-phase', 'failed');
  await expect(host.getByTestId('member-speed')).toHaveText('–');

  writeFileSync(unetPath, good);
  await worker.getByTestId('model-retry').click();
  await expect(worker.getByTestId('model-state')).toHaveAttribute('data-phase', 'ready', { timeout: 180_000 });
  await expect(worker.getByTestId('model-retry')).toHaveCount(0);
  await expect(worker.getByTestId('model-error')).toHaveCount(0);
  await expect(worker.getByTestId('worker-phase')).toHaveAttribute('data-phase', 'ready'); // still in the room
  await expect(hostModel).toHaveAttribute('data-phase', 'ready');
  await expect(host.getByTestId('member-speed')).toContainText('frames/s');
  // A tab downloads the graphs, not the source weights the compiler read (runtimeFiles).
  expect(modelRequests).toContain('onnx/unet.onnx');
  expect(modelRequests).toContain('onnx/unet_seg_000.onnx');
  expect(modelRequests.filter((p) => p.endsWith('.safetensors'))).toEqual([]);
});
