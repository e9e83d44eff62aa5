/**
 * The host's copy of a mesh render's progress, so that a job survives losing a tab: every rank's
 * latest checkpoints, as they arrive after each step (workers' on their bulk links, the host's
 * own from its engine). When a member is lost, the job resumes from the latest step that
 * every rank finished, re-cut for the members left, instead of from step 0; the video is the same
 * (job-state.ts). Framework-free logic; the bytes are the engine's clip-state wire form, checked on
 * arrival.
 */
import { decodeClipState, encodeClipState, recutStates, type ClipState, type JobParams } from '../../engine/job-state.js';
import type { FrameRange } from '../../engine/partition.js';

/** Complete checkpoints kept per rank: the latest may be one step ahead of a rank that was lost mid-step. */
const KEEP_STEPS = 2;

export class CheckpointStore {
  /** rank → nextStep → state */
  private readonly states: Map<number, ClipState>[];

  constructor(
    private readonly job: JobParams,
    private readonly ranges: readonly FrameRange[],
    private readonly perFrame: number,
  ) {
    this.states = ranges.map(() => new Map());
  }

  /** Rank `rank`'s checkpoint after `nextStep` steps; throws (naming the problem) when it is malformed or not that rank's. */
  add(rank: number, nextStep: number, bytes: Uint8Array): void {
    if (!this.ranges[rank]) throw new Error(`checkpoint from rank ${rank}: the job has ${this.ranges.length} ranks`);
    const state = decodeClipState(bytes, this.job, this.perFrame);
    const range = this.ranges[rank];
    if (!range || state.range.start !== range.start || state.range.end !== range.end || state.nextStep !== nextStep) {
      throw new Error(`checkpoint from rank ${rank}: frames [${state.range.start}, ${state.range.end}) at step ${state.nextStep}, expected [${range?.start}, ${range?.end}) at step ${nextStep}`);
    }
    this.keep(rank, state);
  }

  /** The latest step after which every rank's checkpoint is here (null: none yet). */
  latestCommonStep(): number | null {
    const common = [...this.states[0]!.keys()].filter((s) => this.states.every((m) => m.has(s)));
    return common.length ? Math.max(...common) : null;
  }

  /** The states after `step`, re-cut for `ranges` (the new partition), in wire form. */
  recut(step: number, ranges: readonly FrameRange[]): Uint8Array[] {
    const states = this.states.map((m, rank) => {
      const s = m.get(step);
      if (!s) throw new Error(`no checkpoint of rank ${rank} after step ${step}`);
      return s;
    });
    return recutStates(states, ranges, this.perFrame).map(encodeClipState);
  }

  private keep(rank: number, state: ClipState): void {
    const mine = this.states[rank]!;
    mine.set(state.nextStep, state);
    for (const s of [...mine.keys()].sort((a, b) => b - a).slice(KEEP_STEPS)) mine.delete(s);
  }
}
