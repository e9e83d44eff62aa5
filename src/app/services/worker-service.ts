/**
 * A worker tab's long-lived state: join the room, connect to signaling and to the host, report
 * the adapter, then obey the host's commands (form a mesh as rank r, run a mesh check, cancel).
 * Framework-free; `ServiceController` bridges its `change` events to lit.
 */
import { CollectiveError } from '../../engine/collective.js';
import { dialBulk, refuseBulkLinks, type BulkLink } from '../../net/bulk-link.js';
import { connectToHost, refuseControlLinks, type ControlEndpoint } from '../../net/control-link.js';
import { FROM_HOST } from '../protocol-check.js';
import { CONTROL_VERSION, type AdapterReport, type ControlMessage, type PairMeasurement, type StartMessage } from '../protocol.js';
import { toErrorData } from '../../engine/worker/protocol.js';
import { MeshCollective } from '../../net/mesh/mesh-collective.js';
import type { PeerHub } from '../../net/mesh/peer-hub.js';
import { CollectivePeerEvent } from '../../net/tagged-collective.js';
import { probeAdapter } from './adapter-probe.js';
import { runMeshCheck } from './mesh-check.js';
import { openPeer } from './peer-session.js';
import { roomApi, type JoinedRoom } from './room-api.js';
import type { HostBlobs, RankReports } from '../job/rank-runner.js';
import { workerReports } from '../job/worker-reports.js';

export type WorkerPhase = 'joining' | 'connecting' | 'ready' | 'forming-mesh' | 'in-mesh' | 'host-lost' | 'failed';

/**
 * A worker whose host went away waits this long for it to come back before it gives up: a reloaded
 * host page reopens the same room (host-room-memory.ts) and this tab reconnects on its own.
 */
export const HOST_RETURN_WINDOW_MS = 60_000;
/** The first dial may wait for a busy host page; later ones are retried every HOST_REDIAL_MS. */
const HOST_DIAL_TIMEOUT_MS = 15_000;
const HOST_REDIAL_TIMEOUT_MS = 5_000;
const HOST_REDIAL_MS = 2_000;

export interface WorkerState {
  readonly phase: WorkerPhase;
  readonly name: string;
  readonly error?: string;
  readonly peerId?: string;
  readonly adapter?: AdapterReport;
  readonly meshJobId?: number;
  readonly rank?: number;
  readonly worldSize?: number;
  readonly meshCheck?: readonly PairMeasurement[];
  /** Recent problems with peers (bad frames, lost peers), newest last. */
  readonly peerEvents: readonly string[];
  /** How many times a control link to the host opened (a reloaded host counts again): reports go again. */
  readonly hostLinks: number;
}

const MAX_EVENTS = 50;

/** Runs a 'render' task on the formed mesh (src/app/job/rank-runner.ts); set by the app entry. */
export interface RenderTaskRunner {
  run(task: Extract<StartMessage['task'], { kind: 'render' }>, mesh: MeshCollective, reports: RankReports): Promise<void>;
  /** What the host sends a run on the bulk link (its prompt embeddings, a restart's resume state); may arrive before the run starts. */
  acceptBlob(kind: keyof HostBlobs, renderJobId: number, rank: number, bytes: Uint8Array): void;
  cancel(reason: string): void;
}

export class WorkerService extends EventTarget {
  private _state: WorkerState;
  private hub: PeerHub | null = null;
  private control: ControlEndpoint<ControlMessage> | null = null;
  /** Blobs to and from the host: checkpoints and clips out, resume states in. */
  private bulk: BulkLink | null = null;
  private joined: JoinedRoom | null = null;
  private _mesh: MeshCollective | null = null;
  private left = false;
  /** What runs render tasks; without one, a render start is answered with an error. */
  renderer: RenderTaskRunner | null = null;

  constructor(name: string) {
    super();
    this._state = { phase: 'joining', name, peerEvents: [], hostLinks: 0 };
  }

  get state(): WorkerState {
    return this._state;
  }

