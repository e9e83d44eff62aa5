/**
 * The engine behind its worker protocol, in Node: EngineWorker and EngineClient talk over
 * MessageChannels (the same postMessage/transfer semantics as a module Worker), each rank's
 * collective calls cross the proxy to in-process collectives on the "main thread". Two ranks
 * through the protocol must equal one direct denoise; errors arrive as {code, message} data.
 */
import * as ortNode from 'onnxruntime-node';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type ModelManifest } from '../../model/manifest.js';
import { createInProcessCollectives } from '../../net/in-process-collective.js';
import { denoise } from '../denoise.js';
import { EMBEDDED_DUAL_SCOPE } from '../dual-scope.js';
import { decodeClipState, encodeClipState, recutStates, type JobParams } from '../job-state.js';
import type { OrtModule } from '../session-runner.js';
import { compileModelPackage } from '../../model/compile/compile-model.js';
import { writeTinyPackage } from '../../model/testing/tiny-model.js';
import { fileReader, openTinyEngine, tinyPackageDir } from '../testing/tiny-engine.js';
import { EngineClient } from './engine-client.js';
import { EngineWorker } from './engine-worker.js';
import type { CheckpointEvent, PortLike } from './protocol.js';

const ports: MessagePort[] = [];
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

/** The files one `open` of the package handed the engine (what the browser's loader would fetch). */
interface Opened {
  readonly selected: string[];
  readonly read: string[];
}

function pair(ort: OrtModule = ortNode as unknown as OrtModule, options: { dir?: string; shaderF16?: () => Promise<boolean>; opened?: Opened[] } = {}): { client: EngineClient } {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  new EngineWorker(port2 as unknown as PortLike, {
    ort,
    packages: { open: async (_url, select) => ({ read: selectedReader(options.dir ?? tinyPackageDir(), select, options.opened), cachedFiles: 0, fetchedFiles: 1, warnings: [] }) },
    sessionOptions: { extra: { session: { intra_op: { allow_spinning: '0' } } } }, // see scripts/node-cli.ts NO_SPIN
    ...(options.shaderF16 && { shaderF16: options.shaderF16 }),
  });
  const client = new EngineClient(port1 as unknown as PortLike & { addEventListener(type: 'error', l: (e: Event) => void): void });
  port1.start();
  port2.start();
  return { client };
}

/** Reads only the files `select` picks from the package's manifest, as the browser's loader fetches only those. */
function selectedReader(dir: string, select: (m: ModelManifest) => readonly string[], opened?: Opened[]): (path: string) => Promise<Uint8Array> {
  const read = fileReader(dir);
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const selected = [...select(manifest)];
  const allowed = new Set(['manifest.json', ...selected]);
  const record: Opened = { selected, read: [] };
  opened?.push(record);
  return async (path) => {
    if (!allowed.has(path)) throw new Error(`'${path}' was not selected for download`);
    record.read.push(path);
    return read(path);
  };
}

/** What the host tab does before a render: its engine encodes the job's prompts once. */
async function hostPrompts(j: JobParams): Promise<Uint8Array> {
  const { client } = pair();
  const { bytes } = await client.encodePrompts({ packageUrl: 'tiny', schedule: j.promptSchedule, executionProviders: ['cpu'] });
  client.dispose();
  return bytes;
}

const job: JobParams = {
  jobId: 3, totalFrames: 8, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }, { fromFrame: 4, prompt: 'a blue square' }] },
  seed: 7, steps: 2, guidanceScale: 2, sampler: { kind: 'ddim', eta: 0 }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
};

