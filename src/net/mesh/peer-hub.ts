/**
 * `PeerHub`: the one owner of a tab's PeerJS `Peer`. Browser-only (tested in Node with a fake Peer).
 *
 * PeerJS emits `connection` and `data` events whether or not anyone listens yet, so a fast peer's
 * first frames could be lost while this tab is still setting up. The hub listens from the first
 * moment: every connection becomes a `PeerLink` that buffers data and close until its owner
 * (a mesh, the control channel) claims it by label. Anyone on the signaling server can dial, so
 * what waits is bounded (MESH_LIMITS): a link with a label or serialization no owner here would take
 * is closed at once; one unclaimed for `unclaimedLinkMs`, or holding over `earlyLinkBytes` before
 * its owner takes the data, is closed, and the hub's log names the peer, the label and the limit.
 */
import type { DataConnection, Peer } from 'peerjs';
import { MESH_LIMITS } from './limits.js';

/**
 * A link whose ICE stays 'disconnected' this long is closed. A peer whose tab crashed or whose
 * network went away sends no goodbye, and Chromium may leave such a connection 'disconnected' for
 * good instead of moving on to 'failed'. (Both the mesh and the control link also have heartbeats,
 * `PeerLink.keepAlive`; this catches a crash sooner when no heartbeat is due.)
 */
export const ICE_DISCONNECTED_GRACE_MS = 10_000;

/** The control channel between the host and each worker (control.ts). */
export const CONTROL_LABEL = 'vi-control';
/** The host's binary link to each worker for whole blobs: checkpoints, clips, resume states (bulk-link.ts). */
export const BULK_LABEL = 'vi-bulk';
/** A mesh's links: `vi-mesh:<meshId>` (mesh-collective.ts). */
export const MESH_LABEL_PREFIX = 'vi-mesh:';
/** The network benchmark's bare channels (src/app/testing/bench-hooks.ts). */
export const BENCH_LABEL_PREFIX = 'vi-bench:';

/**
 * The serialization a link with this label must use, or null for a label no owner in this app would
 * ever take. The serialization matters too: PeerJS's 'binary' reassembles chunks itself, without a
 * bound, before any of our checks see a byte.
 */
export function expectedSerialization(label: string): 'raw' | 'json' | null {
  if (label === CONTROL_LABEL) return 'json';
  if (label === BULK_LABEL || label.startsWith(MESH_LABEL_PREFIX) || label.startsWith(BENCH_LABEL_PREFIX)) return 'raw';
  return null;
}

export type LinkLog = (line: string) => void;

/** Approximate size of one received message: binary length, or the length of its JSON text. */
function approximateBytes(data: unknown): number {
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  if (typeof data === 'string') return data.length;
  try {
    return JSON.stringify(data)?.length ?? 0;
  } catch {
    return Number.POSITIVE_INFINITY; // not plain data: never worth holding
  }
}

export class PeerLink {
  readonly opened: Promise<void>;
  private dataHandler: ((data: unknown) => void) | null = null;
  private readonly early: unknown[] = [];
  private earlyBytes = 0;
  private closeHandlers: ((reason: string) => void)[] = [];
  private closedReason: string | null = null;
  private localCloseReason: string | null = null;
  private disconnectedTimer: ReturnType<typeof setTimeout> | null = null;
  /** Date.now() of the last data received (or of creation): what heartbeats are judged by. */
  lastDataAt = Date.now();

