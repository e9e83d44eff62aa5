/**
 * What the dashboard shows of a host render job: its phase, every rank's frames and progress, the
 * step statistics and the finished video. Replaced as a whole on every change, never mutated, so
 * a view can compare by identity.
 */

export type RenderPhase = 'idle' | 'preparing' | 'running' | 'muxing' | 'done' | 'failed' | 'cancelled';

export interface RankView {
  readonly rank: number;
  readonly name: string;
  readonly range: { readonly start: number; readonly end: number };
  readonly provider?: string;
  readonly fallbackReason?: string;
  /** Measured UNet speed (frames/s) the partition was weighted by, when it was. */
  readonly framesPerSecond?: number;
  readonly stepsDone: number;
  readonly lastStepMs?: number;
  readonly preview?: { readonly globalFrame: number; readonly width: number; readonly height: number; readonly rgba: Uint8ClampedArray };
  readonly clipReceived: boolean;
}

/** One denoising step over all ranks: mean per rank. */
export interface StepStat {
  readonly step: number;
  readonly wallMs: number;
  readonly computeMs: number;
  readonly networkWaitMs: number;
  readonly bytesSentPerTab: number;
  /** Checkpoint bytes a tab sent the host for this step (its bulk link; the host's own rank sends none). */
  readonly checkpointBytesPerTab: number;
}

export interface RenderVideo {
  readonly url: string;
  readonly fileName: string;
  readonly mimeType: string;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
  readonly codecString: string;
}

export interface RenderJobState {
  readonly phase: RenderPhase;
  readonly mode?: 'mesh' | 'alone';
  readonly renderJobId?: number;
  readonly totalFrames?: number;
  readonly steps?: number;
  readonly ranks: readonly RankView[];
  /** While Start waits: the members still loading the model or measuring, in words. */
  readonly waitingFor?: readonly string[];
  /** Members left out because their model failed to load, with the reason. */
  readonly leftOut?: readonly string[];
  /** How the frames were shared. */
  readonly partitionBy?: 'speed' | 'even';
  readonly stepStats: readonly StepStat[];
  readonly startedAtMs?: number;
  readonly etaMs?: number;
  readonly elapsedMs?: number;
  readonly video?: RenderVideo;
  readonly error?: string;
  /** Members lost mid-job, each a restart on the others: "w1 (connection closed) lost at step 3/10; resumed after step 3 on 2 members". */
  readonly restarts?: readonly string[];
  /** The last step whose whole-video state is saved in this browser (a reloaded host tab can resume from it). */
  readonly savedStep?: number;
  /** Checkpoints refused (malformed, or not the sender's): the job goes on, but cannot resume from them. */
  readonly checkpointProblems?: readonly string[];
  /** After a failure that may mean a lost member: waiting for the control links to say who (CONTROL_SILENCE_MS). */
  readonly awaitingLoss?: string;
}
