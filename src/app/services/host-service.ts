/**
 * The host tab's long-lived state: the room, its members (room API + what each worker reported
 * over the control channel: adapter, model readiness and measured speed), and jobs: forming a
 * mesh, the mesh check, and the mesh of a render, which the host may join as rank 0 when it
 * computes too. Framework-free; `ServiceController` bridges its `change` events to lit.
 */
import { CollectiveError } from '../../engine/collective.js';
import { acceptWorkers, MAX_CANCEL_REASON_CHARS, toErrorReport, type AdapterReport, type ControlEndpoint, type ControlMessage, type ErrorReport, type PairMeasurement, type SpeedReport, type StartMessage } from '../../net/control.js';
import { MeshCollective } from '../../net/mesh/mesh-collective.js';
import type { PeerHub } from '../../net/mesh/peer-hub.js';
import { CollectivePeerEvent } from '../../net/tagged-collective.js';
import { LOSS_CODES } from '../job/job-members.js';
import { judgeJobMessage } from './job-scope.js';
import { memberEngineOf, type MemberEngine } from './member-engine-report.js';
import { forgetHostRoom, recallHostRoom, rememberHostRoom } from './host-room-memory.js';
import { openPeer } from './peer-session.js';
import { roomApi, type CreatedRoom, type RoomMember } from './room-api.js';

export type HostPhase = 'idle' | 'creating' | 'open' | 'failed';

export interface WorkerEntry {
  readonly peerId: string;
  readonly name: string;
  readonly joinedAt: number;
  /** Connected to signaling (room API view). */
  readonly signaling: boolean;
  /** Control channel open and the worker said hello. */
  readonly controlOpen: boolean;
  readonly adapter?: AdapterReport;
  /** Its engine outside jobs: loading the model, measuring, ready at a speed, or failed. */
  readonly engine?: MemberEngine;
  readonly lastError?: ErrorReport;
  /** Why its control link closed, once it has. */
  readonly lostReason?: string;
}

export interface JobState {
  readonly jobId: number;
  readonly kind: StartMessage['task']['kind'];
  /** A render's task job id: its engine, step, clip and checkpoint messages carry it. */
  readonly taskJobId?: number;
  readonly roster: readonly string[];
  readonly claimed: readonly number[];
  readonly status: 'starting' | 'running' | 'done' | 'failed';
  readonly error?: string;
  /** The failure's code when a member or this tab's mesh gave one ('peer-lost', 'timeout', ...). */
  readonly errorCode?: string;
  readonly pairs?: readonly PairMeasurement[];
  readonly reported?: readonly number[];
}

export interface HostState {
  readonly phase: HostPhase;
  readonly error?: string;
  readonly room?: CreatedRoom;
  readonly workers: readonly WorkerEntry[];
  readonly job?: JobState;
  readonly log: readonly string[];
}

const MEMBER_POLL_MS = 2_000;
const MAX_LOG = 100;
/** Bytes per pair for the mesh check's throughput probe: long enough to reach steady state on a LAN. */
export const MESH_CHECK_PROBE_BYTES = 4 * 1024 * 1024;
/** Workers get this long to form the mesh and claim their ranks (the mesh's own connect timeout is 30 s). */
const CLAIM_TIMEOUT_MS = 45_000;
/** Reopening the room after a reload: tries to take the host's peer id back, each this long. */
const REOPEN_PEER_TIMEOUT_MS = 5_000;
const REOPEN_PEER_ATTEMPTS = 3;

export class HostService extends EventTarget {
  private _state: HostState = { phase: 'idle', workers: [], log: [] };
  private hub: PeerHub | null = null;
  private readonly endpoints = new Map<string, ControlEndpoint>();
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private nextJobId = 1;
  private jobWaiters: (() => void)[] = [];
  /** The host's own place in the current job's mesh, when it computes a clip too. */
  private _mesh: MeshCollective | null = null;
  /** The job whose members were told to cancel it (each job is cancelled once). */
  private cancelledJobId: number | null = null;
  /** Drops already logged for the current job (peer and type): a peer repeating a refused message logs it once. */
  private readonly droppedNoted = new Set<string>();
  /** Observers of every control message from a worker that the current job accepts (the render job, src/app/job/). */
  readonly controlTaps = new Set<(peerId: string, m: ControlMessage) => void>();