  constructor(
    readonly conn: DataConnection,
    private readonly log: LinkLog = (line) => console.warn(line),
  ) {
    conn.on('data', (d) => {
      this.lastDataAt = Date.now();
      if (this.dataHandler) this.dataHandler(d);
      else this.holdEarly(d);
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
    this.earlyBytes = 0;
    for (const d of this.early.splice(0)) handler(d);
  }

  /** Closes the link for the reason given and logs who it was (peer id, label) and why. */
  refuse(reason: string): void {
    if (this.isClosed) return;
    this.log(`peer-hub: closed link '${this.label}' from ${this.peerId}: ${reason}`);
    this.close(reason);
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

  /** Data before anyone takes it waits here, up to MESH_LIMITS.earlyLinkBytes (then the link is closed). */
  private holdEarly(data: unknown): void {
    if (this.isClosed) return;
    this.earlyBytes += approximateBytes(data);
    if (this.earlyBytes > MESH_LIMITS.earlyLinkBytes) {
      this.early.length = 0;
      this.refuse(`${this.earlyBytes} bytes arrived before its owner took them (limit earlyLinkBytes = ${MESH_LIMITS.earlyLinkBytes})`);
      return;
    }
    this.early.push(data);
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

export interface PeerHubOptions {
  /** Where refused links are reported (peer id, label, limit); the console by default. */
  readonly log?: LinkLog;
}

export class PeerHub {
  /** Incoming links nobody has claimed yet, each with the timer that closes it after unclaimedLinkMs. */
  private readonly unclaimed = new Map<PeerLink, ReturnType<typeof setTimeout>>();
  private readonly handlers: IncomingHandler[] = [];
  private readonly waiters: { match: (l: PeerLink) => boolean; resolve: (l: PeerLink) => void }[] = [];
  private readonly log: LinkLog;

  constructor(
    readonly peer: Peer,
    options: PeerHubOptions = {},
  ) {
    this.log = options.log ?? ((line) => console.warn(line));
    peer.on('connection', (conn) => this.incoming(new PeerLink(conn, this.log)));
  }

  get peerId(): string {
    return this.peer.id;
  }

  /** Opens a connection to `peerId`; await `link.opened`. */
  dial(peerId: string, label: string, serialization: 'raw' | 'json', metadata?: unknown): PeerLink {
    return new PeerLink(this.peer.connect(peerId, { label, serialization, reliable: true, metadata }), this.log);
  }

  /** Dials and waits until the link opens; one that has not within `timeoutMs` (a peer gone or not back yet: PeerJS itself may never settle) is closed, and the promise rejects. */
  async dialOpen(peerId: string, label: string, serialization: 'raw' | 'json', timeoutMs: number): Promise<PeerLink> {
    const link = this.dial(peerId, label, serialization);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silence = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${peerId} did not open '${label}' within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([link.opened, silence]);
    } catch (e) {
      link.close(`${peerId} did not answer`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return link;
  }

  /** Closes every incoming link with `label`: a link this tab only ever dials itself. */
  refuseIncoming(label: string): void {
    this.onIncoming((link) => {
      if (link.label !== label) return false;
      link.close();
      return true;
    });
  }

  /** Incoming links with `label` go to `onOpen` once `admit` says yes for their peer and they are open; the others are closed. */
  acceptIncoming(label: string, admit: (peerId: string) => Promise<boolean>, onOpen: (link: PeerLink) => void): void {
    this.onIncoming((link) => {
      if (link.label !== label) return false;
      void Promise.all([admit(link.peerId), link.opened]).then(
        ([yes]) => (yes ? onOpen(link) : link.close()),
        () => link.close(),
      );
      return true;
    });
  }

  /** Waits for (or takes an already arrived) incoming link with this label from this peer. */
  accept(label: string, fromPeerId: string, timeoutMs: number): Promise<PeerLink> {
    const match = (l: PeerLink) => l.label === label && l.peerId === fromPeerId && !l.isClosed;
    const arrived = [...this.unclaimed.keys()].find(match);
    if (arrived) return Promise.resolve(this.claim(arrived));
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
    for (const l of [...this.unclaimed.keys()]) if (handler(l)) this.claim(l);
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
    for (const l of [...this.unclaimed.keys()]) this.claim(l).close();
    this.peer.destroy();
  }

  private incoming(link: PeerLink): void {
    const serialization = expectedSerialization(link.label);
    if (serialization === null) return link.refuse(`label '${link.label}' is not one this tab expects`);
    if (link.conn.serialization !== serialization) return link.refuse(`serialization '${link.conn.serialization}', this label uses '${serialization}'`);
    const w = this.waiters.findIndex((x) => x.match(link));
    if (w >= 0) return this.waiters.splice(w, 1)[0]!.resolve(link);
    for (const h of this.handlers) if (h(link)) return;
    this.holdUnclaimed(link);
  }

  /** Keeps an expected link for an owner that has not asked yet, for MESH_LIMITS.unclaimedLinkMs at most. */
  private holdUnclaimed(link: PeerLink): void {
    const limitMs = MESH_LIMITS.unclaimedLinkMs;
    this.unclaimed.set(
      link,
      setTimeout(() => {
        this.claim(link);
        link.refuse(`nobody claimed it within ${limitMs} ms (limit unclaimedLinkMs)`);
      }, limitMs),
    );
    link.onClose(() => this.claim(link));
  }

  /** Takes `link` out of the unclaimed set (and stops its timer); returns it. */
  private claim(link: PeerLink): PeerLink {
    clearTimeout(this.unclaimed.get(link));
    this.unclaimed.delete(link);
    return link;
  }
}
