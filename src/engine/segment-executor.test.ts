/**
 * Plan walking with a fake WebGPU-like ORT module: `keep` outputs stay on the "GPU" (never read
 * back) and are freed after their last consumer; only `send` and `result` outputs are read back;
 * exchange results feed the right inputs; exchanges after one segment run concurrently.
 */
import { describe, expect, it } from 'vitest';
import type { SegmentPlan } from '../model/segment-plan.js';
import type { Exchanger } from './clip-exchange.js';
import { SegmentExecutor } from './segment-executor.js';
import { SessionRunner, type HostTensor, type OrtModule } from './session-runner.js';
import type { ClipLayout } from './unet-call-inputs.js';

const t = (name: string, dims: (number | string)[] = [2]) => ({ name, dtype: 'float32' as const, shape: dims });

/** seg0: sample → a (keep → 1, 2), p0/send;  seg1: a, p0 → b (keep → 2), p1/send, p2/send;  seg2: a, b, p1, p2 → noise_pred. */
const PLAN: SegmentPlan = {
  format: 'vi-segment-plan', version: 1, batch: 2, latent: { channels: 1, height: 1, width: 1 }, tconvHalo: 4, layout: 'test',
  callInputs: [t('sample')],
  exchangePoints: [
    { id: 'p0', kind: 'stats', groups: 1, channels: 1, countPerFrame: 1, send: 'p0/send', receive: 'p0/recv' },
    { id: 'p1', kind: 'stats', groups: 1, channels: 1, countPerFrame: 1, send: 'p1/send', receive: 'p1/recv' },
    { id: 'p2', kind: 'stats', groups: 1, channels: 1, countPerFrame: 1, send: 'p2/send', receive: 'p2/recv' },
  ],
  segments: [
    { index: 0, file: 'seg0', inputs: [{ ...t('sample'), source: { kind: 'call' } }], outputs: [{ ...t('a'), role: 'keep', consumers: [1, 2] }, { ...t('p0/send'), role: 'send', point: 'p0' }], exchangesAfter: ['p0'], opCounts: {} },
    {
      index: 1, file: 'seg1',
      inputs: [{ ...t('a'), source: { kind: 'tensor', segment: 0 } }, { ...t('p0/recv'), source: { kind: 'exchange', point: 'p0' } }],
      outputs: [{ ...t('b'), role: 'keep', consumers: [2] }, { ...t('p1/send'), role: 'send', point: 'p1' }, { ...t('p2/send'), role: 'send', point: 'p2' }],
      exchangesAfter: ['p1', 'p2'], opCounts: {},
    },
    {
      index: 2, file: 'seg2',
      inputs: [{ ...t('a'), source: { kind: 'tensor', segment: 0 } }, { ...t('b'), source: { kind: 'tensor', segment: 1 } }, { ...t('p1/recv'), source: { kind: 'exchange', point: 'p1' } }, { ...t('p2/recv'), source: { kind: 'exchange', point: 'p2' } }],
      outputs: [{ ...t('noise_pred'), role: 'result' }], exchangesAfter: [], opCounts: {},
    },
  ],
  whole: { file: 'whole', inputs: [], outputs: [], opCounts: {} },
};

/** Each fake segment k computes out = k + sum of its inputs' first elements; outputs go where preferredOutputLocation says. */
function fakeGpuOrt() {
  const log = { read: [] as string[], disposed: [] as string[], runs: [] as { segment: number; feeds: Record<string, number> }[] };
  class FakeTensor {
    constructor(readonly type: string, readonly data: Float32Array, readonly dims: readonly number[], readonly location = 'cpu', readonly label = '') {}
    async getData() {
      log.read.push(this.label);
      return this.data;
    }
    dispose() {
      log.disposed.push(`${this.label} after run ${log.runs.length}`);
    }
  }
  const module = {
    Tensor: FakeTensor,
    InferenceSession: {
      async create(model: Uint8Array, options: { preferredOutputLocation?: Record<string, string> }) {
        const k = model[0]!;
        const seg = PLAN.segments[k]!;
        return {
          inputNames: seg.inputs.map((i) => i.name),
          outputNames: seg.outputs.map((o) => o.name),
          async run(feeds: Record<string, FakeTensor>) {
            const firsts = Object.fromEntries(Object.entries(feeds).map(([n, v]) => [n, v.data[0]!]));
            log.runs.push({ segment: k, feeds: firsts });
            const value = k + Object.values(firsts).reduce((a, b) => a + b, 0);
            return Object.fromEntries(seg.outputs.map((o) => [o.name, new FakeTensor('float32', Float32Array.of(value, 0), [2], options.preferredOutputLocation?.[o.name] ?? 'cpu', o.name)]));
          },
          async release() {},
        };
      },
    },
  } as unknown as OrtModule;
  return { module, log };
}

describe('SegmentExecutor', () => {
  it('keeps outputs on the device, reads back only send/result, frees keeps after their last consumer', async () => {
    const { module, log } = fakeGpuOrt();
    const runner = new SessionRunner(module, { executionProviders: ['webgpu'] });
    const exec = await SegmentExecutor.load(runner, PLAN, async (path) => Uint8Array.of(Number(path.slice(3))));
    let concurrent = 0;
    let maxConcurrent = 0;
    const exchanged: string[] = [];
    const exchanger: Exchanger = {
      layout: {} as ClipLayout,
      async exchange(point, _index, sent): Promise<HostTensor> {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await new Promise((r) => setTimeout(r, 5));
        concurrent--;
        exchanged.push(point.id);
        return { dtype: 'float32', dims: [2], data: Float32Array.of(100 * (Number(point.id.slice(1)) + 1) + (sent.data[0] as number), 0) };
      },
    };
    const out = await exec.call({ sample: { dtype: 'float32', dims: [2], data: Float32Array.of(1, 0) } }, exchanger, 0);

    // seg0: a = 0 + 1 = 1 (p0/send too); p0/recv = 100 + 1. seg1: b = 1 + 1 + 101 = 103 (p1/send, p2/send too);
    // p1/recv = 200 + 103, p2/recv = 300 + 103. seg2: noise_pred = 2 + a + b + p1/recv + p2/recv.
    expect(out.noisePred[0]).toBe(2 + 1 + 103 + 303 + 403);
    expect(log.runs.map((r) => r.feeds)).toEqual([{ sample: 1 }, { a: 1, 'p0/recv': 101 }, { a: 1, b: 103, 'p1/recv': 303, 'p2/recv': 403 }]);
    expect(log.read.sort()).toEqual([]); // send/result were asked for on the CPU: no GPU readback at all
    expect(log.disposed.sort()).toEqual(['a after run 3', 'b after run 3']); // freed once their last consumer (segment 2) ran; nothing else was on the device
    expect(exchanged.sort()).toEqual(['p0', 'p1', 'p2']);
    expect(maxConcurrent).toBe(2); // p1 and p2 after segment 1 ran together
  });
});
