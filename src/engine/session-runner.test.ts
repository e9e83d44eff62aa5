import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { RunnerTensor, SessionRunner, SessionRunnerError, type OrtModule } from './session-runner.js';

/** A fake ORT module: providers in `broken` fail to create sessions; runs take `runMs` and count overlap. */
function fakeOrt(broken: string[], runMs = 5) {
  const probe = { active: 0, maxActive: 0, created: [] as { provider: string; preferred: unknown }[] };
  class FakeTensor {
    location = 'cpu';
    constructor(
      readonly type: string,
      readonly data: Float32Array,
      readonly dims: readonly number[],
    ) {}
    async getData() {
      return this.data;
    }
    dispose() {}
  }
  const module = {
    Tensor: FakeTensor,
    InferenceSession: {
      async create(_model: unknown, options: { executionProviders: string[]; preferredOutputLocation?: unknown }) {
        const provider = options.executionProviders[0]!;
        if (broken.includes(provider)) throw new Error(`${provider} is not available here`);
        probe.created.push({ provider, preferred: options.preferredOutputLocation });
        return {
          inputNames: ['x'],
          outputNames: ['y'],
          async run(feeds: Record<string, FakeTensor>) {
            probe.active++;
            probe.maxActive = Math.max(probe.maxActive, probe.active);
            await new Promise((r) => setTimeout(r, runMs));
            probe.active--;
            const x = feeds.x!;
            return { y: new FakeTensor('float32', x.data.map((v) => v * 2), x.dims) };
          },
          async release() {},
        };
      },
    },
  } as unknown as OrtModule;
  return { module, probe };
}

const input = { x: { dtype: 'float32' as const, dims: [2], data: Float32Array.of(1, 2) } };

