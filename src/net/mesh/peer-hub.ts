/**
 * `PeerHub`: the one owner of a tab's PeerJS `Peer`. Browser-only.
 *
 * PeerJS emits `connection` and `data` events whether or not anyone listens yet, so a fast peer's
 * first frames could be lost while this tab is still setting up. The hub listens from the first
 * moment: every connection becomes a `PeerLink` that buffers data and close until its owner
 * (a mesh, the control channel) claims it by label.
 */
import type { DataConnection, Peer } from 'peerjs';

/**
 * A link whose ICE stays 'disconnected' this long is closed. A peer whose tab crashed or whose
 * network went away sends no goodbye, and Chromium may leave such a connection 'disconnected' for
 * good instead of moving on to 'failed'. (Both the mesh and the control link also have heartbeats,
 * `PeerLink.keepAlive`; this catches a crash sooner when no heartbeat is due.)
 */
export const ICE_DISCONNECTED_GRACE_MS = 10_000;

export class PeerLink {
  readonly opened: Promise<void>;
  private dataHandler: ((data: unknown) => void) | null = null;
  private readonly early: unknown[] = [];
  private closeHandlers: ((reason: string) => void)[] = [];
  private closedReason: string | null = null;
  private localCloseReason: string | null = null;
  private disconnectedTimer: ReturnType<typeof setTimeout> | null = null;
  /** Date.now() of the last data received (or of creation): what heartbeats are judged by. */
  lastDataAt = Date.now();

  constructor(readonly conn: DataConnection) {
    conn.on('data', (d) => {
      this.lastDataAt = Date.now();
      if (this.dataHandler) this.dataHandler(d);
      else this.early.push(d);
    });
    this.opened = new Promise<void>((resolve, reject) => {
      if (conn.open) resolve();
      conn.on('open', () => resolve());
      this.onClose((reason) => reject(new Error(reason)));
    });
    this.opened.catch(() => undefined);
    conn.on('close', () => this.closed(this.localCloseReason ?? 'connection closed'));
    conn.on('error', (e) => this.closed(`connection error: ${e.type ?? ''} ${e.message}`));
    conn.on('iceStateChanged', (state) => {
      if (state === 'failed' || state === 'closed') this.closed(`ICE ${state}`);
      else if (state === 'disconnected')
        this.disconnectedTimer ??= setTimeout(() => this.closed(`ICE disconnected for ${ICE_DISCONNECTED_GRACE_MS / 1000} s`), ICE_DISCONNECTED_GRACE_MS);
      else this.stopDisconnectedTimer(); // back to 'connected' / 'completed'
    });
  }

  get peerId(): string {
    return this.conn.peer;
  }

  get label(): string {
    return this.conn.label;
  }

  get isClosed(): boolean {
    return this.closedReason !== null;
  }

  /** Installs the data handler and replays what arrived before it. */
  setDataHandler(handler: (data: unknown) => void): void {
    this.dataHandler = handler;
    for (const d of this.early.splice(0)) handler(d);
  }

  /** Called once with the reason; at once if the link is already closed. */
  onClose(handler: (reason: string) => void): void {
    if (this.closedReason !== null) handler(this.closedReason);
    else this.closeHandlers.push(handler);
  }

  /**
   * The link's heartbeat, for whichever owner speaks on it (the mesh's binary ping frames, the control
   * channel's JSON pings): every `intervalMs` it calls `ping`, and once nothing at all has arrived for
   * `silenceMs` it closes the link ("silent for N ms (limit M ms)"), which the owner sees through
   * onClose like any other loss. A peer that hung keeps its connection up, so only this notices it.
   */
  keepAlive(options: { readonly intervalMs: number; readonly silenceMs: number; readonly ping: () => void }): void {
    const timer = setInterval(() => {
      const silent = Date.now() - this.lastDataAt;
      if (silent > options.silenceMs) this.close(`silent for ${silent} ms (limit ${options.silenceMs} ms)`);
      else if (!this.isClosed) options.ping();
    }, options.intervalMs);
    this.onClose(() => clearInterval(timer));
  }

  close(reason = 'closed locally'): void {
    this.localCloseReason = reason; // PeerJS may emit 'close' from conn.close(): that names this reason
    this.conn.close();
    this.closed(reason);
  }

  private stopDisconnectedTimer(): void {
    if (this.disconnectedTimer !== null) clearTimeout(this.disconnectedTimer);
    this.disconnectedTimer = null;
  }

  private closed(reason: string): void {
    this.stopDisconnectedTimer();
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    for (const h of this.closeHandlers.splice(0)) h(reason);
  }
}

type IncomingHandler = (link: PeerLink) => boolean;

export class PeerHub {
  private readonly unclaimed: PeerLink[] = [];
  private readonly handlers: IncomingHandler[] = [];
  private readonly waiters: { match: (l: PeerLink) => boolean; resolve: (l: PeerLink) => void }[] = [];

  constructor(readonly peer: Peer) {
    peer.on('connection', (conn) => this.incoming(new PeerLink(conn)));
  }

  get peerId(): string {
    return this.peer.id;
  }

  /** Opens a connection to `peerId`; await `link.opened`. */
  dial(peerId: string, label: string, serialization: 'raw' | 'json', metadata?: unknown): PeerLink {
    return new PeerLink(this.peer.connect(peerId, { label, serialization, reliable: true, metadata }));
  }

  /** Waits for (or takes an already arrived) incoming link with this label from this peer. */
  accept(label: string, fromPeerId: string, timeoutMs: number): Promise<PeerLink> {
    const match = (l: PeerLink) => l.label === label && l.peerId === fromPeerId && !l.isClosed;
    const i = this.unclaimed.findIndex(match);
    if (i >= 0) return Promise.resolve(this.unclaimed.splice(i, 1)[0]!);
    return new Promise<PeerLink>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (l: PeerLink) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no connection '${label}' from ${fromPeerId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** A standing handler for incoming links (e.g. the host's control channel); return true to claim. */
  onIncoming(handler: IncomingHandler): void {
    this.handlers.push(handler);
    for (const l of [...this.unclaimed]) if (handler(l)) this.unclaimed.splice(this.unclaimed.indexOf(l), 1);
  }

  /**
   * Back onto the signaling server if this peer lost it (PeerJS keeps the id and the open links, but
   * cannot dial while disconnected). False once the peer is destroyed: nothing more can be dialled.
   */
  rejoinSignaling(): boolean {
    if (this.peer.destroyed) return false;
    if (this.peer.disconnected) this.peer.reconnect();
    return true;
  }

  destroy(): void {
    for (const l of this.unclaimed.splice(0)) l.close();
    this.peer.destroy();
  }

  private incoming(link: PeerLink): void {
    const w = this.waiters.findIndex((x) => x.match(link));
    if (w >= 0) return this.waiters.splice(w, 1)[0]!.resolve(link);
    for (const h of this.handlers) if (h(link)) return;
    this.unclaimed.push(link);
    link.onClose(() => {
      const i = this.unclaimed.indexOf(link);
      if (i >= 0) this.unclaimed.splice(i, 1);
    });
  }
}
