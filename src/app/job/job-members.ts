/**
 * Who computes a render and how the frames are shared: the members at Start (the host first when
 * it computes too, then the workers in join order), which of them are still getting ready, and
 * the partition weights. The partition itself is the engine's `partitionFrames` (speed weights,
 * minimum clip = the largest halo); any partition gives the same video.
 */
import type { SpeedReport } from '../protocol.js';
import type { MemberEngine } from '../services/member-engine-report.js';

/** "even", "by measured speed", or by speed when every member reported one (the default). */
export type PartitionChoice = 'auto' | 'speed' | 'even';

export interface JobMember {
  /** Its peer id; null for this tab (the host computing a clip itself). */
  readonly peerId: string | null;
  readonly name: string;
  /** Undefined until its first report: it has joined and is starting to load. */
  readonly engine?: MemberEngine;
  /** The most frames its memory holds (job-members-memory.ts); undefined: not known, no cap. */
  readonly maxClipFrames?: number;
  /** Why its memory cannot run this model at all (one line, the memory plan's); it is left out. */
  readonly cannotHold?: string;
}

export function isReady(m: JobMember): boolean {
  return m.engine?.phase === 'ready';
}

export function hasFailed(m: JobMember): boolean {
  return m.engine?.phase === 'failed';
}

/** Members neither ready nor failed nor unable to hold the model: Start waits for them. */
export function stillPreparing(members: readonly JobMember[]): JobMember[] {
  return members.filter((m) => !isReady(m) && !hasFailed(m) && m.cannotHold === undefined);
}

/** At Start, once nobody is preparing: who computes, and why each other member is left out. */
export function readyAndLeftOut(members: readonly JobMember[]): { ready: JobMember[]; leftOut: string[] } {
  return {
    ready: members.filter((m) => isReady(m) && m.cannotHold === undefined),
    leftOut: members.flatMap((m) =>
      m.cannotHold !== undefined ? [`${m.name}: ${m.cannotHold}`] : hasFailed(m) ? [`${m.name}: ${m.engine?.error ?? 'the model did not load'}`] : [],
    ),
  };
}

/** "w1 (loading the model, 40%)": one member's state while Start waits for it. */
export function describePreparing(m: JobMember): string {
  const e = m.engine;
  if (!e) return `${m.name} (starting to load the model)`;
  if (e.phase === 'measuring') return `${m.name} (measuring its speed)`;
  const pct = e.totalBytes ? ` ${Math.floor((100 * (e.loadedBytes ?? 0)) / e.totalBytes)}%` : '';
  return `${m.name} (loading the model${pct})`;
}

export interface PartitionWeights {
  readonly by: 'speed' | 'even';
  /** A rank count (even) or one speed per member in rank order (partitionFrames' weights). */
  readonly weights: number | readonly number[];
  /** One largest clip per member in rank order (partitionFrames' capacities), when any member has one. */
  readonly capacities?: readonly number[];
}

export function partitionWeights(choice: PartitionChoice, members: readonly JobMember[]): PartitionWeights {
  if (members.length === 0) throw new Error('no members to share the frames between');
  const speeds = members.map((m) => m.engine?.speed?.framesPerSecond);
  const all = speeds.every((s): s is number => s !== undefined && Number.isFinite(s) && s > 0);
  const caps = members.some((m) => m.maxClipFrames !== undefined) ? { capacities: members.map((m) => m.maxClipFrames ?? Infinity) } : {};
  if (choice === 'even' || (choice === 'auto' && !all)) return { by: 'even', weights: members.length, ...caps };
  if (!all) throw new Error(`partition by measured speed: no speed from ${members.filter((_, k) => speeds[k] === undefined).map((m) => m.name).join(', ')}`);
  return { by: 'speed', weights: speeds as number[], ...caps };
}

/**
 * The members a render computes on. A guidance split runs each clip on a pair (engine
 * guidance-split.ts: ranks 2c and 2c + 1), so it uses the longest even prefix in rank order and
 * leaves the last member idle when their number is odd; it cannot run on fewer than two.
 */
export function computingMembers(members: readonly JobMember[], cfgSplit: boolean): { members: JobMember[]; idle: JobMember[]; problem?: string } {
  if (!cfgSplit) return { members: [...members], idle: [] };
  const used = members.slice(0, members.length - (members.length % 2));
  if (used.length < 2) return { members: [], idle: [...members], problem: `a guidance split runs each clip on two tabs; ${members.length} can compute` };
  return { members: used, idle: members.slice(used.length) };
}

/** The partition weights of a guidance split's pairs: a pair is as fast, and holds as many frames, as the lesser of its two. */
export function pairWeights(w: PartitionWeights): PartitionWeights {
  const pairs = <T>(xs: readonly T[], f: (a: T, b: T) => T): T[] => Array.from({ length: xs.length >> 1 }, (_, k) => f(xs[2 * k]!, xs[2 * k + 1]!));
  const weights = typeof w.weights === 'number' ? w.weights >> 1 : pairs(w.weights, Math.min);
  return { by: w.by, weights, ...(w.capacities && { capacities: pairs(w.capacities, Math.min) }) };
}

/** Failure codes that mean a member may have gone (the control links then say which). */
export const LOSS_CODES: ReadonlySet<string> = new Set(['peer-lost', 'timeout', 'closed']);

/**
 * The members a job restarts on after losing some: everyone but the lost, in the same rank order
 * (this tab, when it computes, stays rank 0). `connected` says whether a worker's control link is
 * still open; a worker that closed meanwhile is dropped too.
 */
export function survivors(members: readonly JobMember[], lost: ReadonlySet<string>, connected: (peerId: string) => boolean): JobMember[] {
  return members.filter((m) => m.peerId === null || (!lost.has(m.peerId) && connected(m.peerId)));
}

/**
 * The members lost mid-job that the job must restart without: those whose clip had not arrived. A
 * member whose clip arrived has passed every exchange of the last step, so nobody needs it any more.
 */
export function lostBeforeDelivery<T extends { readonly peerId: string }>(gone: readonly T[], delivered: (peerId: string) => boolean): T[] {
  return gone.filter((m) => !delivered(m.peerId));
}

/**
 * A member's speed as measured by a job: its clip's frames over the median compute time of its
 * steps (network wait left out), in the benchmark's units (frames of UNet work per second). The
 * next job shares the frames by it: it is measured at the clip length the member really runs, where
 * the 8-frame benchmark call pays each segment's fixed cost on fewer frames.
 */
export function jobSpeed(frames: number, stepComputeMs: readonly number[]): SpeedReport | undefined {
  const ms = [...stepComputeMs].filter((x) => Number.isFinite(x) && x > 0).sort((a, b) => a - b);
  if (frames < 1 || ms.length === 0) return undefined;
  const mid = ms.length >> 1;
  const unetMs = ms.length % 2 ? ms[mid]! : (ms[mid - 1]! + ms[mid]!) / 2;
  return { graph: 'segmented', frames, unetMs, framesPerSecond: frames / (unetMs / 1000) };
}
