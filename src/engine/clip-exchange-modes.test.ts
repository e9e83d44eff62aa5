// The exchange modes through the whole denoising loop of the tiny random-weight model
// (onnxruntime-node CPU): each mode is deterministic for a room layout whatever the delivery
// timing, differs from 'exact' where it must and equals it where it must.
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import type { Collective, CollectiveStats, HaloResult, MessageTag, WireTensor } from './collective.js';
import { denoise } from './denoise.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import type { EngineModel } from './engine-model.js';
import type { JobParams } from './job-state.js';
import type { OrtModule } from './session-runner.js';
import { openTinyEngine } from './testing/tiny-engine.js';

const PER_FRAME = 48 * 8 * 8;

let model: EngineModel;
beforeAll(async () => {
  model = await openTinyEngine(ort as unknown as OrtModule, ['segmented']);
});

/** Delays every result by a random 0–3 ms, so ranks finish their exchanges in varying orders. */
class JitteredCollective implements Collective {
  constructor(private readonly inner: Collective) {}
  get rank() { return this.inner.rank; }
  get worldSize() { return this.inner.worldSize; }
  private async late<T>(p: Promise<T>): Promise<T> {
    const v = await p;
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    return v;
  }
  exchangeHalo(tag: MessageTag, l: WireTensor | null, r: WireTensor | null): Promise<HaloResult> { return this.late(this.inner.exchangeHalo(tag, l, r)); }
  allGather(tag: MessageTag, mine: WireTensor): Promise<WireTensor[]> { return this.late(this.inner.allGather(tag, mine)); }
  allReduceSum(tag: MessageTag, v: Float64Array): Promise<Float64Array> { return this.late(this.inner.allReduceSum(tag, v)); }
  barrier(tag: MessageTag): Promise<void> { return this.late(this.inner.barrier(tag)); }
  send(to: number, tag: MessageTag, t: WireTensor): Promise<void> { return this.late(this.inner.send(to, tag, t)); }
  recv(from: number, tag: MessageTag): Promise<WireTensor> { return this.late(this.inner.recv(from, tag)); }
  stats(): CollectiveStats { return this.inner.stats(); }
  resetStats(): void { this.inner.resetStats(); }
}

/** 12 frames, 3 DPM steps (timesteps 999, 666, 333: the local phase starts at step 1), guidance 7.5. */
function job(extra: Partial<JobParams> = {}): JobParams {
  return {
    jobId: 9, totalFrames: 12, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle moving right' }] }, seed: 77, steps: 3, guidanceScale: 7.5,
    sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null, ...extra,
  };
}

async function render(j: JobParams, worldSize: number, jitter = false): Promise<{ latents: Float32Array; bytesSent: number }> {
  const cols = createInProcessCollectives(worldSize);
  const results = await Promise.all(cols.map((c) => denoise(model, j, jitter ? new JitteredCollective(c) : c)));
  const latents = new Float32Array(j.totalFrames * PER_FRAME);
  for (const r of results) latents.set(r.latents, r.range.start * PER_FRAME);
  return { latents, bytesSent: cols.reduce((a, c) => a + c.stats().bytesSent, 0) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('exchange modes through the denoising loop (tiny model, W = 3)', () => {
  let exact: { latents: Float32Array; bytesSent: number };
  beforeAll(async () => {
    exact = await render(job(), 3);
  });

  it.each([
    ['exact-fp16', { exchangeMode: 'exact-fp16' }],
    ['stale (warm-up 1, stale statistics)', { exchangeMode: 'stale', exchangeOptions: { warmupSteps: 1 } }],
    ['stale (warm-up 1, exact statistics)', { exchangeMode: 'stale', exchangeOptions: { warmupSteps: 1, staleStats: false } }],
    ['sparse-global (every 2)', { exchangeMode: 'sparse-global', exchangeOptions: { globalEvery: 2 } }],
    ['sparse-global (every 2, float16 on the wire)', { exchangeMode: 'sparse-global', exchangeOptions: { globalEvery: 2, float16Wire: true } }],
  ] as [string, Partial<JobParams>][])('%s: bit-identical twice under random delivery timing, and not exact', async (_name, extra) => {
    const a = await render(job(extra), 3, true);
    const b = await render(job(extra), 3, true);
    expect(maxAbsDiff(a.latents, b.latents)).toBe(0);
    expect(maxAbsDiff(a.latents, exact.latents)).toBeGreaterThan(1e-6);
    expect(a.bytesSent).toBeLessThanOrEqual(exact.bytesSent);
    if (extra.exchangeMode === 'exact-fp16' || extra.exchangeOptions?.float16Wire) expect(a.bytesSent / exact.bytesSent).toBeLessThan(0.56);
    if (extra.exchangeMode === 'exact-fp16') {
      // float16 halves the halo/attention bytes (statistics stay float64) and keeps ~3 decimal digits
      expect(a.bytesSent / exact.bytesSent).toBeGreaterThan(0.45);
      expect(a.bytesSent / exact.bytesSent).toBeLessThan(0.56);
      expect(maxAbsDiff(a.latents, exact.latents)).toBeLessThan(0.05);
    }
  });

  it("exact stays bit-identical under random delivery timing (the control for the test above)", async () => {
    expect(maxAbsDiff((await render(job(), 3, true)).latents, exact.latents)).toBe(0);
  });

  it('stale with warm-up ≥ steps and sparse-global refreshing every step equal exact bit for bit', async () => {
    expect(maxAbsDiff((await render(job({ exchangeMode: 'stale', exchangeOptions: { warmupSteps: 3 } }), 3)).latents, exact.latents)).toBe(0);
    expect(maxAbsDiff((await render(job({ exchangeMode: 'sparse-global', exchangeOptions: { globalEvery: 1 } }), 3)).latents, exact.latents)).toBe(0);
  });

  it('on one rank the network modes are exact (nothing crosses a wire)', async () => {
    const one = await render(job(), 1);
    for (const extra of [{ exchangeMode: 'exact-fp16' }, { exchangeMode: 'stale', exchangeOptions: { warmupSteps: 0 } }] as Partial<JobParams>[]) {
      expect(maxAbsDiff((await render(job(extra), 1)).latents, one.latents)).toBe(0);
    }
  });
});
