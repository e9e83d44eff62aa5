// Which files a tab downloads (runtimeFiles): one UNet graph set, the one it computes in, checked
// against the plans the compiler writes (the segment graphs are named only there).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModelPackage } from './compile/compile-model.js';
import { ManifestError, parseManifest, runtimeFiles, unetGraphSet, type ModelManifest } from './manifest.js';
import type { SegmentPlan } from './segment-plan.js';
import { writeTinyPackage } from './testing/tiny-model.js';

let dir: string;
let m: ModelManifest;
const plan = (path: string): SegmentPlan => JSON.parse(readFileSync(join(dir, path), 'utf8'));
/** Every graph file one set's plan names, and the weight shards it shares with the other set. */
const graphsOf = (p: SegmentPlan, planPath: string) => [planPath, p.whole.file, ...p.segments.map((s) => s.file)];
const shardsOf = (p: SegmentPlan) => (p.weights ?? []).map((w) => w.file);

beforeAll(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'vi-runtime-files-')), 'pkg');
  writeTinyPackage(dir, { seed: 99 });
  compileModelPackage(dir, { precision: 'float16' }); // float16 weights and both graph sets
  m = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
}, 120_000);

describe('runtimeFiles with two UNet graph sets', () => {
  it('float32 compute (the default) downloads the float32 set and none of the float16 set', () => {
    const f32 = plan(m.unet.segment_plan);
    const f16 = plan(m.unet.float16_compute!.segment_plan);
    const files = new Set(runtimeFiles(m, 'compute'));
    expect(runtimeFiles(m, 'compute', 'float32')).toEqual([...files]);
    for (const f of [...graphsOf(f32, m.unet.segment_plan), ...shardsOf(f32)]) expect(files.has(f), f).toBe(true);
    expect(graphsOf(f16, m.unet.float16_compute!.segment_plan).filter((f) => files.has(f))).toEqual([]);
  });

  it('float16 compute downloads the float16 set and the shared shards, none of the float32 graphs', () => {
    const f32 = plan(m.unet.segment_plan);
    const f16 = plan(m.unet.float16_compute!.segment_plan);
    const files = new Set(runtimeFiles(m, 'compute', 'float16'));
    for (const f of [...graphsOf(f16, m.unet.float16_compute!.segment_plan), ...shardsOf(f16)]) expect(files.has(f), f).toBe(true);
    expect(graphsOf(f32, m.unet.segment_plan).filter((f) => files.has(f))).toEqual([]);
    expect(shardsOf(f16)).toEqual(shardsOf(f32)); // one set of weight shards for both
    expect(shardsOf(f16).length).toBeGreaterThan(0);
  });

  it('the two sets differ only in their graphs: every other compute file is in both, and nothing of the text part or the compiler is', () => {
    const a = runtimeFiles(m, 'compute', 'float32');
    const b = runtimeFiles(m, 'compute', 'float16');
    const graphs = new Set([...graphsOf(plan(m.unet.segment_plan), m.unet.segment_plan), ...graphsOf(plan(m.unet.float16_compute!.segment_plan), m.unet.float16_compute!.segment_plan)]);
    expect(a.filter((f) => !graphs.has(f))).toEqual(b.filter((f) => !graphs.has(f)));
    // Negative control for the comparison above: the graph-only difference is not empty.
    expect(a.filter((f) => graphs.has(f)).length).toBe(m.unet.segments + 2);
    expect(b.filter((f) => graphs.has(f)).length).toBe(m.unet.segments + 2);
    const text = new Set(runtimeFiles(m, 'text-encoder'));
    expect([...a, ...b].filter((f) => text.has(f) || f === m.unet.weights)).toEqual([]);
    // Every file of the package is in some part, or read only by the compiler and tools (the batch-1
    // whole graph: a guidance split always has two ranks, so no tab runs it).
    const covered = new Set([...a, ...b, ...text, m.unet.weights, m.text_encoder.weights, m.unet.cfg_split!.onnx_whole]);
    expect(Object.keys(m.files).filter((f) => !covered.has(f))).toEqual([]);
  });

  it('the text-encoder part is the same whatever the UNet computes in', () => {
    expect(runtimeFiles(m, 'text-encoder', 'float16')).toEqual(runtimeFiles(m, 'text-encoder'));
  });

  it('unetGraphSet names each set, and refuses float16 on a package without it', () => {
    expect(unetGraphSet(m, 'float16')).toEqual(m.unet.float16_compute);
    expect(unetGraphSet(m, 'float32')).toEqual({ onnx_whole: m.unet.onnx_whole, segment_plan: m.unet.segment_plan });
    const plain: ModelManifest = { ...m, unet: { ...m.unet, float16_compute: undefined } };
    expect(() => runtimeFiles(plain, 'compute', 'float16')).toThrow(ManifestError);
    expect(() => runtimeFiles(plain, 'compute', 'float16')).toThrow(/--precision fp16/);
    // Without the set, the float32 compute part keeps every graph the package lists (nothing to leave out).
    expect(runtimeFiles(plain, 'compute').length).toBe(runtimeFiles(m, 'compute').length + m.unet.segments + 2);
  });
});
