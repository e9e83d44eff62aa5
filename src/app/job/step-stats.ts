/**
 * One attempt's step statistics: every rank's report of each step, with the checkpoint bytes the
 * rank sent the host for it. A step's row is complete once every rank reported it; the stats are
 * then the mean per rank (wall time: the slowest rank), and the ETA the mean wall time per step
 * times the steps left. Also each rank's speed as the job measured it, for the next partition.
 */
import type { SpeedReport } from '../protocol.js';
import { jobSpeed } from './job-members.js';
import type { StepStat } from './render-view.js';

/** What one rank reports of one step (the engine's StepProgress, or a worker's step message). */
export interface StepReport {
  readonly stepMs: number;
  readonly computeMs: number;
  readonly networkWaitMs: number;
  readonly bytesSent: number;
  /** This step's checkpoint bytes sent to the host (the host's own rank sends none). */
  readonly checkpointBytes?: number;
}

export class StepStats {
  private readonly perStep = new Map<number, Map<number, StepReport>>();
  private stats: StepStat[] = [];

  constructor(
    private readonly rankCount: number,
    private readonly steps: number,
  ) {}

  /** Records one rank's report; returns the stats and ETA when it completed its step's row, else null. */
  record(step: number, rank: number, r: StepReport): { stepStats: readonly StepStat[]; etaMs: number } | null {
    const row = this.perStep.get(step) ?? new Map<number, StepReport>();
    row.set(rank, r);
    this.perStep.set(step, row);
    if (row.size < this.rankCount) return null;
    const list = [...row.values()];
    const mean = (f: (x: StepReport) => number) => list.reduce((a, x) => a + f(x), 0) / list.length;
    const stat: StepStat = {
      step, wallMs: Math.max(...list.map((x) => x.stepMs)), computeMs: mean((x) => x.computeMs), networkWaitMs: mean((x) => x.networkWaitMs),
      bytesSentPerTab: mean((x) => x.bytesSent), checkpointBytesPerTab: mean((x) => x.checkpointBytes ?? 0),
    };
    this.stats = [...this.stats.filter((x) => x.step !== step), stat].sort((a, b) => a.step - b.step);
    const meanWall = this.stats.reduce((a, x) => a + x.wallMs, 0) / this.stats.length;
    const stepsLeft = this.steps - 1 - this.stats[this.stats.length - 1]!.step; // a resumed job's stats start at its step
    return { stepStats: this.stats, etaMs: Math.max(0, stepsLeft) * meanWall };
  }

  /** Rank `rank`'s speed over `frames` frames: its median compute time per step (job-members.ts jobSpeed). */
  speedOf(rank: number, frames: number): SpeedReport | undefined {
    return jobSpeed(frames, [...this.perStep.values()].flatMap((row) => row.get(rank)?.computeMs ?? []));
  }
}
