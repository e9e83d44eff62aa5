/**
 * The denoising loop of one rank, in numbered sections like diffusers' text-to-video `__call__` so
 * that no step hides behind a callback: read top to bottom, it is the whole algorithm for this
 * rank's clip (the reference semantics and clip parallelism of docs/design.md).
 *
 *   0. validate            4. timesteps
 *   1. partition → clip    5. initial latents (counter RNG, by global frame)
 *   2. exchange + layout   6. denoising steps (CFG batch, UNet call, guidance, scheduler step)
 *   3. encode prompts      7. decode
 *
 * Layouts: latents and scheduler arrays are frame-major [F, C, H, W] (manifest `latent`), so a
 * clip's state is a contiguous slice of the video's; the UNet sees [2, C, F, H, W] (CFG batch,
 * diffusers UNet3D order). `graph: 'whole'` runs plan.whole on one rank rendering the whole video.
 * With `job.cfgSplit` a pair of ranks shares a clip, one guidance branch each (batch-1 graphs),
 * and swaps noise predictions before guidance (guidance-split.ts).
 *
 * Imports engine blocks only; the network arrives as a `Collective`, ONNX Runtime through the
 * model's `SessionRunner`. Must not import src/net, src/app, peerjs or lit.
 */

import { ClipExchange } from './clip-exchange.js';
import type { Collective } from './collective.js';
import { previewFrameIndices, type RgbFrames } from './decode.js';
import type { EngineModel } from './engine-model.js';
import { check, EngineError } from './errors.js';
import { parseJobParams } from './job-params.js';
import { cfgBatch, cfgEncoderHiddenStates, combineGuidance } from './guidance.js';
import { BranchCollective, splitPlace, swapNoisePredictions } from './guidance-split.js';
import { checkClipState, type ClipState, type JobParams } from './job-state.js';
import { partitionFrames, shortestClip, validatePartition, type FrameRange } from './partition.js';
import { checkCoversSchedule, type PromptEmbeddings, type PromptEncoder } from './prompt-embeddings.js';
import { PromptEmbeddingCache, UNCOND_PROMPT } from './prompt-schedule.js';
import { initialLatent, samplerNoise } from './rng.js';
import { createScheduler } from './schedulers/create-scheduler.js';
import type { UNetCallResult } from './segment-executor.js';
import { clipLayout, isolatedLayout, segmentedCallInputs, wholeCallInputs } from './unet-call-inputs.js';

export interface StepProgress {
  readonly rank: number;
  /** Index of the step just finished (0-based) and the total. */
  readonly step: number;
  readonly steps: number;
  readonly timestep: number;
  /** Wall time of the step on this rank (ms). */
  readonly stepMs: number;
  /** Time in session runs and readbacks (ms; with ranks sharing one runner, includes queueing behind them). */
  readonly computeMs: number;
  /** Wall time the loop was blocked in exchanges (ms): waiting for peers' data plus assembling it. */
  readonly networkWaitMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** x0 prediction of a few frames of the clip, decoded to RGB. */
  readonly preview: { readonly globalFrames: readonly number[]; readonly rgb: RgbFrames };
}

export interface DenoiseOptions {
  /** 'segmented' (default): the clip through the segment plan with exchanges; 'whole': plan.whole, one rank, whole video. */
  readonly graph?: 'segmented' | 'whole';
  /** The job's prompts, encoded by the host (prompt-embeddings.ts); required when the model has no text encoder. */
  readonly promptEmbeddings?: PromptEmbeddings;
  /** Resume from a checkpoint of this rank's clip (job-state.ts). */
  readonly resume?: ClipState;
  /** Stop after this many steps in total (the returned state can be resumed); default all. */
  readonly stopAfterStep?: number;
  readonly previewMaxFrames?: number;
  /**
   * Run one UNet call before the loop to compile kernels/shaders, left out of the timings. It runs
   * in isolated mode (no network), so ranks warm up independently; its result is discarded.
   */
  readonly warmUp?: boolean;
  /** Decode the finished clip (default true); a guidance split's cond rank leaves it to its partner. */
  readonly decode?: boolean;
  readonly onProgress?: (progress: StepProgress) => void;
  /** The checkpoint after every step (serialisable; keep the latest). */
  readonly onCheckpoint?: (state: ClipState) => void;
  readonly signal?: AbortSignal;
}