  /** This tab's PeerJS hub (null until connected). */
  get peerHub(): PeerHub | null {
    return this.hub;
  }

  /** The current job's mesh (null outside a job). */
  get mesh(): MeshCollective | null {
    return this._mesh;
  }

  async start(roomId: string, joinToken: string): Promise<void> {
    try {
      const adapterP = probeAdapter();
      this.joined = await roomApi.join(roomId, joinToken, this._state.name);
      this.set({ phase: 'connecting', peerId: this.joined.peerId, adapter: await adapterP });
      this.hub = await openPeer(this.joined.peerId, this.joined.peerToken, this.joined.peer);
      refuseControlLinks(this.hub);
      refuseBulkLinks(this.hub);
      await this.connectControl(HOST_DIAL_TIMEOUT_MS);
    } catch (e) {
      this.set({ phase: 'failed', error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Dials the host (its control and bulk links), says who this tab is, and is ready for its commands. */
  private async connectControl(timeoutMs: number): Promise<void> {
    const control = await connectToHost(this.hub!, this.joined!.hostPeerId, timeoutMs, FROM_HOST);
    const bulk = await dialBulk(this.hub!, this.joined!.hostPeerId, timeoutMs).catch((e: unknown) => {
      control.link.close('its bulk link did not open');
      throw e;
    });
    if (this.left) return (control.link.close('leaving'), bulk.close('leaving'));
    this.control = control;
    this.bulk = bulk;
    control.onMessage((m) => void this.onControl(m));
    control.onError((e) => this.note(`control: ${e.message}`));
    bulk.onMessage((tag, bytes) => {
      if (tag.kind === 'resume' || tag.kind === 'promptEmbeddings') this.renderer?.acceptBlob(tag.kind, tag.jobId, tag.rank, bytes);
      else this.note(`bulk: dropped a '${tag.kind}' blob from the host: only prompt embeddings and resume states come from it`);
    });
    bulk.onError((problem) => this.note(`bulk: ${problem}`));
    // One link without the other is no host: either closing is the host lost.
    bulk.link.onClose((reason) => control.link.close(`its bulk link closed: ${reason}`));
    control.link.onClose((reason) => {
      bulk.close(reason);
      this.onHostLost(reason);
    });
    control.send({ type: 'join', v: CONTROL_VERSION, name: this._state.name, adapter: this._state.adapter! });
    this.set({ phase: 'ready', error: undefined, hostLinks: this._state.hostLinks + 1 });
  }

  /**
   * The host's control link closed (its tab closed, crashed, hung or was reloaded). Whatever job ran
   * ends here; then this tab redials the host for HOST_RETURN_WINDOW_MS, which a reloaded host page
   * answers from the same room, before it gives up.
   */
  private onHostLost(reason: string): void {
    if (this.left) return;
    this.renderer?.cancel(`lost the host: ${reason}`);
    this._mesh?.close(`lost the host: ${reason}`);
    this._mesh = null;
    this.set({ phase: 'host-lost', error: `lost the host: ${reason}`, meshJobId: undefined, rank: undefined, worldSize: undefined });
    void this.awaitHost(reason);
  }

  private async awaitHost(reason: string): Promise<void> {
    const deadline = Date.now() + HOST_RETURN_WINDOW_MS;
    while (!this.left && Date.now() < deadline && this.hub!.rejoinSignaling()) {
      try {
        return await this.connectControl(Math.min(HOST_REDIAL_TIMEOUT_MS, Math.max(1, deadline - Date.now())));
      } catch {
        await new Promise((r) => setTimeout(r, HOST_REDIAL_MS));
      }
    }
    if (!this.left) this.set({ phase: 'failed', error: `lost the host: ${reason}; it did not come back within ${HOST_RETURN_WINDOW_MS / 1000} s` });
  }

  /** Sends a report to the host (the model's readiness); false when the control link is not open. */
  sendToHost(m: ControlMessage): boolean {
    if (!this.control || this.control.link.isClosed) return false;
    this.control.send(m);
    return true;
  }

  /**
   * Leave the room. The channels close first and at once, so the host and the other ranks see it now
   * rather than after the heartbeat timeout; then the server is told (a keepalive request, so this
   * also works from `pagehide` when the tab closes).
   */
  async leave(): Promise<void> {
    this.left = true;
    this._mesh?.close('leaving');
    this.hub?.destroy();
    if (this.joined) await roomApi.leave(this.joined.roomId, this.joined.peerId, this.joined.peerToken).catch(() => undefined);
  }

  private async onControl(m: ControlMessage): Promise<void> {
    if (m.type === 'start') await this.onStart(m);
    else if (m.type === 'cancel' && m.meshJobId === this._state.meshJobId) {
      this.renderer?.cancel(m.reason);
      this._mesh?.close(`cancelled by host: ${m.reason}`);
      this._mesh = null;
      this.set({ phase: 'ready', meshJobId: undefined, rank: undefined, worldSize: undefined });
    }
  }

  private async onStart(m: StartMessage): Promise<void> {
    this._mesh?.close('a new job started');
    this._mesh = null;
    // The rank of an earlier job is not this one's: an error before the mesh forms names no rank.
    this.set({ phase: 'forming-mesh', meshJobId: m.meshJobId, rank: undefined, worldSize: undefined, meshCheck: undefined });
    let rank: number | undefined;
    try {
      const mesh = await MeshCollective.connect({ hub: this.hub!, roster: m.roster, meshId: `job-${m.meshJobId}`, timeoutMs: m.timeoutMs });
      if (this._state.meshJobId !== m.meshJobId) return mesh.close('the job ended while the mesh formed'); // cancelled, replaced, or the host went away
      const report = (e: Event) => {
        const err = (e as CollectivePeerEvent).error;
        this.note(`${e.type}: ${err.message}`);
        this.control?.send({ type: 'error', meshJobId: m.meshJobId, error: toErrorData(err, { rank: mesh.rank }) });
      };
      mesh.addEventListener('peer-error', report);
      mesh.addEventListener('peer-lost', report);
      this._mesh = mesh;
      rank = mesh.rank;
      this.set({ phase: 'in-mesh', rank, worldSize: mesh.worldSize });
      this.control!.send({ type: 'claim', meshJobId: m.meshJobId, rank: mesh.rank });
      if (m.task.kind === 'mesh-check') {
        const pairs = await runMeshCheck(mesh, m.meshJobId, m.task.probeBytes);
        this.set({ meshCheck: pairs });
        this.control!.send({ type: 'mesh-check-result', meshJobId: m.meshJobId, rank: mesh.rank, pairs });
      } else if (m.task.kind === 'render') {
        if (!this.renderer) throw Object.assign(new Error('this tab cannot render (no engine)'), { code: 'no-engine' });
        await this.renderer.run(m.task, mesh, workerReports(m.task.job.jobId, mesh.rank, (msg) => this.control?.send(msg), this.bulk!));
      }
    } catch (e) {
      // This job's rank, not the state's: a newer job may have replaced it meanwhile, and the host drops an error naming a rank not the sender's.
      const error = toErrorData(e, { rank });
      this.note(`job ${m.meshJobId}: ${error.message}`);
      this.control?.send({ type: 'error', meshJobId: m.meshJobId, error });
      const current = this._state.meshJobId === m.meshJobId; // not cancelled or replaced by a newer job meanwhile
      if (current && (!(e instanceof CollectiveError) || this._mesh === null)) this.set({ phase: 'ready' });
    }
  }

  private note(line: string): void {
    this.set({ peerEvents: [...this._state.peerEvents, line].slice(-MAX_EVENTS) });
  }

  private set(patch: Partial<WorkerState>): void {
    this._state = { ...this._state, ...patch }; // replaced, never mutated: lit re-renders only when the identity changes
    this.dispatchEvent(new Event('change'));
  }
}
