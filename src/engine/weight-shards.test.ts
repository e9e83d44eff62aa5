// Weight shards reach each UNet session one graph at a time (issue 17: "streamed into the sessions
// without holding the package twice"), on a tiny package compiled into many small shards and run by
// onnxruntime-node: every session is given exactly the shards its ONNX file points into (found by
// scanning the file, independently of the plan); each shard is read at most once per load; the
// shard buffers alive (WeakRef after a forced GC) when a session is created are only that
// session's shards and those an earlier and a later session share; outputs equal those of the
// all-shards path. Negative control: the all-shards path (a plan without per-graph lists, which is
// what the executors did before) fails the liveness and the "only its shards" checks.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_FILES, compileModelPackage } from '../model/compile/compile-model.js';
import { type SegmentPlan, validateSegmentPlan } from '../model/segment-plan.js';
import { clipCallValues } from '../model/testing/clip-values.js';
import { f32 } from '../model/testing/host-tensor.js';
import { writeTinyPackage } from '../model/testing/tiny-model.js';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import { prng } from '../testing/prng.js';
import { ClipExchange } from './clip-exchange.js';
import type { DualScopeParams } from './dual-scope.js';
import { loadEngineModel } from './engine-model.js';
import { SegmentExecutor, WholeGraphExecutor } from './segment-executor.js';
import { type ExternalData, type OrtModule, SessionRunner } from './session-runner.js';
import { WeightShards } from './weight-shards.js';
import { clipLayout, segmentedCallInputs, wholeCallInputs } from './unet-call-inputs.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SHARD_NAME = /unet_weights_\d{3}\.bin/g;
let dir: string;
let plan: SegmentPlan;
/** The shard locations each UNet graph file names (scanned from its bytes: the plan is not asked). */
const scanned = new Map<string, string[]>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vi-shard-stream-'));
  writeTinyPackage(dir);
  compileModelPackage(dir, { shardBytes: 512 * 1024 });
  plan = validateSegmentPlan(JSON.parse(readFileSync(join(dir, PACKAGE_FILES.segmentPlan), 'utf8')) as SegmentPlan);
  for (const f of [plan.whole.file, ...plan.segments.map((s) => s.file)]) {
    scanned.set(f, [...new Set(readFileSync(join(dir, f)).toString('latin1').match(SHARD_NAME) ?? [])].sort());
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The plan as the executors saw it before per-graph lists: every session gets every shard. */
const withoutLists = (p: SegmentPlan): SegmentPlan => ({
  ...p,
  segments: p.segments.map(({ shards: _drop, ...s }) => s),
  whole: (({ shards: _drop, ...w }) => w)(p.whole),
});

interface Creation {
  session: string;
  file: string;
  given: string[];
  /** Shard buffers alive when the session was being created (after a forced GC). */
  live: string[];
}

/** A CPU runner and a package reader that record reads, what each session is given, and which shard buffers are alive. */
function instrumented() {
  const reads = new Map<string, number>();
  const alive: { location: string; ref: WeakRef<ArrayBufferLike> }[] = [];
  const creations: Creation[] = [];
  let lastModelFile = '';
  const read = async (path: string): Promise<Uint8Array> => {
    reads.set(path, (reads.get(path) ?? 0) + 1);
    const bytes = new Uint8Array(readFileSync(join(dir, path)));
    if (/unet_weights_\d{3}\.bin$/.test(path)) alive.push({ location: path.slice(path.lastIndexOf('/') + 1), ref: new WeakRef(bytes.buffer) });
    if (path.endsWith('.onnx')) lastModelFile = path;
    return bytes;
  };
  const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
  const load = runner.load.bind(runner);
  runner.load = async (name, model, opts = {}) => {
    const given = (opts.externalData ?? []).map((e: ExternalData) => e.path).sort();
    gc();
    const live = [...new Set(alive.filter((a) => a.ref.deref() !== undefined).map((a) => a.location))].sort();
    creations.push({ session: name, file: lastModelFile, given, live });
    return load(name, model, opts);
  };
  return { runner, read, reads, creations };
}

/** Shards that a session before `k` and one after `k` both need (a reference count keeps them across k). */
function carried(creations: readonly Creation[], k: number): Set<string> {
  const before = new Set(creations.slice(0, k).flatMap((c) => scanned.get(c.file)!));
  return new Set(creations.slice(k + 1).flatMap((c) => scanned.get(c.file)!).filter((s) => before.has(s)));
}

/** Shards alive at a creation that neither this session nor a carried-over need explains. */
function excessLive(creations: readonly Creation[]): string[] {
  return creations.flatMap((c, k) => {
    const allowed = new Set([...scanned.get(c.file)!, ...carried(creations, k)]);
    return c.live.filter((s) => !allowed.has(s)).map((s) => `${c.session}: ${s}`);
  });
}

const notOwn = (creations: readonly Creation[]) => creations.filter((c) => JSON.stringify(c.given) !== JSON.stringify(scanned.get(c.file)));

describe('weight shards per session', () => {
  it('the compiler records the shards each graph points into', () => {
    expect(plan.weights!.length).toBeGreaterThan(10);
    expect(plan.whole.shards!.slice().sort()).toEqual(scanned.get(plan.whole.file));
    for (const s of plan.segments) expect(s.shards!.slice().sort(), `segment ${s.index}`).toEqual(scanned.get(s.file));
    // Not vacuous: most segments need only a few of the shards.
    const counts = plan.segments.map((s) => s.shards!.length);
    console.log(`${plan.weights!.length} shards; shards per segment: ${counts.join(' ')}`);
    expect(Math.max(...counts)).toBeLessThan(plan.weights!.length);
  });

  it('rejects per-graph lists that name unknown shards, repeat one, or come without weights', () => {
    const bad = (edit: (p: SegmentPlan) => void) => {
      const p = structuredClone(plan);
      edit(p);
      return () => validateSegmentPlan(p);
    };
    expect(bad((p) => p.segments[1]!.shards!.push('unet_weights_999.bin'))).toThrow(/segment 1: shard 'unet_weights_999\.bin' is not in the plan's weights/);
    expect(bad((p) => p.whole.shards!.push(p.whole.shards![0]!))).toThrow(/whole graph: shards lists a location twice/);
    expect(bad((p) => delete p.weights)).toThrow(/lists shards but the plan has no weights/);
    expect(() => validateSegmentPlan(withoutLists(plan))).not.toThrow();
  });

  it('SegmentExecutor: each session gets only its shards, each read once, none kept past its last session', async () => {
    const t = instrumented();
    await SegmentExecutor.load(t.runner, plan, t.read);
    expect(t.creations.length).toBe(plan.segments.length);
    expect(notOwn(t.creations)).toEqual([]);
    for (const w of plan.weights!) expect(t.reads.get(w.file) ?? 0, w.file).toBeLessThanOrEqual(1);
    // The WeakRefs see a buffer that is alive: each session's own shards are.
    for (const c of t.creations) expect(c.live, c.session).toEqual(expect.arrayContaining(c.given));
    expect(excessLive(t.creations)).toEqual([]);
    const peak = Math.max(...t.creations.map((c) => c.live.length));
    console.log(`segments: most shards alive at one session creation ${peak} of ${plan.weights!.length}`);
  });

  it('negative control: the all-shards path gives every session every shard and keeps them all alive', async () => {
    const t = instrumented();
    await SegmentExecutor.load(t.runner, withoutLists(plan), t.read);
    expect(notOwn(t.creations).length).toBeGreaterThan(0);
    expect(excessLive(t.creations).length).toBeGreaterThan(0);
    expect(Math.max(...t.creations.map((c) => c.live.length))).toBe(plan.weights!.length);
  });

  it('loadEngineModel (both graphs): each shard is read once for both executors and let go as they load', async () => {
    const t = instrumented();
    await loadEngineModel(t.runner, t.read, { graphs: ['segmented', 'whole'], textEncoder: false });
    expect(t.creations.length).toBe(plan.segments.length + 1);
    expect(notOwn(t.creations)).toEqual([]);
    for (const w of plan.weights!) expect(t.reads.get(w.file), w.file).toBe(1);
    expect(excessLive(t.creations)).toEqual([]);
  });

  it('outputs equal the all-shards path (whole graph and two segmented ranks)', async () => {
    const params: DualScopeParams = { window: 4, topK: 8, phaseTimestep: 800, phaseBias: 1 };
    const N = 9;
    const r = prng(5);
    const sample = f32(Float32Array.from({ length: 2 * 48 * N * 64 }, () => 2 * r() - 1), [2, 48, N, 8, 8]);
    const ehs = f32(Float32Array.from({ length: 2 * N * 16 * 64 }, () => 2 * r() - 1), [2 * N, 16, 64]);
    const run = async (p: SegmentPlan) => {
      const t = instrumented();
      const whole = await WholeGraphExecutor.load(t.runner, p, t.read);
      const segments = await SegmentExecutor.load(t.runner, p, t.read);
      const ref = (await whole.call(wholeCallInputs(p, N, params, clipCallValues(sample, ehs, { start: 0, end: N }, 700, 8)))).noisePred;
      const ranges = [[0, 4], [4, 9]] as const;
      const collectives = createInProcessCollectives(ranges.length);
      const clips = await Promise.all(ranges.map(([s, e], k) => {
        const layout = clipLayout({ start: s, end: e }, N, params, p.tconvHalo);
        return segments.call(segmentedCallInputs(p, layout, clipCallValues(sample, ehs, layout.range, 700, 8)), new ClipExchange(collectives[k]!, layout, p, 1), 0);
      }));
      return [ref, ...clips.map((c) => c.noisePred)];
    };
    const streamed = await run(plan);
    const allShards = await run(withoutLists(plan));
    expect(streamed.length).toBe(3);
    streamed.forEach((o, k) => expect(o, `output ${k}`).toEqual(allShards[k]));
  });
});

describe('WeightShards', () => {
  const shard = (k: number) => ({ file: `onnx/w_${k}.bin`, location: `w_${k}.bin` });
  const reader = (reads: string[]) => async (path: string) => (reads.push(path), new Uint8Array(4));

  it('holds a shard from its first session to its last, and reads it once', async () => {
    const reads: string[] = [];
    const w = new WeightShards([[shard(0), shard(1)], [shard(1)], [shard(2)], [shard(0)]], reader(reads));
    const held: string[][] = [];
    const given: string[][] = [];
    for (let k = 0; k < 4; k++) {
      await w.create(async (ext) => given.push(ext.map((e) => e.path)));
      held.push(w.heldLocations.sort());
    }
    expect(given).toEqual([['w_0.bin', 'w_1.bin'], ['w_1.bin'], ['w_2.bin'], ['w_0.bin']]);
    expect(held).toEqual([['w_0.bin', 'w_1.bin'], ['w_0.bin'], ['w_0.bin'], []]);
    expect(reads).toEqual(['onnx/w_0.bin', 'onnx/w_1.bin', 'onnx/w_2.bin']);
    await expect(w.create(async () => 0)).rejects.toThrow(/session 4 was not planned \(4 sessions\)/);
  });

  it('a failed creation lets every shard go and ends the sequence', async () => {
    const w = new WeightShards([[shard(0)], [shard(0), shard(1)], [shard(1)]], reader([]));
    await w.create(async () => 0);
    expect(w.heldLocations).toEqual(['w_0.bin']);
    await expect(w.create(async () => {
      throw new Error('session failed');
    })).rejects.toThrow('session failed');
    expect(w.heldLocations).toEqual([]);
    await expect(w.create(async () => 0)).rejects.toThrow(/not planned/);
  });
});