describe('SessionRunner', () => {
  it('falls back through the providers, records every failed attempt and pins the one that worked', async () => {
    const { module, probe } = fakeOrt(['webgpu']);
    const runner = new SessionRunner(module, { executionProviders: ['webgpu', 'wasm'] });
    expect(runner.state).toBe('idle');
    const s = await runner.load('seg 0', new Uint8Array(1), { deviceOutputs: ['y'] });
    expect(runner.state).toBe('ready');
    expect(runner.provider).toBe('wasm');
    expect(runner.failedAttempts).toEqual([{ provider: 'webgpu', session: 'seg 0', message: 'webgpu is not available here' }]);
    expect(s.deviceOutputs).toEqual([]); // wasm keeps nothing on a GPU
    await runner.load('seg 1', new Uint8Array(1));
    expect(probe.created.map((c) => c.provider)).toEqual(['wasm', 'wasm']);
  });

  it('asks for gpu-buffer outputs only on WebGPU', async () => {
    const { module, probe } = fakeOrt([]);
    const runner = new SessionRunner(module, { executionProviders: ['webgpu'] });
    const s = await runner.load('seg', new Uint8Array(1), { deviceOutputs: ['y'] });
    expect(s.deviceOutputs).toEqual(['y']);
    expect(probe.created[0]!.preferred).toEqual({ y: 'gpu-buffer' });
    expect(runner.keepsOutputsOnDevice).toBe(true);
  });

  it('fails with one error listing every provider, then refuses further loads', async () => {
    const { module } = fakeOrt(['webgpu', 'wasm']);
    const runner = new SessionRunner(module, { executionProviders: ['webgpu', 'wasm'] });
    const err = await runner.load('seg 0', new Uint8Array(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionRunnerError);
    expect((err as SessionRunnerError).code).toBe('no-provider');
    expect((err as SessionRunnerError).message).toMatch(/webgpu \(seg 0\): webgpu is not available here; wasm \(seg 0\): wasm is not available here/);
    expect(runner.state).toBe('failed');
    await expect(runner.load('seg 1', new Uint8Array(1))).rejects.toMatchObject({ code: 'bad-state' });
  });

  it('never overlaps runs, and keeps warm-up runs out of the timings', async () => {
    const { module, probe } = fakeOrt([]);
    const runner = new SessionRunner(module, { executionProviders: ['cpu'] });
    const [a, b] = await Promise.all([runner.load('a', new Uint8Array(1)), runner.load('b', new Uint8Array(1))]);
    await runner.run(a, input, { warmUp: true });
    const outs = await Promise.all([runner.run(a, input), runner.run(b, input), runner.run(a, input)]);
    expect(probe.maxActive).toBe(1);
    expect(await runner.read(outs[1]!.y!)).toEqual(Float32Array.of(2, 4));
    const t = runner.timings();
    expect([t.runs, t.warmUpRuns]).toEqual([3, 1]);
    expect(t.runMs).toBeGreaterThan(0);
  });

  it('names a missing input', async () => {
    const { module } = fakeOrt([]);
    const runner = new SessionRunner(module, { executionProviders: ['cpu'] });
    const s = await runner.load('seg 3', new Uint8Array(1));
    await expect(runner.run(s, {})).rejects.toThrow(/session 'seg 3' needs input 'x'/);
  });

  it('runs a real model on onnxruntime-node (CPU)', async () => {
    // A one-node ONNX graph y = x + x, written by hand (ir 8, opset 17).
    const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'] });
    const s = await runner.load('add', addModel());
    expect(runner.provider).toBe('cpu');
    const out = await runner.run(s, { x: { dtype: 'float32', dims: [3], data: Float32Array.of(1, 2, 3) } });
    expect(out.y).toBeInstanceOf(RunnerTensor);
    expect(out.y!.onDevice).toBe(false);
    expect(await runner.read(out.y!)).toEqual(Float32Array.of(2, 4, 6));
  });
});

/** Minimal protobuf encoding of ModelProto{ir_version 8, opset 17, graph{Add(x, x) -> y, x,y: float[3]}}. */
function addModel(): Uint8Array {
  const varint = (n: number) => { const o: number[] = []; while (n > 127) { o.push((n & 127) | 128); n >>>= 7; } o.push(n); return o; };
  const field = (no: number, bytes: number[]) => [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
  const str = (no: number, s: string) => field(no, [...new TextEncoder().encode(s)]);
  const int = (no: number, n: number) => [...varint(no << 3), ...varint(n)];
  const valueInfo = (name: string) =>
    [...str(1, name), ...field(2, field(1, [...int(1, 1), ...field(2, field(1, int(1, 3)))]))]; // type{tensor_type{elem_type 1, shape{dim{dim_value 3}}}}
  const node = [...str(1, 'x'), ...str(1, 'x'), ...str(2, 'y'), ...str(4, 'Add')];
  const graph = [...field(1, node), ...str(2, 'g'), ...field(11, valueInfo('x')), ...field(12, valueInfo('y'))];
  return Uint8Array.from([...int(1, 8), ...field(7, graph), ...field(8, int(2, 17))]);
}

describe('SessionRunner memory defaults', () => {
  /** Records the options each session is created with. */
  function recordingOrt() {
    const seen: Record<string, unknown>[] = [];
    const module = {
      Tensor: class {},
      InferenceSession: {
        async create(_model: unknown, options: Record<string, unknown>) {
          seen.push(options);
          return { inputNames: [], outputNames: [], async run() { return {}; }, async release() {} };
        },
      },
    };
    return { ort: module as unknown as OrtModule, seen };
  }

  it('creates sessions without the per-session CPU arena, so segment sessions do not each keep their peak', async () => {
    const { ort: fake, seen } = recordingOrt();
    const runner = new SessionRunner(fake, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1 } });
    await runner.load('a', new Uint8Array());
    await runner.load('b', new Uint8Array());
    expect(seen).toHaveLength(2);
    for (const o of seen) expect(o).toMatchObject({ enableCpuMemArena: false, enableMemPattern: false, intraOpNumThreads: 1 });
  });

  it('lets the caller turn the arena back on', async () => {
    const { ort: fake, seen } = recordingOrt();
    const runner = new SessionRunner(fake, { executionProviders: ['cpu'], sessionOptions: { enableCpuMemArena: true } });
    await runner.load('a', new Uint8Array());
    expect(seen[0]).toMatchObject({ enableCpuMemArena: true, enableMemPattern: false });
  });
});
