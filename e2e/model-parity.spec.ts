// Model parity in Chromium with onnxruntime-web, WASM and WebGPU (SwiftShader on GPU-less machines)
// (issue 4 §4). Self-contained: writes a random-weight tiny package, compiles it, computes references
// with onnxruntime-node (CPU), and serves onnxruntime-web's dist, the package and a bundled harness
// (e2e/model-fixtures/parity-harness.ts) from its own static server. With the golden fixtures and
// the compiled embedded model present it also checks them against PyTorch.
//
// WebGPU must run every node on the GPU: any "not assigned to the preferred execution provider"
// warning fails the test, and ORT's verbose node list of every UNet graph must show no node on the CPU.
import { expect, test, type Page } from '@playwright/test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type HarnessServer, startHarnessServer } from './model-fixtures/harness-server.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import { compileModelPackage } from '../src/model/compile/compile-model.js';
import { Program } from '../src/model/compile/graph.js';
import { serializeGraph } from '../src/model/compile/onnx-writer.js';
import type { DualScopeParams } from '../src/engine/dual-scope.js';
import { WholeGraphExecutor } from '../src/engine/segment-executor.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { fileReader } from '../src/engine/testing/tiny-engine.js';
import { wholeCallInputs } from '../src/engine/unet-call-inputs.js';
import { writeSafetensors } from '../src/model/safetensors.js';
import type { SegmentPlan } from '../src/model/segment-plan.js';
import { clipCallValues } from '../src/model/testing/clip-values.js';
import { f32, i64, type HostTensor } from '../src/model/testing/host-tensor.js';
import { fromOrt, toOrt, type TensorCtor } from '../src/model/testing/ort-runner.js';
import { prng, writeTinyPackage } from '../src/model/testing/tiny-model.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOL = 1e-4;
const DS: DualScopeParams = { window: 4, topK: 8, phaseTimestep: 800, phaseBias: 1 };
const N = 10;
const T_CALL = Number(process.env.VI_PARITY_T ?? 999);
// VI_GOLDEN_DIR / VI_GOLDEN_PKG point the golden tests at another fixture set and package.
const goldenDir = process.env.VI_GOLDEN_DIR ?? path.join(root, 'training', 'golden');
const realPkg = process.env.VI_GOLDEN_PKG ?? path.join(root, 'public', 'models', 'vi-shapes-tiny');

let dir: string;
let server: HarnessServer | undefined;
let base: string;


async function makeReference(pkg: string): Promise<void> {
  const T = ortNode.Tensor as unknown as TensorCtor;
  const r = prng(5);
  const sample = f32(Float32Array.from({ length: 2 * 48 * N * 64 }, () => 2 * r() - 1), [2, 48, N, 8, 8]);
  const ehs = f32(Float32Array.from({ length: 2 * N * 16 * 64 }, () => 2 * r() - 1), [2 * N, 16, 64]);
  // The whole-video graph run by the engine's executor on onnxruntime-node CPU.
  const plan: SegmentPlan = JSON.parse(readFileSync(path.join(pkg, 'onnx', 'segment-plan.json'), 'utf8'));
  const runner = new SessionRunner(ortNode as unknown as OrtModule, { executionProviders: ['cpu'] });
  const whole = await WholeGraphExecutor.load(runner, plan, fileReader(pkg));
  const out = f32((await whole.call(wholeCallInputs(plan, N, DS, clipCallValues(sample, ehs, { start: 0, end: N }, T_CALL, 8)))).noisePred, [2, 48, N, 8, 8]);
  const ids = i64([1, 13, 5, 10, 9, 2, ...Array(10).fill(0), 1, 2, ...Array(14).fill(0)], [2, 16]);
  const te = await ortNode.InferenceSession.create(path.join(pkg, 'onnx', 'text_encoder.onnx'));
  const text = await fromOrt((await te.run({ input_ids: toOrt(T, ids) })).last_hidden_state as never);
  const st = (h: HostTensor) => ({ dtype: 'F32' as const, shape: h.dims, data: h.data as Float32Array });
  writeFileSync(path.join(pkg, 'ref.safetensors'), writeSafetensors({
    sample: st(sample), encoder_hidden_states: st(ehs), noise_pred: st(out), last_hidden_state: st(text),
    input_ids: { dtype: 'I64', shape: ids.dims, data: ids.data as BigInt64Array },
  }));
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'vi-parity-'));
  writeTinyPackage(dir);
  compileModelPackage(dir);
  await makeReference(dir);
  // A graph with an op the WebGPU EP has no kernel for (Det): proves the "not assigned" detector fires.
  const probe = new Program('cpu_probe');
  const x = probe.callInput('x', 'float32', [8]);
  probe.output(probe.op('Det', [probe.op('Reshape', [x, probe.constI64([-1, 2, 2])])], {}, 'det', [2]), 'result');
  writeFileSync(path.join(dir, 'cpu-probe.onnx'), serializeGraph(probe.segments[0].graph));
  server = await startHarnessServer({ '/pkg/': dir, '/golden/': goldenDir, '/real/': realPkg });
  base = server.url;
});