  get state(): HostState {
    return this._state;
  }

  /** This tab's collective in the current job (rank 0), when the host computes; else null. */
  get mesh(): MeshCollective | null {
    return this._mesh;
  }

  /**
   * Opens the room: the one this tab had before a reload (host-room-memory.ts) while it still exists,
   * so its join link stays valid and its workers reconnect on their own; else a new one.
   */
  async createRoom(): Promise<CreatedRoom> {
    this.set({ phase: 'creating', error: undefined });
    try {
      const saved = recallHostRoom();
      const reopened = saved ? await this.reopenPeer(saved) : null;
      const room = reopened ? saved! : await roomApi.create();
      this.hub = reopened ?? (await openPeer(room.hostPeerId, room.hostPeerToken, room.peer));
      rememberHostRoom(room);
      if (reopened) this.log('reopened the room this tab had before it was reloaded: its workers reconnect on their own');
      acceptWorkers(this.hub, (peerId) => this.isMember(peerId), (ep) => this.onWorker(ep));
      this.set({ phase: 'open', room });
      this.pollTimer = setInterval(() => void this.refreshMembers(), MEMBER_POLL_MS);
      await this.refreshMembers();
      return room;
    } catch (e) {
      this.set({ phase: 'failed', error: e instanceof Error ? e.message : String(e) });
      throw e;
    }
  }

  /** The saved room's host peer, opened again; null (and the room forgotten) when the room is gone. */
  private async reopenPeer(room: CreatedRoom): Promise<PeerHub | null> {
    try {
      await roomApi.members(room.roomId, room.hostSecret); // still there, and still ours
    } catch (e) {
      forgetHostRoom();
      this.log(`the room this tab had before it was reloaded is gone (${e instanceof Error ? e.message : String(e)}): a new room`);
      return null;
    }
    // The server frees the old page's peer id when its socket closes; a fast reload may get there first.
    for (let attempt = 1; ; attempt++) {
      try {
        return await openPeer(room.hostPeerId, room.hostPeerToken, room.peer, REOPEN_PEER_TIMEOUT_MS);
      } catch (e) {
        if (attempt < REOPEN_PEER_ATTEMPTS) continue;
        this.log(`could not take the host's place in the room it had before the reload (${e instanceof Error ? e.message : String(e)}): a new room`);
        return null;
      }
    }
  }

  /** A worker's speed as its last job measured it (job-members.ts jobSpeed); the next partition uses it. */
  noteJobSpeed(peerId: string, speed: SpeedReport): void {
    const w = this._state.workers.find((x) => x.peerId === peerId);
    if (w?.engine?.phase === 'ready') this.patchWorker(peerId, { engine: { ...w.engine, speed } });
  }

  /** Sends one message to one worker; false when its control link is not open. */
  sendTo(peerId: string, m: ControlMessage): boolean {
    const ep = this.endpoints.get(peerId);
    if (!ep || ep.link.isClosed) return false;
    ep.send(m);
    return true;
  }

  /** Workers ready for a job: control channel open, in join order. */
  readyWorkers(): WorkerEntry[] {
    return this._state.workers.filter((w) => w.controlOpen && this.endpoints.has(w.peerId));
  }

