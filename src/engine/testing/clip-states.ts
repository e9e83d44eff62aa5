/**
 * Checkpoints without a model, for tests of what carries them (wire form, the host's store): a real
 * scheduler run `steps` steps on deterministic values, its state as denoise would checkpoint it.
 */
import type { ClipState, JobParams } from '../job-state.js';
import { createScheduler } from '../schedulers/create-scheduler.js';

export function syntheticClipState(job: JobParams, start: number, end: number, steps: number, perFrame: number): ClipState {
  const n = (end - start) * perFrame;
  const values = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + start * 0.3 + k));
  const s = createScheduler(job.sampler);
  s.setTimesteps(job.steps);
  let latents: Float32Array = values(0);
  for (let i = 0; i < steps; i++) latents = s.step(values(i + 1), s.timesteps[i]!, latents, values(-i)).prevSample;
  return { format: 'vi-clip-state', version: 1, job, range: { start, end }, nextStep: steps, latents, scheduler: s.getState() };
}
