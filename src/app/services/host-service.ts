/**
 * The host tab's long-lived state: the room, its members (room API + what each worker reported
 * over the control channel: adapter, model readiness and measured speed), and jobs: forming a
 * mesh, the mesh check, and the mesh of a render, which the host may join as rank 0 when it
 * computes too. Framework-free; `ServiceController` bridges its `change` events to lit.
 */
import { acceptBulkLinks, type BulkLink, type BulkTag } from '../../net/bulk-link.js';
import { acceptWorkers, type ControlEndpoint } from '../../net/control-link.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';
import type { PeerHub } from '../../net/mesh/peer-hub.js';
import { FROM_MEMBER } from '../protocol-check.js';
import { type ControlMessage, type ControlOf, type ControlType, type RenderBlob, type SpeedReport, type StartMessage } from '../protocol.js';
import { toErrorData } from '../../engine/worker/protocol.js';
import { recallHostRoom, rememberHostRoom, reopenHostPeer } from './host-room-memory.js';
import { judgeJobMessage } from './job-scope.js';
import { memberEngineOf } from './member-engine-report.js';
import { MeshJobs, type JobState } from './mesh-jobs.js';
import { openPeer } from './peer-session.js';
import { roomApi, type CreatedRoom, type RoomMember } from './room-api.js';
import { mergeRoomMembers, type WorkerEntry } from './room-members.js';

/** A render's own reports from its members, messages and blobs (the render job handles them: src/app/job/render-attempt.ts). */
export type RenderReport = ControlOf<'engine' | 'step'> | RenderBlob;

export type HostPhase = 'idle' | 'creating' | 'open' | 'failed';

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

type ControlLink = ControlEndpoint<ControlMessage>;
/** One handler per message type: a type the host does not handle does not compile. */
type ControlHandlers = { readonly [T in ControlType]: (peerId: string, m: ControlOf<T>) => void };

export class HostService extends EventTarget {
  private _state: HostState = { phase: 'idle', workers: [], log: [] };
  private hub: PeerHub | null = null;
  private readonly endpoints = new Map<string, ControlLink>();
  /** Each worker's bulk link: its checkpoints and clips in, resume states out. */
  private readonly bulks = new Map<string, BulkLink>();
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private jobWaiters: (() => void)[] = [];
  /** Drops already logged for the current job (peer and type): a peer repeating a refused message logs it once. */
  private readonly droppedNoted = new Set<string>();
  private readonly jobs = new MeshJobs({
    job: () => this._state.job,
    setJob: (job) => {
      if (job.meshJobId !== this._state.job?.meshJobId) this.droppedNoted.clear();
      this.set({ job });
    },
    hub: () => this.hub,
    isLinked: (peerId) => this.endpoints.has(peerId),
    sendTo: (peerId, m) => this.sendTo(peerId, m),
    log: (line) => this.log(line),
    waitForJob: (done) => this.waitForJob(done),
  });
  /** Where a render's own reports go: the render job running now, if any. */
  renderReports: ((peerId: string, m: RenderReport) => void) | null = null;

  get state(): HostState {
    return this._state;
  }

  /** This tab's collective in the current job (rank 0), when the host computes; else null. */
  get mesh(): MeshCollective | null {
    return this.jobs.mesh;
  }

