/**
 * The browser's backend in Node: the same engine on onnxruntime-web (WASM), injected into the
 * SessionRunner with the browser's provider list ['webgpu', 'wasm']. Node has no WebGPU, so the
 * runner must record that failure and fall back to WASM; two in-process ranks on it must give the
 * one-rank onnxruntime-node result.
 */
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { createInProcessCollectives } from '../net/in-process-collective.js';
import { denoise } from './denoise.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { loadEngineModel } from './engine-model.js';
import type { JobParams } from './job-state.js';
import { SessionRunner, type OrtModule } from './session-runner.js';
import { fileReader, openTinyEngine, tinyPackageDir } from './testing/tiny-engine.js';

describe('onnxruntime-web (WASM) in Node', () => {
  it("falls back from webgpu to wasm, and 2 ranks on it equal 1 rank on onnxruntime-node (1e-4)", async () => {
    ortWeb.env.wasm.numThreads = 1;
    const runner = new SessionRunner(ortWeb as unknown as OrtModule, { executionProviders: ['webgpu', 'wasm'] });
    const web = await loadEngineModel(runner, fileReader(tinyPackageDir()), { graphs: ['segmented'] });
    expect(runner.provider).toBe('wasm');
    expect(runner.failedAttempts.map((a) => a.provider)).toEqual(['webgpu']);
    expect(web.segments).not.toBeNull();

    const job: JobParams = {
      jobId: 2, totalFrames: 8, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }, { fromFrame: 4, prompt: 'a blue square' }] },
      seed: 11, steps: 2, guidanceScale: 1, sampler: { kind: 'ddim', eta: 0 }, dualScope: EMBEDDED_DUAL_SCOPE, fps: 8, partition: null,
    };
    const node = await denoise(await openTinyEngine(ortNode as unknown as OrtModule, ['segmented']), job, null);
    const cols = createInProcessCollectives(2);
    const ranks = await Promise.all(cols.map((c) => denoise(web, job, c)));
    let m = 0;
    for (const r of ranks) for (let i = 0; i < r.latents.length; i++) m = Math.max(m, Math.abs(r.latents[i]! - node.latents[r.range.start * 3072 + i]!));
    expect(m).toBeLessThanOrEqual(1e-4);
  });
});
