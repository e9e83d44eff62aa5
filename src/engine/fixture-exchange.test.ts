/**
 * The fixture-backed exchanger drives the real executor on one clip. Without PyTorch goldens, the
 * full-video tensors are recorded from a one-rank run of the engine itself on N = 8 frames: there
 * the halo send (first 4 + last 4 frames) is the whole layer input, and attn_send_indices can list
 * every frame, so every exchange point's full-video tensor is observable.
 */
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExchangePoint } from '../model/segment-plan.js';
import { ClipExchange, type Exchanger } from './clip-exchange.js';
import { frameMajorToChannelMajor } from './denoise.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import type { EngineModel } from './engine-model.js';
import { FixtureExchanger } from './fixture-exchange.js';
import { cfgBatch } from './guidance.js';
import { initialLatent } from './rng.js';
import type { HostTensor, OrtModule } from './session-runner.js';
import { openTinyEngine } from './testing/tiny-engine.js';
import { clipLayout, segmentedCallInputs, type ClipLayout } from './unet-call-inputs.js';

const N = 8;
let model: EngineModel;
beforeAll(async () => {
  model = await openTinyEngine(ort as unknown as OrtModule);
});

/** Passes through to a one-rank ClipExchange and records full-video tensors in the golden layouts. */
class Recorder implements Exchanger {
  readonly tensors = new Map<string, Float32Array>();
  constructor(
    private readonly inner: ClipExchange,
    readonly layout: ClipLayout,
  ) {}
  async exchange(point: ExchangePoint, index: number, sent: HostTensor, step: number): Promise<HostTensor> {
    const got = await this.inner.exchange(point, index, sent, step);
    if (point.kind === 'stats') {
      const n = got.data.length / 2;
      this.tensors.set(`ep/${point.id}/mean`, Float32Array.from({ length: n }, (_, i) => Number(got.data[2 * i])));
      this.tensors.set(`ep/${point.id}/var`, Float32Array.from({ length: n }, (_, i) => Number(got.data[2 * i + 1])));
    } else {
      this.tensors.set(`ep/${point.id}`, (sent.data as Float32Array).slice());
    }
    return got;
  }
}

describe('FixtureExchanger', () => {
  it('drives the real executor on clips [0, 4) and [4, 8) to the one-rank noise_pred', async () => {
    const plan = model.plan;
    expect(2 * plan.tconvHalo).toBe(N);
    const lat = initialLatent(9, [...Array(N).keys()], 3072);
    const row = await model.encodePrompt!('a green triangle');
    const values = (start: number, end: number) => {
      const f = end - start;
      const ehs = new Float32Array(2 * f * row.length);
      for (let i = 0; i < 2 * f; i++) ehs.set(row, i * row.length);
      return { sample: cfgBatch(frameMajorToChannelMajor(lat.slice(start * 3072, end * 3072), f, 48, 64)), timestep: 999, fps: 8, encoderHiddenStates: ehs };
    };
    const solo = clipLayout({ start: 0, end: N }, N, EMBEDDED_DUAL_SCOPE, plan.tconvHalo);
    const everyFrame = { ...solo, sendLocalFrames: [...Array(N).keys()] };
    const recorder = new Recorder(new ClipExchange(null, everyFrame, plan, 1), everyFrame);
    const reference = (await model.segments!.call(segmentedCallInputs(plan, everyFrame, values(0, N)), recorder, 0)).noisePred; // [2, C, N, P]
    expect(recorder.tensors.size).toBeGreaterThan(plan.exchangePoints.length);

    for (const [start, end] of [[0, 4], [4, 8]] as const) {
      const layout = clipLayout({ start, end }, N, EMBEDDED_DUAL_SCOPE, plan.tconvHalo);
      const fixture = new FixtureExchanger(layout, plan, (name) => recorder.tensors.get(name));
      const out = (await model.segments!.call(segmentedCallInputs(plan, layout, values(start, end)), fixture, 0)).noisePred;
      const f = end - start;
      let m = 0;
      for (let bc = 0; bc < 2 * 48; bc++) for (let j = 0; j < f; j++) for (let q = 0; q < 64; q++) m = Math.max(m, Math.abs(out[(bc * f + j) * 64 + q]! - reference[(bc * N + start + j) * 64 + q]!));
      expect(m, `clip [${start}, ${end})`).toBeLessThanOrEqual(2e-5);
    }
  });

  it('names a missing fixture tensor', async () => {
    const layout = clipLayout({ start: 0, end: 4 }, N, EMBEDDED_DUAL_SCOPE, 4);
    const fixture = new FixtureExchanger(layout, model.plan, () => undefined);
    const point = model.plan.exchangePoints[0]!;
    await expect(fixture.exchange(point, 0, { dtype: 'float32', dims: [0], data: new Float32Array(0) }, 0)).rejects.toThrow(`no tensor 'ep/${point.id}/mean'`);
  });
});
