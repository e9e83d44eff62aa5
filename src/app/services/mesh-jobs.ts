/**
 * The host's jobs on the mesh: start one (the workers form the mesh and claim their ranks; the host
 * joins as rank 0 when it computes a render's clip too), follow its claims, a mesh check's results
 * and the members' errors, and end it: done, failed (every member told to cancel, once), or
 * cancelled. One job at a time; its state is `HostState.job`. A render's own progress is the
 * render job's (src/app/job/), which ends the mesh job through `finish`.
 */
import { CollectiveError } from '../../engine/collective.js';
import { MeshCollective } from '../../net/mesh/mesh-collective.js';
import type { PeerHub } from '../../net/mesh/peer-hub.js';
import { CollectivePeerEvent } from '../../net/tagged-collective.js';
import { LOSS_CODES } from '../job/job-members.js';
import { MAX_CANCEL_REASON_CHARS, type ControlMessage, type ControlOf, type PairMeasurement, type StartMessage } from '../protocol.js';
import { toErrorData } from '../../engine/worker/protocol.js';

export interface JobState {
  /** The host's id of this job: its start, claims, errors, results and cancel carry it. */
  readonly meshJobId: number;
  readonly kind: StartMessage['task']['kind'];
  /** A render attempt's id: its engine, step, clip and checkpoint messages carry it. */
  readonly renderJobId?: number;
  readonly roster: readonly string[];
  readonly claimed: readonly number[];
  readonly status: 'starting' | 'running' | 'done' | 'failed';
  readonly error?: string;
  /** The failure's code when a member or this tab's mesh gave one ('peer-lost', 'timeout', ...). */
  readonly errorCode?: string;
  readonly pairs?: readonly PairMeasurement[];
  readonly reported?: readonly number[];
}

/** What the jobs need of the host service: its current job, its links and its log. */
export interface MeshJobsHost {
  job(): JobState | undefined;
  setJob(job: JobState): void;
  hub(): PeerHub | null;
  isLinked(peerId: string): boolean;
  sendTo(peerId: string, m: ControlMessage): boolean;
  log(line: string): void;
  /** Resolves with the job once `done(job)` holds. */
  waitForJob(done: (j: JobState) => boolean): Promise<JobState>;
}

/** Workers get this long to form the mesh and claim their ranks (the mesh's own connect timeout is 30 s). */
const CLAIM_TIMEOUT_MS = 45_000;
const active = (j: JobState | undefined): j is JobState => j !== undefined && (j.status === 'starting' || j.status === 'running');

export class MeshJobs {
  private nextMeshJobId = 1;
  /** The host's own place in the current job's mesh, when it computes a clip too. */
  private _mesh: MeshCollective | null = null;
  /** The job whose members were told to cancel it (each job is cancelled once). */
  private cancelledMeshJobId: number | null = null;

  constructor(private readonly host: MeshJobsHost) {}

  get mesh(): MeshCollective | null {
    return this._mesh;
  }

  /** Forms a mesh of `workers` (and this tab as rank 0 when `hostComputes`); resolves when every rank claimed, or the job failed. */
  async start(task: StartMessage['task'], workers: readonly string[], timeoutMs?: number, hostComputes = false): Promise<JobState> {
    if (workers.length === 0) throw new Error('no workers are connected yet');
    const unready = workers.filter((p) => !this.host.isLinked(p));
    if (unready.length) throw new Error(`not connected: ${unready.join(', ')}`);
    const self = this.host.hub()?.peerId;
    if (hostComputes && !self) throw new Error('the host has no room yet');
    const roster = hostComputes ? [self!, ...workers] : [...workers];
    if (active(this.host.job())) this.cancel('replaced by a new job');
    this.closeMesh('a new job started');
    const meshJobId = this.nextMeshJobId++;
    this.host.setJob({ meshJobId, kind: task.kind, ...(task.kind === 'render' && { renderJobId: task.job.jobId }), roster, claimed: [], status: 'starting', reported: [] });
    const start: StartMessage = { type: 'start', meshJobId, roster, task, ...(timeoutMs !== undefined && { timeoutMs }) };
    for (const peerId of workers) this.host.sendTo(peerId, start);
    if (hostComputes) void this.joinMesh(meshJobId, roster, timeoutMs);
    const timer = setTimeout(() => {
      const j = this.host.job();
      if (j?.meshJobId === meshJobId && j.status === 'starting') {
        const missing = roster.map((_, r) => r).filter((r) => !j.claimed.includes(r));
        this.fail(j, `ranks [${missing.join(', ')}] did not join the mesh within ${CLAIM_TIMEOUT_MS} ms`);
      }
    }, CLAIM_TIMEOUT_MS);
    const job = await this.host.waitForJob((j) => j.meshJobId === meshJobId && (j.status !== 'starting' || j.claimed.length === roster.length));
    clearTimeout(timer);
    return job;
  }