  /**
   * Forms a mesh (ranks in roster order); resolves when every rank claimed. `workers`: the peer
   * ids to use (default all ready workers, in join order). `hostComputes`: the host joins the mesh
   * as rank 0 (its collective is `mesh` afterwards); only a render uses it.
   */
  async startJob(task: StartMessage['task'], timeoutMs?: number, options: { workers?: readonly string[]; hostComputes?: boolean } = {}): Promise<JobState> {
    const workers = options.workers ?? this.readyWorkers().map((w) => w.peerId);
    if (workers.length === 0) throw new Error('no workers are connected yet');
    const unready = workers.filter((p) => !this.endpoints.has(p));
    if (unready.length) throw new Error(`not connected: ${unready.join(', ')}`);
    const self = this.hub?.peerId;
    if (options.hostComputes && !self) throw new Error('the host has no room yet');
    const roster = options.hostComputes ? [self!, ...workers] : [...workers];
    if (this._state.job && (this._state.job.status === 'starting' || this._state.job.status === 'running')) this.cancel('replaced by a new job');
    this.closeMesh('a new job started');
    const jobId = this.nextJobId++;
    this.droppedNoted.clear();
    this.set({ job: { jobId, kind: task.kind, ...(task.kind === 'render' && { taskJobId: task.job.jobId }), roster, claimed: [], status: 'starting', reported: [] } });
    const start: StartMessage = { type: 'start', jobId, roster, task, ...(timeoutMs !== undefined && { timeoutMs }) };
    for (const peerId of workers) this.endpoints.get(peerId)!.send(start);
    if (options.hostComputes) void this.joinMesh(jobId, roster, timeoutMs);
    const timer = setTimeout(() => {
      const j = this._state.job;
      if (j?.jobId === jobId && j.status === 'starting') {
        const missing = roster.map((_, r) => r).filter((r) => !j.claimed.includes(r));
        this.failJob(j, `ranks [${missing.join(', ')}] did not join the mesh within ${CLAIM_TIMEOUT_MS} ms`);
      }
    }, CLAIM_TIMEOUT_MS);
    const job = await this.waitForJob((j) => j.jobId === jobId && (j.status !== 'starting' || j.claimed.length === roster.length));
    clearTimeout(timer);
    return job;
  }

  /** Measures RTT and throughput for every pair of workers. */
  async runMeshCheck(probeBytes = MESH_CHECK_PROBE_BYTES, timeoutMs?: number): Promise<JobState> {
    const job = await this.startJob({ kind: 'mesh-check', probeBytes }, timeoutMs);
    return this.waitForJob((j) => j.jobId === job.jobId && j.status !== 'starting' && j.status !== 'running');
  }

  /**
   * Ends the current job (the render job calls this when the file is muxed or the render failed).
   * A failed job is cancelled on every member, whatever failed it: otherwise they render on.
   */
  finishJob(jobId: number, error?: string): void {
    const job = this._state.job;
    if (job?.jobId !== jobId) return;
    // A failed job's mesh goes now (also after a worker's error already failed it); a finished
    // one stays until the next job, as the workers keep theirs: closing it would only make every
    // worker report the host as a lost peer right after a good render.
    if (error !== undefined) {
      this.closeMesh(error);
      this.cancelMembers(job, error);
    }
    if (job.status !== 'starting' && job.status !== 'running') return;
    this.set({ job: { ...job, status: error === undefined ? 'done' : 'failed', ...(error !== undefined && { error }) } });
  }

  /**
   * Logs that a message of `type` from `peerId` was dropped, and why: once per job, peer and type,
   * so a peer repeating it (with any values) cannot flood the log.
   */
  noteRefused(peerId: string, type: ControlMessage['type'], why: string): void {
    const key = `${peerId} ${type}`;
    if (this.droppedNoted.has(key)) return;
    this.droppedNoted.add(key);
    this.log(`dropped '${type}' from ${peerId}: ${why}`);
  }

  cancel(reason: string): void {
    const job = this._state.job;
    if (!job) return;
    this.cancelMembers(job, reason);
    this.closeMesh(`cancelled: ${reason}`);
    this.set({ job: { ...job, status: 'failed', error: `cancelled: ${reason}` } });
  }

  dispose(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.closeMesh('the host page closed');
    this.hub?.destroy();
  }

  // ---------------------------------------------------------------- internals

  /**
   * Fails the current job. Its members are told to cancel it at once, except when a render lost
   * a member: the render job then restarts it on the others (cancelling it first) or fails it.
   */
  private failJob(job: JobState, error: string, errorCode?: string): void {
    this.set({ job: { ...job, status: 'failed', error, ...(errorCode !== undefined && { errorCode }) } });
    if (job.kind !== 'render' || !LOSS_CODES.has(errorCode ?? '')) this.cancelMembers(job, error);
  }