test.afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Open the harness page and collect ORT's console warnings. */
async function openHarness(page: Page): Promise<string[]> {
  const warnings: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'warning' || m.type() === 'error' || /not assigned|CPUExecutionProvider/.test(m.text())) warnings.push(m.text());
  });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
  return warnings;
}

function assertAllOnGpu(warnings: string[]): void {
  const unassigned = warnings.filter((w) => /not assigned to the preferred execution providers/i.test(w));
  expect(unassigned, `ORT placed nodes off the WebGPU EP:\n${unassigned.join('\n')}`).toEqual([]);
}

// The node list behind that warning, from ORT's verbose log: the UNet graphs of both packages (the
// banded temporal attention's index arithmetic among them) run every node on the GPU. The Det probe
// is the negative control: the same reading must find its node on the CPU.
test('WebGPU places every node of the UNet graphs on the GPU (random and embedded package)', async ({ page }) => {
  test.setTimeout(300_000);
  for (const pkg of ['/pkg', '/real']) {
    await openHarness(page);
    const cpu = await page.evaluate((cfg) => window.modelParity.cpuNodes(cfg), { pkg, extra: pkg === '/pkg' ? ['/pkg/cpu-probe.onnx'] : [] });
    console.log(`[webgpu] ${pkg}: nodes on the CPU EP: ${JSON.stringify(cpu)}`);
    if (pkg === '/pkg') {
      expect(cpu['/pkg/cpu-probe.onnx'], 'the placement reader did not find the Det probe on the CPU').toContainEqual(expect.stringMatching(/^Det \(/));
      delete cpu['/pkg/cpu-probe.onnx'];
    }
    expect(cpu, `${pkg}: ORT placed nodes of these graphs on the CPU`).toEqual({});
  }
});

for (const ep of ['wasm', 'webgpu'] as const) {
  test(`random tiny model: text encoder, whole UNet and 2-rank segments match ORT-CPU (${ep})`, async ({ page }) => {
    test.setTimeout(300_000);
    const warnings = await openHarness(page);
    if (ep === 'webgpu') {
      const adapter = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
      expect(adapter, 'no WebGPU adapter: Chromium needs --enable-unsafe-webgpu').toBe(true);
    }
    const res = await page.evaluate(
      (cfg) => window.modelParity.random(cfg),
      { ep, pkg: '/pkg', ref: '/pkg/ref.safetensors', ranges: [[0, 5], [5, 10]], params: DS, t: T_CALL },
    );
    console.log(`[${ep}] random-model max abs diff vs onnxruntime-node CPU: ${JSON.stringify(res)}`);
    for (const [k, v] of Object.entries(res)) expect(v, k).toBeLessThanOrEqual(TOL);
    if (ep === 'webgpu') {
      assertAllOnGpu(warnings);
      await page.evaluate(async () => {
        const bytes = new Uint8Array(await (await fetch('/pkg/cpu-probe.onnx')).arrayBuffer());
        await window.ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
      });
      expect(warnings.some((w) => /not assigned to the preferred execution providers/i.test(w)), 'the CPU-fallback detector did not fire on a Det node').toBe(true);
    }
  });
}

for (const ep of ['wasm', 'webgpu'] as const) {
  test(`embedded model: text encoder and one UNet call match PyTorch goldens (${ep})`, async ({ page }) => {
    // SwiftShader runs WebGPU on the CPU: on WebGPU one interior clip (plus the whole graph) keeps this
    // under ~10 minutes on 2 busy cores; WASM checks a start, a middle and an end clip.
    test.setTimeout(ep === 'webgpu' ? 900_000 : 300_000);
    const meta = JSON.parse(readFileSync(path.join(goldenDir, 'unet_call.json'), 'utf8')) as Record<string, number>;
    const warnings = await openHarness(page);
    const res = await page.evaluate((cfg) => window.modelParity.golden(cfg), {
      ep, pkg: '/real', golden: '/golden', clips: ep === 'webgpu' ? [[14, 26]] : [[0, 12], [14, 26], [meta.frames - 12, meta.frames]],
      p: meta.p, topK: meta.top_k, tPhase: meta.t_phase, b: meta.phase_bias, t: meta.timestep, fps: meta.fps,
    });
    console.log(`[${ep}] golden max abs diff vs PyTorch: ${JSON.stringify(res)}`);
    for (const [k, v] of Object.entries(res)) expect(v, k).toBeLessThanOrEqual(TOL);
    if (ep === 'webgpu') assertAllOnGpu(warnings);
  });
}