  /** Ends job `meshJobId`: done, or failed with `error` (its mesh closed and its members told to cancel). */
  finish(meshJobId: number, error?: string): void {
    const job = this.host.job();
    if (job?.meshJobId !== meshJobId) return;
    // A failed job's mesh goes now (also after a worker's error already failed it); a finished
    // one stays until the next job, as the workers keep theirs: closing it would only make every
    // worker report the host as a lost peer right after a good render.
    if (error !== undefined) {
      this.closeMesh(error);
      this.cancelMembers(job, error);
    }
    if (!active(job)) return;
    this.host.setJob({ ...job, status: error === undefined ? 'done' : 'failed', ...(error !== undefined && { error }) });
  }

  cancel(reason: string): void {
    const job = this.host.job();
    if (!job) return;
    this.cancelMembers(job, reason);
    this.closeMesh(`cancelled: ${reason}`);
    this.host.setJob({ ...job, status: 'failed', error: `cancelled: ${reason}` });
  }

  closeMesh(reason: string): void {
    this._mesh?.close(reason);
    this._mesh = null;
  }

  onClaim(peerId: string, m: ControlOf<'claim'>): void {
    const job = this.host.job();
    if (job && m.meshJobId === job.meshJobId && job.roster.indexOf(peerId) === m.rank) this.claim(m.meshJobId, m.rank);
  }

  onMeshCheckResult(peerId: string, m: ControlOf<'mesh-check-result'>): void {
    const job = this.host.job();
    if (!job || m.meshJobId !== job.meshJobId || job.roster.indexOf(peerId) !== m.rank || job.reported?.includes(m.rank)) return;
    const reported = [...(job.reported ?? []), m.rank];
    const theirs = m.pairs.filter((p) => p.fromRank === m.rank && p.toRank !== m.rank && p.toRank < job.roster.length); // pairs of its own, to ranks that exist
    const pairs = [...(job.pairs ?? []), ...theirs].sort((a, b) => a.fromRank - b.fromRank || a.toRank - b.toRank);
    this.host.setJob({ ...job, reported, pairs, status: reported.length === job.roster.length ? 'done' : job.status });
  }

  /** A member's error: a bad frame is dropped and reported, the job goes on; anything else ends it. */
  onError(m: ControlOf<'error'>): void {
    const job = this.host.job();
    if (active(job) && m.meshJobId === job.meshJobId && m.error.code !== 'bad-message') this.fail(job, m.error.message, m.error.code);
  }

  /**
   * Fails the current job. Its members are told to cancel it at once, except when a render lost
   * a member: the render job then restarts it on the others (cancelling it first) or fails it.
   */
  private fail(job: JobState, error: string, errorCode?: string): void {
    this.host.setJob({ ...job, status: 'failed', error, ...(errorCode !== undefined && { errorCode }) });
    if (job.kind !== 'render' || !LOSS_CODES.has(errorCode ?? '')) this.cancelMembers(job, error);
  }

  /** Tells every member of `job` to stop it, once per job (the host's own rank is not a link). */
  private cancelMembers(job: JobState, reason: string): void {
    if (this.cancelledMeshJobId === job.meshJobId) return;
    this.cancelledMeshJobId = job.meshJobId;
    const cancel: ControlMessage = { type: 'cancel', meshJobId: job.meshJobId, reason: reason.slice(0, MAX_CANCEL_REASON_CHARS) };
    for (const peerId of job.roster) this.host.sendTo(peerId, cancel);
  }

  /** The host's side of a render mesh: rank 0, claimed here as the workers claim theirs. */
  private async joinMesh(meshJobId: number, roster: readonly string[], timeoutMs: number | undefined): Promise<void> {
    try {
      const mesh = await MeshCollective.connect({ hub: this.host.hub()!, roster, meshId: `job-${meshJobId}`, timeoutMs });
      if (this.host.job()?.meshJobId !== meshJobId || !active(this.host.job())) return mesh.close('the job ended while the mesh formed');
      const report = (e: Event) => {
        const err = (e as CollectivePeerEvent).error;
        this.host.log(`mesh (this tab, rank ${mesh.rank}): ${e.type}: ${err.message}`);
        const j = this.host.job();
        if (e.type === 'peer-lost' && j?.meshJobId === meshJobId && active(j)) this.fail(j, err.message, err.code);
      };
      mesh.addEventListener('peer-error', report);
      mesh.addEventListener('peer-lost', report);
      this._mesh = mesh;
      this.claim(meshJobId, mesh.rank);
    } catch (e) {
      const j = this.host.job();
      const message = e instanceof CollectiveError ? e.message : `this tab could not join the mesh: ${toErrorData(e).message}`;
      if (j?.meshJobId === meshJobId && j.status === 'starting') this.fail(j, message);
    }
  }

  private claim(meshJobId: number, rank: number): void {
    const job = this.host.job();
    if (!job || job.meshJobId !== meshJobId || job.claimed.includes(rank)) return;
    const claimed = [...job.claimed, rank];
    this.host.setJob({ ...job, claimed, status: claimed.length === job.roster.length ? (job.kind === 'mesh' ? 'done' : 'running') : job.status });
  }
}