  /** Tells every member of `job` to stop it, once per job (the host's own rank is not a link). */
  private cancelMembers(job: JobState, reason: string): void {
    if (this.cancelledJobId === job.jobId) return;
    this.cancelledJobId = job.jobId;
    const cancel: ControlMessage = { type: 'cancel', jobId: job.jobId, reason: reason.slice(0, MAX_CANCEL_REASON_CHARS) };
    for (const peerId of job.roster) this.sendTo(peerId, cancel);
  }

  /** The host's side of a render mesh: rank 0, claimed here as the workers claim theirs. */
  private async joinMesh(jobId: number, roster: readonly string[], timeoutMs: number | undefined): Promise<void> {
    try {
      const mesh = await MeshCollective.connect({ hub: this.hub!, roster, meshId: `job-${jobId}`, timeoutMs });
      const job = this._state.job;
      if (job?.jobId !== jobId || (job.status !== 'starting' && job.status !== 'running')) return mesh.close('the job ended while the mesh formed');
      const report = (e: Event) => {
        const err = (e as CollectivePeerEvent).error;
        this.log(`mesh (this tab, rank ${mesh.rank}): ${e.type}: ${err.message}`);
        const j = this._state.job;
        if (e.type === 'peer-lost' && j?.jobId === jobId && (j.status === 'starting' || j.status === 'running')) this.failJob(j, err.message, err.code);
      };
      mesh.addEventListener('peer-error', report);
      mesh.addEventListener('peer-lost', report);
      this._mesh = mesh;
      this.onClaim(jobId, mesh.rank);
    } catch (e) {
      const j = this._state.job;
      const message = e instanceof CollectiveError ? e.message : `this tab could not join the mesh: ${toErrorReport(e).message}`;
      if (j?.jobId === jobId && j.status === 'starting') this.failJob(j, message);
    }
  }

  private closeMesh(reason: string): void {
    this._mesh?.close(reason);
    this._mesh = null;
  }

  private onClaim(jobId: number, rank: number): void {
    const job = this._state.job;
    if (!job || job.jobId !== jobId || job.claimed.includes(rank)) return;
    const claimed = [...job.claimed, rank];
    this.set({ job: { ...job, claimed, status: claimed.length === job.roster.length ? (job.kind === 'mesh' ? 'done' : 'running') : job.status } });
  }

  private waitForJob(done: (j: JobState) => boolean): Promise<JobState> {
    return new Promise((resolve) => {
      const check = () => {
        const j = this._state.job;
        if (j && done(j)) {
          this.jobWaiters = this.jobWaiters.filter((w) => w !== check);
          resolve(j);
        }
      };
      this.jobWaiters.push(check);
      check();
    });
  }

  private async isMember(peerId: string): Promise<boolean> {
    if (this._state.workers.some((w) => w.peerId === peerId)) return true;
    await this.refreshMembers();
    return this._state.workers.some((w) => w.peerId === peerId);
  }