describe('engine worker protocol', () => {
  it('two ranks through the worker protocol and collective proxy equal one direct rank (1e-4), with progress and byte counts', async () => {
    const direct = await denoise(await openTinyEngine(ortNode as unknown as OrtModule, ['segmented']), job, null);
    const tabs = [pair(), pair()];
    const loaded = await Promise.all(tabs.map((t) => t.client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] })));
    expect(loaded[0]!.provider).toBe('cpu');
    const promptEmbeddings = await hostPrompts(job);
    const cols = createInProcessCollectives(2);
    const steps: number[][] = [[], []];
    const bytes: number[] = [];
    const outs = await Promise.all(tabs.map((t, r) => t.client.render({ job, mode: 'collective', rank: r, worldSize: 2, warmUp: false, promptEmbeddings: promptEmbeddings.slice() }, (p) => {
      steps[r]!.push(p.step);
      bytes.push(p.bytesSent);
    }, cols[r])));
    expect(steps).toEqual([[0, 1], [0, 1]]);
    expect(Math.min(...bytes)).toBeGreaterThan(0);
    const px = outs[0]!.frames!.height * outs[0]!.frames!.width * 3;
    let diff = 0;
    for (const o of outs) for (let i = 0; i < o.frames!.data.length; i++) diff = Math.max(diff, Math.abs(o.frames!.data[i]! - direct.frames!.data[o.range.start * px + i]!));
    expect(diff).toBeLessThanOrEqual(1); // RGB bytes: latents agree within 1e-4, a rounding step at most
    for (const t of tabs) t.client.dispose();
  });

  it('a guidance-split job: each tab loads the batch-1 graphs, the uncond rank decodes the clip, the cond rank does not; an odd room is refused and the tab renders on', async () => {
    const tabs = [pair(), pair()];
    await Promise.all(tabs.map((t) => t.client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] })));
    const promptEmbeddings = await hostPrompts(job);
    const split = { ...job, cfgSplit: true };
    const cols = createInProcessCollectives(2);
    const outs = await Promise.all(tabs.map((t, r) => t.client.render({ job: split, mode: 'collective', rank: r, worldSize: 2, warmUp: false, promptEmbeddings: promptEmbeddings.slice() }, undefined, cols[r])));
    expect(outs.map((o) => [o.range, o.frames === null])).toEqual([[{ start: 0, end: 8 }, false], [{ start: 0, end: 8 }, true]]);
    // The same video as one batched rank (bit for bit on CPU).
    const [one] = createInProcessCollectives(1);
    const batched = await tabs[0]!.client.render({ job, mode: 'collective', rank: 0, worldSize: 1, warmUp: false, promptEmbeddings: promptEmbeddings.slice() }, undefined, one);
    expect(Buffer.compare(Buffer.from(outs[0]!.frames!.data), Buffer.from(batched.frames!.data))).toBe(0);
    const odd = createInProcessCollectives(3);
    await expect(tabs[0]!.client.render({ job: split, mode: 'collective', rank: 0, worldSize: 3, warmUp: false, promptEmbeddings: promptEmbeddings.slice() }, undefined, odd[0])).rejects.toThrow(/world size must be even/);
    const again = await tabs[0]!.client.render({ job, mode: 'collective', rank: 0, worldSize: 1, warmUp: false, promptEmbeddings: promptEmbeddings.slice() }, undefined, createInProcessCollectives(1)[0]);
    expect(again.frames).not.toBeNull();
    for (const t of tabs) t.client.dispose();
  });

  it('checkpoints after every step; the two ranks\' step-1 checkpoints, re-cut for one rank, resume alone (steps 1-2 only) to the uninterrupted video', async () => {
    const j: JobParams = { ...job, steps: 3, sampler: { kind: 'dpm-solver++-2m', algorithmType: 'sde-dpmsolver++' } };
    const tabs = [pair(), pair()];
    await Promise.all(tabs.map((t) => t.client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented', 'whole'] })));
    const promptEmbeddings = await hostPrompts(j);
    const cols = createInProcessCollectives(2);
    const saved: CheckpointEvent[][] = [[], []];
    const full = await Promise.all(tabs.map((t, r) => t.client.render({ job: j, mode: 'collective', rank: r, worldSize: 2, warmUp: false, checkpoints: true, promptEmbeddings: promptEmbeddings.slice() }, undefined, cols[r], { onCheckpoint: (c) => saved[r]!.push(c) })));
    expect(saved.map((s) => s.map((c) => [c.rank, c.nextStep]))).toEqual([[[0, 1], [0, 2], [0, 3]], [[1, 1], [1, 2], [1, 3]]]);
    // The host's view: the ranks' step-1 states, re-cut for one rank that renders the rest alone (whole graph).
    const PER_FRAME = 48 * 8 * 8;
    const [whole] = recutStates(saved.map((s) => decodeClipState(s[0]!.bytes, j, PER_FRAME)), [{ start: 0, end: j.totalFrames }], PER_FRAME);
    const ran: number[] = [];
    const resumed = await tabs[0]!.client.render({ job: j, mode: 'alone', rank: 0, worldSize: 1, warmUp: false, resume: encodeClipState(whole!), promptEmbeddings: promptEmbeddings.slice() }, (p) => ran.push(p.step));
    expect(ran).toEqual([1, 2]);
    const px = resumed.frames!.height * resumed.frames!.width * 3;
    let diff = 0;
    for (const o of full) for (let i = 0; i < o.frames!.data.length; i++) diff = Math.max(diff, Math.abs(o.frames!.data[i]! - resumed.frames!.data[o.range.start * px + i]!));
    expect(diff).toBeLessThanOrEqual(1); // the whole graph equals the segmented one within float roundoff
    // a checkpoint for another job is refused before any step runs
    await expect(tabs[0]!.client.render({ job: { ...j, seed: 8 }, mode: 'alone', rank: 0, worldSize: 1, warmUp: false, resume: encodeClipState(whole!), promptEmbeddings: promptEmbeddings.slice() })).rejects.toMatchObject({ code: 'bad-state', message: /saved for a different job/ });
    for (const t of tabs) t.client.dispose();
  });

  it('measure-speed: one warm-up and one timed UNet call on the loaded graph; refused before load and for a clip shorter than the halo', async () => {
    const { client } = pair();
    await expect(client.measureSpeed({ frames: 8 })).rejects.toMatchObject({ code: 'bad-state' });
    await client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] });
    const m = await client.measureSpeed({ frames: 8 });
    expect(m).toMatchObject({ graph: 'segmented', frames: 8 });
    expect(m.unetMs).toBeGreaterThan(0);
    expect(m.warmUpMs).toBeGreaterThan(0);
    expect(m.framesPerSecond).toBeCloseTo(8 / (m.unetMs / 1000), 6);
    await expect(client.measureSpeed({ frames: 0 })).rejects.toMatchObject({ code: 'invalid-argument' });
    client.dispose();
  });

  it('a render asked to warm up skips it once the graph has run (after the speed benchmark or a first render)', async () => {
    const fresh = pair().client;
    await fresh.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] });
    const alone = { job, mode: 'collective' as const, rank: 0, worldSize: 1, warmUp: true, promptEmbeddings: await hostPrompts(job) };
    expect((await fresh.render({ ...alone, promptEmbeddings: alone.promptEmbeddings.slice() }, () => {}, createInProcessCollectives(1)[0])).warmUpMs).toBeGreaterThan(0);
    expect((await fresh.render({ ...alone, promptEmbeddings: alone.promptEmbeddings.slice() }, () => {}, createInProcessCollectives(1)[0])).warmUpMs).toBe(0);
    fresh.dispose();
    const measured = pair().client;
    await measured.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] });
    await measured.measureSpeed({ frames: 8 });
    expect((await measured.render({ ...alone, promptEmbeddings: alone.promptEmbeddings.slice() }, () => {}, createInProcessCollectives(1)[0])).warmUpMs).toBe(0);
    measured.dispose();
  });

  it('creates one session at a time, a text encoder asked for during the UNet load included (ORT-web mounts external data globally)', async () => {
    let active = 0;
    let most = 0;
    let creations = 0;
    const counting: OrtModule = {
      Tensor: ortNode.Tensor as unknown as OrtModule['Tensor'],
      InferenceSession: {
        async create(model, options) {
          most = Math.max(most, ++active);
          try {
            // The first creation (the small text encoder, ready first) lasts long enough for the UNet's to start if it may.
            await new Promise((r) => setTimeout(r, creations++ === 0 ? 300 : 0));
            return await (ortNode.InferenceSession.create as OrtModule['InferenceSession']['create'])(model, options);
          } finally {
            active--;
          }
        },
      },
    };
    const { client } = pair(counting);
    await Promise.all([
      client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] }),
      client.encodePrompts({ packageUrl: 'tiny', schedule: job.promptSchedule, executionProviders: ['cpu'] }),
    ]);
    expect(most).toBe(1); // 2 with the creations unserialised (checked by removing the lock)
    client.dispose();
  });

  it('a render before load, an unknown graph and missing or foreign prompt embeddings come back as {code, message} errors', async () => {
    const { client } = pair();
    const promptEmbeddings = await hostPrompts(job);
    await expect(client.render({ job, mode: 'alone', rank: 0, worldSize: 1, warmUp: false, promptEmbeddings: promptEmbeddings.slice() })).rejects.toMatchObject({ name: 'EngineWorkerError', code: 'bad-state' });
    await client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] });
    await expect(client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'] })).rejects.toMatchObject({ code: 'bad-state' });
    await expect(client.render({ job, mode: 'alone', rank: 0, worldSize: 1, warmUp: false, promptEmbeddings: promptEmbeddings.slice() })).rejects.toMatchObject({ code: 'invalid-argument' });
    const other = await hostPrompts({ ...job, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] } });
    const one = { job, mode: 'collective' as const, rank: 0, worldSize: 1, warmUp: false };
    await expect(client.render({ ...one, promptEmbeddings: other }, () => {}, createInProcessCollectives(1)[0])).rejects.toMatchObject({ code: 'invalid-argument', message: /lack "a blue square"/ });
    await expect(client.render({ ...one, promptEmbeddings: new Uint8Array(16) }, () => {}, createInProcessCollectives(1)[0])).rejects.toMatchObject({ code: 'invalid-argument', message: /magic/ });
    client.dispose();
  });
});