export interface ClipResult {
  readonly rank: number;
  readonly range: FrameRange;
  /** Final latents of the clip, frame-major [F, C, H, W] (or the state's, if stopped early). */
  readonly latents: Float32Array;
  /** Decoded RGB frames of the clip (null if stopped early, or asked not to decode). */
  readonly frames: RgbFrames | null;
  /** Checkpoint at the end (nextStep = steps when done). */
  readonly state: ClipState;
}

export async function denoise(model: EngineModel, job: JobParams, collective: Collective | null, options: DenoiseOptions = {}): Promise<ClipResult> {
  const graph = options.graph ?? 'segmented';
  const rank = collective?.rank ?? 0;
  const worldSize = collective?.worldSize ?? 1;
  const mode = job.exchangeMode ?? 'exact';
  // A guidance split gives each pair of ranks one clip; each branch's ranks are a room of their own.
  const split = job.cfgSplit === true ? splitPlace(rank, worldSize) : null;
  const clipCollective = split && collective ? new BranchCollective(collective, split.branch) : collective;
  const clipCount = split ? worldSize / 2 : worldSize;
  const { channels: C, height: H, width: W } = model.geometry;
  const perFrame = C * H * W;

  // 0. Validate the job (names the argument, its value and the rule).
  parseJobParams(job, 'denoise');
  check(graph === 'segmented' || graph === 'whole', EngineError, 'denoise', 'options.graph', graph, "'segmented' or 'whole'");
  if (graph === 'whole') {
    check(worldSize === 1, EngineError, 'denoise', 'worldSize', worldSize, "1 with graph 'whole' (one rank renders the whole video)");
    check(model.whole !== null, EngineError, 'denoise', 'model.whole', null, "loaded (loadEngineModel graphs: ['whole'])");
  } else {
    check(model.segments !== null, EngineError, 'denoise', 'model.segments', null, "loaded (loadEngineModel graphs: ['segmented'])");
  }
  check(!split || graph === 'segmented', EngineError, 'denoise', 'options.graph', graph, "'segmented' with job.cfgSplit (the branches are on two ranks)");
  const batch = split ? 1 : 2;
  check(model.plan.batch === batch, EngineError, 'denoise', 'model.plan.batch', model.plan.batch, `${batch} (${split ? 'a guidance split runs one branch per rank: load the batch-1 graphs' : 'the [uncond, cond] batch'})`);

  // 1. Partition → my clip [start, end) of global frames.
  const minClip = shortestClip(job.dualScope.window, model.plan.tconvHalo);
  const partition = job.partition ?? partitionFrames(job.totalFrames, clipCount, minClip);
  validatePartition(partition, job.totalFrames, minClip);
  check(partition.ranges.length === clipCount, EngineError, 'denoise', 'job.partition.ranges.length', partition.ranges.length, split ? `half the world size (${clipCount}: one clip per pair of ranks)` : `the world size (${worldSize})`);
  const range = partition.ranges[split?.clip ?? rank]!;
  const F = range.end - range.start;
  if (graph === 'segmented') {
    // The compiled halo send takes tconvHalo frames from each end of the clip, so even one rank needs that many.
    check(F >= model.plan.tconvHalo, EngineError, 'denoise', `clip [${range.start}, ${range.end}) length`, F, `at least the temporal conv halo (${model.plan.tconvHalo}) for the segmented graphs; render shorter videos with graph 'whole'`);
  }
  const globalFrames = Array.from({ length: F }, (_, i) => range.start + i);

  // 2. Exchanges and the clip layout they imply ('isolated': the clip as its own video, nothing sent).
  const fullLayout = clipLayout(range, job.totalFrames, job.dualScope, model.plan.tconvHalo);

  // 3. Prompt embeddings: the host's (one encoder call per distinct prompt, for the whole room), else
  //    encoded here; uncond = "". ehs [2·F, L, D], row b·F + f; a split rank keeps its branch's half.
  const embeddings = new PromptEmbeddingCache(promptSource(model, job, options.promptEmbeddings));
  const uncond = await embeddings.get(UNCOND_PROMPT);
  const bothBranches = cfgEncoderHiddenStates(uncond, await embeddings.forRange(job.promptSchedule, range));
  const half = bothBranches.length / 2;
  const encoderHiddenStates = split ? bothBranches.slice(split.branch * half, (split.branch + 1) * half) : bothBranches;
  // The UNet's sample: the latents twice ([uncond, cond]), or once on a split rank.
  const unetSample = (x: Float32Array): Float32Array => (split ? x : cfgBatch(x));

  // 4. Timesteps (the scheduler comes back from the checkpoint when resuming).
  const resume = options.resume;
  if (resume) checkClipState(resume, job, range, perFrame);
  // The job picks the sampler; a checkpoint only brings its position (loadState refuses another sampler's).
  const scheduler = createScheduler(job.sampler);
  if (resume) scheduler.loadState(resume.scheduler);
  else scheduler.setTimesteps(job.steps);
  const timesteps = scheduler.timesteps;
  // The exchanger of the job's mode (stale and sparse-global follow the steps' timesteps).
  const exchange = new ClipExchange(clipCollective, mode === 'isolated' ? isolatedLayout(fullLayout) : fullLayout, model.plan, job.jobId, mode, job.exchangeOptions, {
    timesteps: Array.from(timesteps), phaseTimestep: job.dualScope.phaseTimestep,
  });

  // 5. Initial latents x_T [F, C, H, W]: frame j's noise is keyed by (seed, initial-latent, 0, j).
  let latents: Float32Array = resume ? resume.latents.slice() : scale(initialLatent(job.seed, globalFrames, perFrame), scheduler.initNoiseSigma);
  let nextStep = resume?.nextStep ?? 0;
  const snapshot = (): ClipState => ({ format: 'vi-clip-state', version: 1, job, range, nextStep, latents: latents.slice(), scheduler: scheduler.getState() });

  // 5b. Optional warm-up: one discarded call on this clip's shapes, no network (isolated layout).
  if (options.warmUp && nextStep < job.steps) {
    const t = timesteps[nextStep]!;
    const values = { sample: unetSample(frameMajorToChannelMajor(latents, F, C, H * W)), timestep: t, fps: job.fps, encoderHiddenStates };
    if (graph === 'whole') await model.whole!.call(wholeCallInputs(model.plan, job.totalFrames, job.dualScope, values), { warmUp: true });
    else {
      const solo = new ClipExchange(null, isolatedLayout(fullLayout), model.plan, job.jobId, 'isolated');
      await model.segments!.call(segmentedCallInputs(model.plan, solo.layout, values), solo, nextStep, { warmUp: true });
    }
  }

  // 6. Denoising steps.
  const lastStep = Math.min(options.stopAfterStep ?? job.steps, job.steps);
  const previewFrames = previewFrameIndices(F, options.previewMaxFrames ?? 8);
  for (let i = nextStep; i < lastStep; i++) {
    options.signal?.throwIfAborted(); // the caller's reason (an AbortError by default), between steps
    const t = timesteps[i]!;
    const stepStart = performance.now();
    const net0 = collective?.stats();

    // 6a. CFG batch: [F, C, H, W] → [C, F, H, W] → [2, C, F, H, W] = [uncond, cond] (split: [1, C, F, H, W]).
    const sample = unetSample(frameMajorToChannelMajor(scheduler.scaleModelInput(latents, t) as Float32Array, F, C, H * W));

    // 6b. UNet call: noise_pred [2, C, F, H, W] (exchanges happen inside, at every exchange point);
    //     a split rank gets its branch's [1, C, F, H, W] and swaps it with its partner's.
    const values = { sample, timestep: t, fps: job.fps, encoderHiddenStates };
    const call: UNetCallResult =
      graph === 'whole'
        ? await model.whole!.call(wholeCallInputs(model.plan, job.totalFrames, job.dualScope, values))
        : await model.segments!.call(segmentedCallInputs(model.plan, exchange.layout, values), exchange, i);

    const swapStart = performance.now();
    const noisePred = split ? await swapNoisePredictions(collective!, split, job.jobId, i, call.noisePred) : call.noisePred;
    const swapMs = performance.now() - swapStart;

    // 6c. Guidance: ε = ε_u + s·(ε_c − ε_u), [C, F, H, W] → [F, C, H, W].
    const guided = channelMajorToFrameMajor(combineGuidance(noisePred, job.guidanceScale), F, C, H * W);

    // 6d. Scheduler step; its noise for frame j at step i is keyed by (seed, sampler-noise, i, j).
    const noise = scheduler.isStochastic ? samplerNoise(job.seed, i, globalFrames, perFrame) : undefined;
    const { prevSample, predOriginalSample } = scheduler.step(guided, t, latents, noise);
    latents = prevSample;
    nextStep = i + 1;

    // 6e. Report and checkpoint.
    const net1 = collective?.stats();
    options.onCheckpoint?.(snapshot());
    options.onProgress?.({
      rank, step: i, steps: job.steps, timestep: t,
      stepMs: performance.now() - stepStart,
      computeMs: call.computeMs,
      networkWaitMs: call.exchangeMs + swapMs,
      bytesSent: net0 && net1 ? net1.bytesSent - net0.bytesSent : 0,
      bytesReceived: net0 && net1 ? net1.bytesReceived - net0.bytesReceived : 0,
      preview: { globalFrames: previewFrames.map((f) => range.start + f), rgb: model.previewFrames(predOriginalSample, previewFrames) },
    });
  }

  // 7. Decode the clip → RGB bytes [F, H·f, W·f, 3] (pixel_shuffle, or this tab's VAE in frame batches).
  const decode = nextStep === job.steps && (options.decode ?? true);
  return { rank, range, latents, frames: decode ? await model.decodeFrames(latents) : null, state: snapshot() };
}

