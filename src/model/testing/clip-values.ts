// One clip's share of whole-video UNet inputs, in the form the engine's per-call values take
// (src/engine/unet-call-inputs.ts `CallValues`), so tests of src/model can drive the real engine
// executors on fixture or random tensors. Plain data: this file imports nothing from src/engine.
import { type HostTensor, concatAxis, sliceAxis } from './host-tensor.js';

export interface ClipCallValues {
  /** [B, C, F, H, W] for frames [start, end). */
  sample: Float32Array;
  timestep: number;
  fps: number;
  /** [B·F, L, D], row b·F + f. */
  encoderHiddenStates: Float32Array;
}

/** `sample` [B, C, N, H, W] and `ehs` [B·N, L, D] are whole-video; the result covers frames [start, end). */
export function clipCallValues(sample: HostTensor, ehs: HostTensor, range: { start: number; end: number }, timestep: number, fps: number): ClipCallValues {
  const [B, , N] = sample.dims;
  const rows: HostTensor[] = [];
  for (let b = 0; b < B; b++) rows.push(sliceAxis(ehs, 0, b * N + range.start, b * N + range.end));
  return {
    sample: sliceAxis(sample, 2, range.start, range.end).data as Float32Array,
    timestep,
    fps,
    encoderHiddenStates: concatAxis(rows, 0).data as Float32Array,
  };
}
