/**
 * Which peers may speak for a job. A job-scoped control message (one that names a job id: claim,
 * mesh-check-result, error, engine, step) or blob (checkpoint, clip) counts only when
 * its sender is in that job's roster and any rank it names is the sender's own. Job ids are easy
 * to guess (the host counts them from 1), so the id alone proves nothing: without this check any
 * tab in the room could fail a job it is not in, or report steps and clips for another rank.
 */
import type { ControlMessage, RenderBlob } from '../protocol.js';

/** What may speak for a job: a control message, or a blob on a bulk link. */
type JobReport = ControlMessage | RenderBlob;

/** The ids a job's messages may carry and who is in it, by rank. */
export interface JobScope {
  readonly meshJobId: number;
  /** A render's own reports (engine, step, checkpoint and clip blobs) carry its attempt's id. */
  readonly renderJobId?: number;
  readonly roster: readonly string[];
}

export type JobMessageVerdict =
  /** Not about a job (join, member-report, an error outside any job), or from a member at its own rank. */
  | { readonly kind: 'accept' }
  /** Names a job that is not the current one: an earlier job's late message, or a guess. */
  | { readonly kind: 'other-job' }
  /** Names the current job but may not speak for it: `why` says who and why. */
  | { readonly kind: 'drop'; readonly why: string };

/** Whether a message is job-scoped, and then whether it names `job` (by the id of its kind). */
export function namesJob(m: JobReport, job: JobScope | undefined): boolean | undefined {
  if ('meshJobId' in m && m.meshJobId !== undefined) return m.meshJobId === job?.meshJobId;
  if ('renderJobId' in m) return job?.renderJobId !== undefined && m.renderJobId === job.renderJobId;
  return undefined;
}

/** The rank a message speaks for, when it names one (an error's rank is inside its report). */
export function rankNamed(m: JobReport): number | undefined {
  if (m.type === 'error') return m.error.rank;
  return 'rank' in m ? m.rank : undefined;
}

/** Whether `peerId` may send `m` while `job` is the host's current job. */
export function judgeJobMessage(job: JobScope | undefined, peerId: string, m: JobReport): JobMessageVerdict {
  const named = namesJob(m, job);
  if (named === undefined) return { kind: 'accept' };
  if (!named || !job) return { kind: 'other-job' };
  const rank = job.roster.indexOf(peerId);
  if (rank < 0) return { kind: 'drop', why: `${peerId} is not in job ${job.meshJobId}` };
  const rankInIt = rankNamed(m);
  if (rankInIt !== undefined && rankInIt !== rank) return { kind: 'drop', why: `${peerId} is rank ${rank} of job ${job.meshJobId}, the message names rank ${rankInIt}` };
  return { kind: 'accept' };
}