/** Renders the whole video on one rank with plan.whole (no segments, no exchanges). */
export function denoiseWhole(model: EngineModel, job: JobParams, options: Omit<DenoiseOptions, 'graph'> = {}): Promise<ClipResult> {
  return denoise(model, { ...job, partition: null }, null, { ...options, graph: 'whole' });
}

// ---------------------------------------------------------------- helpers

/** Where step 3's embeddings come from: the given set (checked against the job and model), else the model's encoder. */
function promptSource(model: EngineModel, job: JobParams, given: PromptEmbeddings | undefined): PromptEncoder {
  const { max_length: L, hidden_size: D } = model.manifest.text_encoder;
  if (given) {
    checkCoversSchedule(given, job.promptSchedule, L, D);
    return async (p) => given.byPrompt.get(p)!;
  }
  if (model.encodePrompt) return model.encodePrompt;
  throw new EngineError('invalid-argument', 'denoise: this model was loaded without its text encoder, so options.promptEmbeddings must hold the job\'s prompts');
}


function scale(x: Float32Array, s: number): Float32Array {
  if (s !== 1) for (let i = 0; i < x.length; i++) x[i] = x[i]! * s;
  return x;
}

/** [F, C, P] → [C, F, P] (P = H·W). */
export function frameMajorToChannelMajor(x: Float32Array, frames: number, channels: number, plane: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let f = 0; f < frames; f++)
    for (let c = 0; c < channels; c++) out.set(x.subarray((f * channels + c) * plane, (f * channels + c + 1) * plane), (c * frames + f) * plane);
  return out;
}

/** [C, F, P] → [F, C, P]. */
export function channelMajorToFrameMajor(x: Float32Array, frames: number, channels: number, plane: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let c = 0; c < channels; c++)
    for (let f = 0; f < frames; f++) out.set(x.subarray((c * frames + f) * plane, (c * frames + f + 1) * plane), (f * channels + c) * plane);
  return out;
}
