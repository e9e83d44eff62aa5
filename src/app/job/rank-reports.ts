/**
 * What the host checks in a member's reports of a render before it uses them, beyond their shape
 * (src/net/control.ts) and the sender's rank (src/app/services/job-scope.ts): a member could
 * otherwise report steps the job does not have (skewing the stats and the ETA, and growing the
 * host's per-step tables without bound) or negative times, a preview whose pixels do not match its size, or a clip
 * of frames that belong to another rank. Each check answers why the report is refused, or
 * undefined when it is fine.
 */
import type { FrameRange } from '../../engine/partition.js';
import type { StepMessage } from '../protocol.js';
import { fromBase64, rgbToRgbaFrames } from './render-spec.js';

/** A step report must name a step of this job and the job's step count, and no negative time (the stats and the ETA average them). */
export function stepReportProblem(m: Pick<StepMessage, 'step' | 'steps' | 'stepMs' | 'computeMs' | 'networkWaitMs'>, steps: number): string | undefined {
  if (m.steps !== steps) return `it says the job has ${m.steps} steps, it has ${steps}`;
  if (m.step >= steps) return `step ${m.step} is not a step of a ${steps}-step job`;
  if (m.stepMs < 0 || m.computeMs < 0 || m.networkWaitMs < 0) return 'it reports a negative time';
  return undefined;
}

/** A checkpoint is the state after one of the job's steps: nextStep in [1, steps]. */
export function checkpointStepProblem(nextStep: number, steps: number): string | undefined {
  return nextStep >= 1 && nextStep <= steps ? undefined : `a checkpoint before step ${nextStep} is not one of a ${steps}-step job`;
}

/** A rank's clip must be exactly its own frames. */
export function clipRangeProblem(clip: { readonly firstFrameIndex: number; readonly frameCount: number }, range: FrameRange): string | undefined {
  const end = clip.firstFrameIndex + clip.frameCount;
  if (clip.firstFrameIndex === range.start && end === range.end) return undefined;
  return `it covers frames [${clip.firstFrameIndex}, ${end}), the rank's are [${range.start}, ${range.end})`;
}

export interface PreviewFrame {
  readonly globalFrame: number;
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8ClampedArray;
}

/** A step's preview as one RGBA frame; undefined when its bytes are not width×height RGB pixels (or not base64). */
export function previewFrame(p: NonNullable<StepMessage['preview']>): PreviewFrame | undefined {
  let rgb: Uint8Array;
  try {
    rgb = fromBase64(p.rgbBase64);
  } catch {
    return undefined;
  }
  if (p.width * p.height === 0 || rgb.length !== p.width * p.height * 3) return undefined;
  return { globalFrame: p.globalFrame, width: p.width, height: p.height, rgba: rgbToRgbaFrames(rgb, 1, p.width, p.height)[0]! };
}
