/**
 * How fast this tab runs the UNet: one warm-up call (kernels, shaders, allocations; left out) on
 * the shortest clip the graph allows, then one timed call on a clip of `frames` frames at the
 * model's resolution, through the same `denoise` loop a render uses (one step, no network:
 * collective null, world size 1). The host weights the partition by the result, so it must time
 * the graph a render will run.
 *
 * The timed figure is the UNet call alone (session runs and readbacks, `StepProgress.computeMs`):
 * the scheduler and decoding are the same small cost on every rank.
 *
 * Why the warm-up is short: every tab runs this as soon as it joins, and on a slow backend each
 * UNet call costs tens of seconds (WebGPU on SwiftShader, the software adapter of GPU-less
 * machines, as in e2e/job-render-webgpu.spec.ts). The warm-up only has to run every kernel once,
 * which a short clip does: the graphs and the rank of every tensor do not depend on the clip
 * length, so the same kernels (WebGPU pipelines) serve any length. Measured on WebGPU/SwiftShader
 * (Chromium 156, 2 tabs at once on 2 shared cores, tiny package): the first 4-frame call took
 * 48-49 s and a second one 35 s (~13 s of compiling in the first); an 8-frame call after them took
 * 49-52 s, no slower than a repeated 8-frame call (52 s): nothing was compiled again. The warm-up
 * on 4 frames took 47-51 s there against 61-63 s on 8 (milliseconds either way on WASM). The timed
 * call keeps the caller's clip, long enough that a call's fixed costs do not dominate the figure.
 * Imports engine code only.
 */
import { denoise, type StepProgress } from '../denoise.js';
import type { EngineModel } from '../engine-model.js';
import { EngineError } from '../errors.js';
import type { JobParams } from '../job-state.js';

export interface SpeedMeasurement {
  /** The graph that was timed: the segmented graph when loaded (what mesh ranks run), else whole. */
  readonly graph: 'segmented' | 'whole';
  /** Clip length of the timed call. */
  readonly frames: number;
  /** Wall time of the timed UNet call (ms). */
  readonly unetMs: number;
  /** Wall time of the warm-up call (ms), on a short clip (min(frames, the model's halo)). */
  readonly warmUpMs: number;
  /** frames / (unetMs / 1000): frames of one UNet call (CFG batch of 2) per second. */
  readonly framesPerSecond: number;
}

/** The synthetic one-step job of the benchmark: empty prompt, fixed seed, model's dual-scope defaults. */
function benchmarkJob(model: EngineModel, frames: number): JobParams {
  const d = model.manifest.defaults;
  return {
    jobId: 0,
    totalFrames: frames,
    promptSchedule: { entries: [{ fromFrame: 0, prompt: '' }] },
    seed: 0,
    steps: 1,
    guidanceScale: 1,
    sampler: { kind: 'ddim', eta: 0 },
    dualScope: { window: d.local_window_p, topK: d.global_top_k, phaseTimestep: d.phase_t, phaseBias: d.phase_bias },
    fps: model.manifest.frame_rate,
    partition: null,
  };
}

/** Warm-up (short clip), then one timed UNet call on `frames` frames; see the file comment. */
export async function measureUnetSpeed(model: EngineModel, frames: number, signal?: AbortSignal): Promise<SpeedMeasurement> {
  const graph = model.segments ? 'segmented' : 'whole';
  // The segmented graphs send tconvHalo frames from each end, so the clip is at least that long.
  const minFrames = graph === 'segmented' ? Math.max(model.plan.tconvHalo, 1) : 1;
  if (!Number.isInteger(frames) || frames < minFrames || frames > 4096) {
    throw new EngineError('invalid-argument', `measureUnetSpeed: frames must be an integer in [${minFrames}, 4096] for the ${graph} graph, got ${frames}`);
  }
  // The warm-up alone (stopAfterStep 0: no step) on a short clip (the halo: the segmented graph's
  // shortest), then the timed step on `frames`.
  const warmUpFrames = Math.min(frames, Math.max(model.plan.tconvHalo, 1));
  // The call's time does not depend on the prompt's embedding, so a zero one stands in (a rank has no text encoder).
  const { max_length: L, hidden_size: D } = model.manifest.text_encoder;
  const promptEmbeddings = { length: L, width: D, byPrompt: new Map([['', new Float32Array(L * D)]]) };
  const warm0 = model.runner.timings().warmUpMs;
  await denoise(model, benchmarkJob(model, warmUpFrames), null, { graph, warmUp: true, stopAfterStep: 0, signal, promptEmbeddings });
  let step: StepProgress | null = null;
  await denoise(model, benchmarkJob(model, frames), null, { graph, previewMaxFrames: 1, signal, promptEmbeddings, onProgress: (p) => (step = p) });
  const timed = step as StepProgress | null;
  if (!timed) throw new EngineError('invalid-argument', 'measureUnetSpeed: the timed call reported no progress');
  const unetMs = Math.max(timed.computeMs, 1e-3);
  return { graph, frames, unetMs, warmUpMs: model.runner.timings().warmUpMs - warm0, framesPerSecond: frames / (unetMs / 1000) };
}
