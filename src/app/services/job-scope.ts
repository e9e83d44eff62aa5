/**
 * Which peers may speak for a job. A job-scoped control message (one that names a job id: claim,
 * progress, mesh-check-result, error, engine, step, clip-chunk, checkpoint-chunk) counts only when
 * its sender is in that job's roster and any rank it names is the sender's own. Job ids are easy
 * to guess (the host counts them from 1), so the id alone proves nothing: without this check any
 * tab in the room could fail a job it is not in, or report steps and clips for another rank.
 */
import type { ControlMessage } from '../../net/control.js';

/** The ids a job's messages may carry and who is in it, by rank. */
export interface JobScope {
  readonly jobId: number;
  /** A render's own messages (engine, step, clip and checkpoint chunks) carry its task's job id. */
  readonly taskJobId?: number;
  readonly roster: readonly string[];
}

export type JobMessageVerdict =
  /** Not about a job (join, member-report, an error outside any job), or from a member at its own rank. */
  | { readonly kind: 'accept' }
  /** Names a job that is not the current one: an earlier job's late message, or a guess. */
  | { readonly kind: 'other-job' }
  /** Names the current job but may not speak for it: `why` says who and why. */
  | { readonly kind: 'drop'; readonly why: string };

/** The job id a message names, when it is job-scoped. */
export function jobIdNamed(m: ControlMessage): number | undefined {
  return 'jobId' in m ? m.jobId : undefined;
}

/** The rank a message speaks for, when it names one (an error's rank is inside its report). */
export function rankNamed(m: ControlMessage): number | undefined {
  if (m.type === 'error') return m.error.rank;
  return 'rank' in m ? m.rank : undefined;
}

/** Whether `peerId` may send `m` while `job` is the host's current job. */
export function judgeJobMessage(job: JobScope | undefined, peerId: string, m: ControlMessage): JobMessageVerdict {
  const jobId = jobIdNamed(m);
  if (jobId === undefined) return { kind: 'accept' };
  if (!job || (jobId !== job.jobId && jobId !== job.taskJobId)) return { kind: 'other-job' };
  const rank = job.roster.indexOf(peerId);
  if (rank < 0) return { kind: 'drop', why: `${peerId} is not in job ${job.jobId}` };
  const named = rankNamed(m);
  if (named !== undefined && named !== rank) return { kind: 'drop', why: `${peerId} is rank ${rank} of job ${job.jobId}, the message names rank ${named}` };
  return { kind: 'accept' };
}