describe('the UNet graph set a tab loads (float16 compute where ORT\'s WebGPU device has shader-f16)', () => {
  let f16Dir: string;
  const isF16Graph = (f: string) => f.startsWith('onnx/unet_f16') || f === 'onnx/segment-plan-f16.json';
  const isF32Graph = (f: string) => f === 'onnx/unet.onnx' || f.startsWith('onnx/unet_seg_') || f === 'onnx/segment-plan.json';
  beforeAll(() => {
    f16Dir = join(mkdtempSync(join(tmpdir(), 'vi-worker-f16-')), 'pkg');
    writeTinyPackage(f16Dir, { seed: 1234 });
    compileModelPackage(f16Dir, { precision: 'float16' });
  }, 120_000);

  const load = async (options: { dir?: string; shaderF16?: boolean; providers: string[]; compute?: 'float32' | 'float16' }) => {
    const opened: Opened[] = [];
    let probed = 0;
    const { client } = pair(undefined, { dir: options.dir ?? f16Dir, opened, shaderF16: async () => (probed++, options.shaderF16 ?? false) });
    try {
      const out = await client.loadModel({ packageUrl: 'pkg', executionProviders: options.providers, graphs: ['segmented'], ...(options.compute && { compute: options.compute }) });
      return { out, opened: opened[0]!, probed };
    } finally {
      client.dispose();
    }
  };

  it('WebGPU asked for first with shader-f16: float16, and only the float16 graphs are selected and read', async () => {
    // onnxruntime-node has no WebGPU: the runner falls back to CPU, which runs the same float16 graphs.
    const { out, opened, probed } = await load({ providers: ['webgpu', 'cpu'], shaderF16: true });
    expect(probed).toBe(1);
    expect(out).toMatchObject({ compute: 'float16', shaderF16: true, provider: 'cpu' });
    expect(opened.selected.filter(isF32Graph)).toEqual([]);
    expect(opened.selected.filter(isF16Graph).length).toBe(50); // 48 segments, the whole graph, the plan
    expect(opened.read.filter(isF16Graph).length).toBeGreaterThan(0);
  });

  it('negative controls: no shader-f16, or not WebGPU first, or a float32 package: float32 and no float16 graph selected', async () => {
    const noF16 = await load({ providers: ['webgpu', 'cpu'], shaderF16: false });
    expect(noF16.out).toMatchObject({ compute: 'float32', shaderF16: false });
    expect(noF16.opened.selected.filter(isF16Graph)).toEqual([]);
    expect(noF16.opened.selected.filter(isF32Graph).length).toBe(50);
    const cpu = await load({ providers: ['cpu'], shaderF16: true });
    expect(cpu.probed).toBe(0); // no adapter is requested for a tab that does not ask for WebGPU
    expect(cpu.out).toMatchObject({ compute: 'float32', shaderF16: null });
    expect(cpu.opened.selected.filter(isF16Graph)).toEqual([]);
    const plain = await load({ dir: tinyPackageDir(), providers: ['webgpu', 'cpu'], shaderF16: true });
    expect(plain.out).toMatchObject({ compute: 'float32', shaderF16: true });
  });

  it('compute asked for (?compute=): float16 on CPU loads the float16 set; float32 overrides shader-f16; float16 on a float32 package is refused before any graph is read', async () => {
    const forced = await load({ providers: ['cpu'], compute: 'float16' });
    expect(forced.out).toMatchObject({ compute: 'float16', provider: 'cpu' });
    expect(forced.opened.selected.filter(isF32Graph)).toEqual([]);
    const down = await load({ providers: ['webgpu', 'cpu'], shaderF16: true, compute: 'float32' });
    expect(down.out.compute).toBe('float32');
    expect(down.opened.selected.filter(isF16Graph)).toEqual([]);
    const opened: Opened[] = [];
    const { client } = pair(undefined, { opened });
    await expect(client.loadModel({ packageUrl: 'tiny', executionProviders: ['cpu'], graphs: ['segmented'], compute: 'float16' })).rejects.toMatchObject({ code: 'invalid-argument', message: /no float16-compute graphs.*--precision fp16/ });
    expect(opened).toEqual([]); // refused while choosing the files: nothing selected, nothing read
    client.dispose();
  });
});
