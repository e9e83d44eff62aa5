import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { partitionFrames } from '../../engine/partition.js';
import { parseManifest } from '../../model/manifest.js';
import { largestClip } from '../../model/memory-plan.js';
import { WASM_LIMITS } from '../../model/memory-plan-limits.js';
import { validateSegmentPlan, type SegmentPlan } from '../../model/segment-plan.js';
import type { AdapterReport } from '../protocol.js';
import { memoryLimits } from '../services/adapter-probe.js';
import { clipText, memberClip, memberMemory, packageMemory } from './job-members-memory.js';
import { partitionWeights, readyAndLeftOut, stillPreparing, type JobMember } from './job-members.js';

const pkg = path.resolve(import.meta.dirname, '../../../public/models/vi-shapes-tiny');
const manifest = parseManifest(JSON.parse(readFileSync(path.join(pkg, 'manifest.json'), 'utf8')));
const plan = validateSegmentPlan(JSON.parse(readFileSync(path.join(pkg, manifest.unet.segment_plan), 'utf8')) as SegmentPlan);
const pm = packageMemory(manifest, plan);

const gpu = (maxStorageBufferBindingSize: number): AdapterReport => ({
  backend: 'webgpu', description: 'test GPU', shaderF16: false, limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize },
});
const speed = (framesPerSecond: number) => ({ graph: 'segmented' as const, frames: 8, unetMs: 8000 / framesPerSecond, framesPerSecond });

describe("members' memory", () => {
  it('reads the package: weights from the manifest, window, top-k and smallest clip from its defaults', () => {
    expect(pm.model.weightBytes).toBe(manifest.files['onnx/unet_weights_000.bin']!.bytes);
    expect(pm).toMatchObject({ minFrames: 4, window: 4, topK: 8 });
  });

  it("a member's largest clip is the plan's under its probed limits; no WebGPU means the wasm32 heap", () => {
    expect(memoryLimits({ backend: 'wasm', reason: 'none' })).toBe(WASM_LIMITS);
    const onGpu = memberClip(pm, gpu(2 ** 30));
    expect(onGpu).toEqual(largestClip(plan, pm.model, { ...memoryLimits(gpu(2 ** 30)) }, { minFrames: 4, window: 4, topK: 8 }));
    expect(onGpu.fits && onGpu.maxFrames).toBe(504); // SwiftShader's 1 GiB binding (plan-check's figure)
    const wasm = memberClip(pm, { backend: 'wasm' });
    expect(wasm.fits && wasm.maxFrames).toBe(701);
    expect(clipText(wasm)).toMatchObject({ text: '≤ 701 frames' });
  });

  it('a member whose adapter cannot hold the smallest clip says why in one line and is left out', () => {
    const tiny = gpu(2 ** 16);
    const fit = memberClip(pm, tiny);
    expect(fit.fits).toBe(false);
    expect(clipText(fit).text).toBe('cannot run: maxStorageBufferBindingSize (needs 1.0 MiB)');
    const facts = memberMemory(pm, tiny);
    expect(facts.cannotHold).toMatch(/^cannot run the smallest clip \(4 frames\): segment \d+'s .* take 1\.0 MiB, over maxStorageBufferBindingSize 0\.1 MiB \(test GPU\)$/);
    const a: JobMember = { peerId: 'a', name: 'a', engine: { phase: 'loading' }, ...facts };
    const b: JobMember = { peerId: 'b', name: 'b', engine: { phase: 'ready', provider: 'webgpu', speed: speed(10) }, ...memberMemory(pm, gpu(2 ** 30)) };
    expect(stillPreparing([a, b])).toEqual([]); // Start does not wait for a member that cannot run
    const { ready, leftOut } = readyAndLeftOut([a, b]);
    expect(ready.map((m) => m.name)).toEqual(['b']);
    expect(leftOut).toEqual([`a: ${facts.cannotHold}`]);
  });

  it('the partition caps each member at its largest clip, by speed otherwise', () => {
    const fast: JobMember = { peerId: 'f', name: 'fast', engine: { phase: 'ready', provider: 'webgpu', speed: speed(30) }, maxClipFrames: 40 };
    const slow: JobMember = { peerId: 's', name: 'slow', engine: { phase: 'ready', provider: 'wasm', speed: speed(10) } };
    const w = partitionWeights('auto', [fast, slow]);
    expect(w).toEqual({ by: 'speed', weights: [30, 10], capacities: [40, Infinity] });
    expect(partitionFrames(100, w.weights, 4, w.capacities).ranges.map((r) => r.end - r.start)).toEqual([40, 60]);
    // Without a binding capacity, the speed split: 75 / 25.
    expect(partitionFrames(100, w.weights, 4).ranges.map((r) => r.end - r.start)).toEqual([75, 25]);
    expect(partitionWeights('even', [slow, slow])).toEqual({ by: 'even', weights: 2 }); // no member has a cap: none passed
  });
});