  /**
   * Opens the room: the one this tab had before a reload (host-room-memory.ts) while it still exists,
   * so its join link stays valid and its workers reconnect on their own; else a new one.
   */
  async createRoom(): Promise<CreatedRoom> {
    this.set({ phase: 'creating', error: undefined });
    try {
      const saved = recallHostRoom();
      const reopened = saved ? await reopenHostPeer(saved, (line) => this.log(line)) : null;
      const room = reopened ? saved! : await roomApi.create();
      this.hub = reopened ?? (await openPeer(room.hostPeerId, room.hostPeerToken, room.peer));
      rememberHostRoom(room);
      if (reopened) this.log('reopened the room this tab had before it was reloaded: its workers reconnect on their own');
      acceptWorkers(this.hub, (peerId) => this.isMember(peerId), FROM_MEMBER, (ep) => this.onWorker(ep));
      acceptBulkLinks(this.hub, (peerId) => this.isMember(peerId), (bulk) => this.onBulk(bulk));
      this.set({ phase: 'open', room });
      this.pollTimer = setInterval(() => void this.refreshMembers(), MEMBER_POLL_MS);
      await this.refreshMembers();
      return room;
    } catch (e) {
      this.set({ phase: 'failed', error: e instanceof Error ? e.message : String(e) });
      throw e;
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

  /** Sends one blob to one worker on its bulk link; resolves once it is on the wire, rejects when the link is not open. */
  sendBlob(peerId: string, tag: BulkTag, bytes: Uint8Array): Promise<void> {
    const bulk = this.bulks.get(peerId);
    if (!bulk || bulk.link.isClosed) return Promise.reject(new Error(`no bulk link to ${peerId}`));
    return bulk.send(tag, bytes);
  }

  /** Workers ready for a job: control and bulk links open, in join order. */
  readyWorkers(): WorkerEntry[] {
    return this._state.workers.filter((w) => w.controlOpen && this.endpoints.has(w.peerId) && this.bulks.has(w.peerId));
  }

  /**
   * Forms a mesh (ranks in roster order); resolves when every rank claimed. `workers`: the peer
   * ids to use (default all ready workers, in join order). `hostComputes`: the host joins the mesh
   * as rank 0 (its collective is `mesh` afterwards); only a render uses it.
   */
  startJob(task: StartMessage['task'], timeoutMs?: number, options: { workers?: readonly string[]; hostComputes?: boolean } = {}): Promise<JobState> {
    return this.jobs.start(task, options.workers ?? this.readyWorkers().map((w) => w.peerId), timeoutMs, options.hostComputes);
  }

  /** Measures RTT and throughput for every pair of workers. */
  async runMeshCheck(probeBytes = MESH_CHECK_PROBE_BYTES, timeoutMs?: number): Promise<JobState> {
    const job = await this.startJob({ kind: 'mesh-check', probeBytes }, timeoutMs);
    return this.waitForJob((j) => j.meshJobId === job.meshJobId && j.status !== 'starting' && j.status !== 'running');
  }

  /** Ends the current job (the render job calls this when the file is muxed or the render failed); a failed job is cancelled on every member. */
  finishJob(meshJobId: number, error?: string): void {
    this.jobs.finish(meshJobId, error);
  }

  cancel(reason: string): void {
    this.jobs.cancel(reason);
  }

  /** Logs that a message of `type` from `peerId` was dropped, and why: once per job, peer and type (no log flood). */
  noteRefused(peerId: string, type: string, why: string): void {
    const key = `${peerId} ${type}`;
    if (this.droppedNoted.has(key)) return;
    this.droppedNoted.add(key);
    this.log(`dropped '${type}' from ${peerId}: ${why}`);
  }

  dispose(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.jobs.closeMesh('the host page closed');
    this.hub?.destroy();
  }

  // ---------------------------------------------------------------- members and their links

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
    const { workers, left } = mergeRoomMembers(this._state.workers, members);
    for (const peerId of left) {
      this.log(`worker ${peerId} disconnected (left signaling)`);
      this.endpoints.get(peerId)?.link.close('left the room');
    }
    this.set({ workers });
  }

  /** A worker's control link, once the room admitted it (acceptWorkers). */
  onWorker(ep: ControlLink): void {
    this.endpoints.set(ep.peerId, ep);
    ep.onMessage((m) => this.onControl(ep.peerId, m));
    ep.onError((e, from) => this.log(`control from ${from}: ${e.message}`));
    ep.link.onClose((reason) => {
      this.endpoints.delete(ep.peerId);
      this.bulks.get(ep.peerId)?.close(reason);
      this.patchWorker(ep.peerId, { controlOpen: false, lostReason: reason });
      this.log(`worker ${ep.peerId} disconnected: ${reason}`);
    });
  }

  /** A worker's bulk link, once the room admitted it; without it the worker is not ready, and losing it loses the worker. */
  private onBulk(bulk: BulkLink): void {
    const peerId = bulk.peerId;
    this.bulks.get(peerId)?.close('replaced by a new bulk link');
    this.bulks.set(peerId, bulk);
    bulk.onMessage((tag, bytes) => this.onBlob(peerId, tag, bytes));
    bulk.onError((problem) => this.log(`bulk from ${peerId}: ${problem}`));
    bulk.link.onClose((reason) => {
      if (this.bulks.get(peerId) === bulk) this.bulks.delete(peerId);
      this.endpoints.get(peerId)?.link.close(`its bulk link closed: ${reason}`);
    });
    this.set({}); // readyWorkers changed
  }

  private onBlob(peerId: string, tag: BulkTag, bytes: Uint8Array): void {
    if (tag.kind === 'resume') return this.noteRefused(peerId, 'resume blob', 'only the host sends resume states');
    const base = { renderJobId: tag.jobId, rank: tag.rank, bytes };
    const blob: RenderBlob = tag.kind === 'checkpoint' ? { type: 'checkpoint', nextStep: tag.step, ...base } : { type: 'clip', ...base };
    const verdict = judgeJobMessage(this._state.job, peerId, blob);
    if (verdict.kind === 'drop') return this.noteRefused(peerId, `${blob.type} blob`, verdict.why);
    if (verdict.kind === 'accept') this.toRender(peerId, blob);
  }

  private readonly handlers: ControlHandlers = {
    join: (peerId, m) => this.patchWorker(peerId, { controlOpen: true, name: m.name, adapter: m.adapter, lostReason: undefined }),
    'member-report': (peerId, m) => {
      const engine = memberEngineOf(m);
      this.patchWorker(peerId, { engine });
      if (engine.phase === 'failed') this.log(`worker ${peerId}: the model did not load: ${engine.error}`);
    },
    claim: (peerId, m) => this.jobs.onClaim(peerId, m),
    'mesh-check-result': (peerId, m) => this.jobs.onMeshCheckResult(peerId, m),
    error: (peerId, m) => {
      this.patchWorker(peerId, { lastError: m.error });
      this.log(`worker ${peerId}: ${m.error.code}: ${m.error.message}`);
      this.jobs.onError(m);
    },
    engine: (peerId, m) => this.toRender(peerId, m),
    step: (peerId, m) => this.toRender(peerId, m),
    // Commands come from the host only: the control link refuses them from a member before this.
    start: (peerId, m) => this.noteRefused(peerId, m.type, 'only the host sends commands'),
    cancel: (peerId, m) => this.noteRefused(peerId, m.type, 'only the host sends commands'),
    ping: () => undefined,
  };

  private onControl(peerId: string, m: ControlMessage): void {
    const verdict = judgeJobMessage(this._state.job, peerId, m);
    if (verdict.kind === 'drop') return this.noteRefused(peerId, m.type, verdict.why);
    if (verdict.kind === 'other-job') return; // an earlier job's late message, or a guess: nothing of the current job
    (this.handlers[m.type] as (peerId: string, m: ControlMessage) => void)(peerId, m);
  }

  /** A render's report goes to the render job; one that throws on a peer's message must not stop the host. */
  private toRender(peerId: string, m: RenderReport): void {
    try {
      this.renderReports?.(peerId, m);
    } catch (e) {
      this.log(`'${m.type}' from ${peerId}: ${toErrorData(e).message}`);
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
    this._state = { ...this._state, ...patch }; // replaced, never mutated: views compare by identity
    this.dispatchEvent(new Event('change'));
    for (const w of [...this.jobWaiters]) w();
  }
}