  private async refreshMembers(): Promise<void> {
    const room = this._state.room;
    if (!room) return;
    let members: RoomMember[];
    try {
      members = await roomApi.members(room.roomId, room.hostSecret);
    } catch (e) {
      this.log(`member list: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const old = new Map(this._state.workers.map((w) => [w.peerId, w]));
    const workers = members
      .filter((m) => m.role === 'worker')
      .map((m): WorkerEntry => {
        const was = old.get(m.peerId);
        // A closed tab drops its signaling socket at once, while WebRTC notices only after ICE
        // gives up (tens of seconds): treat leaving signaling as leaving the room.
        if (was?.signaling && was.controlOpen && !m.connected) {
          this.log(`worker ${m.peerId} disconnected (left signaling)`);
          this.endpoints.get(m.peerId)?.link.close('left the room');
          return { ...was, signaling: false, controlOpen: false };
        }
        return { controlOpen: false, ...was, peerId: m.peerId, name: m.name, joinedAt: m.joinedAt, signaling: m.connected };
      });
    this.set({ workers });
  }

  /** A worker's control link, once the room admitted it (acceptWorkers). */
  onWorker(ep: ControlEndpoint): void {
    this.endpoints.set(ep.peerId, ep);
    ep.onMessage((m) => this.onControl(ep.peerId, m));
    ep.onError((e, from) => this.log(`control from ${from}: ${e.message}`));
    ep.link.onClose((reason) => {
      this.endpoints.delete(ep.peerId);
      this.patchWorker(ep.peerId, { controlOpen: false, lostReason: reason });
      this.log(`worker ${ep.peerId} disconnected: ${reason}`);
    });
  }

  private onControl(peerId: string, m: ControlMessage): void {
    const job = this._state.job;
    const verdict = judgeJobMessage(job, peerId, m);
    if (verdict.kind === 'drop') return this.noteRefused(peerId, m.type, verdict.why);
    if (verdict.kind === 'other-job') return; // an earlier job's late message, or a guess: nothing of the current job
    const rankOf = (id: string) => job?.roster.indexOf(id) ?? -1;
    for (const tap of this.controlTaps) this.runTap(tap, peerId, m);
    switch (m.type) {
      case 'join':
        this.patchWorker(peerId, { controlOpen: true, name: m.name, adapter: m.adapter, lostReason: undefined });
        return;
      case 'member-report': {
        const engine = memberEngineOf(m);
        this.patchWorker(peerId, { engine });
        if (engine.phase === 'failed') this.log(`worker ${peerId}: the model did not load: ${engine.error}`);
        return;
      }
      case 'claim':
        if (job && m.jobId === job.jobId && rankOf(peerId) === m.rank) this.onClaim(m.jobId, m.rank);
        return;
      case 'mesh-check-result':
        if (job && m.jobId === job.jobId && rankOf(peerId) === m.rank && !job.reported?.includes(m.rank)) {
          const reported = [...(job.reported ?? []), m.rank];
          const theirs = m.pairs.filter((p) => p.fromRank === m.rank && p.toRank !== m.rank && p.toRank < job.roster.length); // pairs of its own, to ranks that exist
          const pairs = [...(job.pairs ?? []), ...theirs].sort((a, b) => a.fromRank - b.fromRank || a.toRank - b.toRank);
          this.set({ job: { ...job, reported, pairs, status: reported.length === job.roster.length ? 'done' : job.status } });
        }
        return;
      case 'error':
        this.patchWorker(peerId, { lastError: m.error });
        this.log(`worker ${peerId}: ${m.error.code}: ${m.error.message}`);
        // A bad frame is dropped and reported; the job goes on. Anything else ends it.
        if (job && m.jobId === job.jobId && m.error.code !== 'bad-message' && (job.status === 'starting' || job.status === 'running')) this.failJob(job, m.error.message, m.error.code);
        return;
      case 'progress':
      case 'engine':
      case 'step':
      case 'clip-chunk':
      case 'checkpoint-chunk':
        return; // the render job (controlTaps) handles these
      default:
        this.log(`unexpected '${m.type}' from worker ${peerId}`);
    }
  }

  /** A tap that throws on a peer's message must not stop the host from handling it. */
  private runTap(tap: (peerId: string, m: ControlMessage) => void, peerId: string, m: ControlMessage): void {
    try {
      tap(peerId, m);
    } catch (e) {
      this.log(`'${m.type}' from ${peerId}: ${toErrorReport(e).message}`);
    }
  }

  private patchWorker(peerId: string, patch: Partial<WorkerEntry>): void {
    const known = this._state.workers.some((w) => w.peerId === peerId);
    const workers = known
      ? this._state.workers.map((w) => (w.peerId === peerId ? { ...w, ...patch } : w))
      : [...this._state.workers, { peerId, name: peerId, joinedAt: Date.now(), signaling: true, controlOpen: false, ...patch }];
    this.set({ workers });
  }

  private log(line: string): void {
    this.set({ log: [...this._state.log, `${new Date().toISOString().slice(11, 19)} ${line}`].slice(-MAX_LOG) });
  }

  private set(patch: Partial<HostState>): void {
    this._state = { ...this._state, ...patch }; // replaced, never mutated (STYLE rule 16)
    this.dispatchEvent(new Event('change'));
    for (const w of [...this.jobWaiters]) w();
  }
}
