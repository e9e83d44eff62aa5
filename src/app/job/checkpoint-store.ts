/**
 * The host's copy of a mesh render's progress (DESIGN §5): every rank's latest checkpoints, as they
 * arrive after each step (workers' in control-channel pieces, the host's own from its engine). When
 * a member is lost, the job resumes from the latest step that every rank finished, re-cut for the
 * members left, instead of from step 0; the video is the same (job-state.ts).
 * Framework-free logic; the bytes are the engine's clip-state wire form, checked on arrival.
 */
import { decodeClipState, encodeClipState, MAX_HEADER_BYTES, recutStates, type ClipState, type JobParams } from '../../engine/job-state.js';
import type { FrameRange } from '../../engine/partition.js';
import { CLIP_CHUNK_BASE64_CHARS } from '../../net/control.js';
import { ChunkedBytes } from './chunked-bytes.js';

/** Complete checkpoints kept per rank: the latest may be one step ahead of a rank that was lost mid-step. */
const KEEP_STEPS = 2;

export class CheckpointStore {
  /** rank → nextStep → state */
  private readonly states: Map<number, ClipState>[];
  /** rank → nextStep → pieces still arriving */
  private readonly arriving: Map<number, ChunkedBytes>[];

  constructor(
    private readonly job: JobParams,
    private readonly ranges: readonly FrameRange[],
    private readonly perFrame: number,
  ) {
    this.states = ranges.map(() => new Map());
    this.arriving = ranges.map(() => new Map());
  }

  /**
   * One piece of rank `rank`'s checkpoint; throws (naming the problem) when it is malformed or not
   * that rank's. A rank sends its checkpoints one after another, so the host holds at most
   * KEEP_STEPS of them arriving (a newer one evicts the oldest), each of at most the pieces such a
   * state can fill: a member cannot make the host keep an unbounded pile of pieces that never complete.
   */
  addChunk(rank: number, nextStep: number, index: number, count: number, base64: string): void {
    const pending = this.arriving[rank];
    if (!pending) throw new Error(`checkpoint from rank ${rank}: the job has ${this.ranges.length} ranks`);
    const most = this.maxPieces(this.ranges[rank]!);
    if (count > most) throw new Error(`checkpoint from rank ${rank}: ${count} pieces, a state of its frames fills at most ${most}`);
    if (!pending.has(nextStep) && pending.size >= KEEP_STEPS) pending.delete(Math.min(...pending.keys()));
    const blob = pending.get(nextStep) ?? new ChunkedBytes(count);
    pending.set(nextStep, blob);
    if (!blob.add(index, count, base64)) return;
    pending.delete(nextStep);
    this.add(rank, nextStep, blob.bytes());
  }

  /** A rank's whole checkpoint (the host's own rank: straight from its engine). */
  add(rank: number, nextStep: number, bytes: Uint8Array): void {
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

  /** Pieces of the largest state of `range`: its latents and the solver's last output, plus the header. */
  private maxPieces(range: FrameRange): number {
    const bytes = 8 + MAX_HEADER_BYTES + 2 * (range.end - range.start) * this.perFrame * 4;
    return Math.ceil((4 * Math.ceil(bytes / 3)) / CLIP_CHUNK_BASE64_CHARS);
  }

  private keep(rank: number, state: ClipState): void {
    const mine = this.states[rank]!;
    mine.set(state.nextStep, state);
    for (const s of [...mine.keys()].sort((a, b) => b - a).slice(KEEP_STEPS)) mine.delete(s);
    for (const s of this.arriving[rank]!.keys()) if (s <= state.nextStep) this.arriving[rank]!.delete(s); // a lost piece never completes
  }
}
