/**
 * A control link: small JSON messages between the host tab and one worker tab over a PeerJS 'json'
 * connection labelled `vi-control`, beside the binary tensor mesh. The link knows nothing of what
 * the messages mean: it caps their size, checks each with the protocol it is given (the app's,
 * src/app/protocol.ts), keeps a heartbeat, and closes when the far side goes silent.
 * A worker opens exactly one control link, to the host peer id the room API gave it, and refuses
 * every control link dialled to it; the host accepts them from room members only.
 */
import { CONTROL_LABEL, type PeerHub, type PeerLink } from './mesh/peer-hub.js';

/**
 * Liveness, as the mesh's: each side pings every CONTROL_HEARTBEAT_MS and closes a link it has
 * heard nothing on for CONTROL_SILENCE_MS. Without it a host whose tab hangs with its connection up
 * (ICE stays 'connected') is never noticed.
 */
export const CONTROL_HEARTBEAT_MS = 2_000;
export const CONTROL_SILENCE_MS = 15_000;
/** Control messages are small; anything bigger is a confused or hostile peer. */
export const MAX_CONTROL_CHARS = 64 * 1024;

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    /** bad-message: malformed or over the cap; not-allowed: well-formed, but not from that side; closed: the link is down. */
    readonly code: 'bad-message' | 'not-allowed' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

/** What a link checks its messages with, for one direction (what the far side may send). */
export interface ControlProtocol<M> {
  /** Checks one untrusted message, already JSON; throws ControlError naming what is wrong. */
  parse(raw: Readonly<Record<string, unknown>>): M;
  /** The heartbeat: sent every CONTROL_HEARTBEAT_MS; on receipt a sign of life that reaches no handler. */
  readonly ping: M;
  isPing(m: M): boolean;
}

export interface ControlLiveness {
  readonly heartbeatMs?: number;
  readonly silenceMs?: number;
}

/** Validates one untrusted message of a link: size, JSON, an object, then the protocol's own check. */
export function readControlMessage<M>(raw: unknown, protocol: ControlProtocol<M>): M {
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw) ?? '';
  if (text.length > MAX_CONTROL_CHARS) throw new ControlError('bad-message', `control message over ${MAX_CONTROL_CHARS} characters`);
  let m: unknown = raw;
  if (typeof raw === 'string') {
    try {
      m = JSON.parse(raw);
    } catch {
      throw new ControlError('bad-message', 'control message is not JSON');
    }
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ControlError('bad-message', `control message is ${Array.isArray(m) ? 'an array' : typeof m}, not an object`);
  return protocol.parse(m as Record<string, unknown>);
}

/** One control link with validation and a heartbeat; closed ("silent for N ms") once nothing has arrived for silenceMs. */
export class ControlEndpoint<M> {
  private readonly handlers: ((m: M, from: string) => void)[] = [];
  private readonly errorHandlers: ((e: ControlError, from: string) => void)[] = [];

  constructor(
    readonly link: PeerLink,
    private readonly protocol: ControlProtocol<M>,
    liveness: ControlLiveness = {},
  ) {
    link.keepAlive({
      intervalMs: liveness.heartbeatMs ?? CONTROL_HEARTBEAT_MS,
      silenceMs: liveness.silenceMs ?? CONTROL_SILENCE_MS,
      ping: () => void link.conn.send(protocol.ping),
    });
  }

  get peerId(): string {
    return this.link.peerId;
  }

  send(m: M): void {
    if (this.link.isClosed) throw new ControlError('closed', `control link to ${this.peerId} is closed`);
    void this.link.conn.send(m);
  }

  /** The first handler starts delivery, including messages that arrived before it (the link buffers them). */
  onMessage(h: (m: M, from: string) => void): void {
    this.handlers.push(h);
    if (this.handlers.length === 1) this.link.setDataHandler((raw) => this.onRaw(raw));
  }

  onError(h: (e: ControlError, from: string) => void): void {
    this.errorHandlers.push(h);
  }

  private onRaw(raw: unknown): void {
    let m: M;
    try {
      m = readControlMessage(raw, this.protocol);
    } catch (e) {
      const err = e instanceof ControlError ? e : new ControlError('bad-message', String(e));
      for (const h of this.errorHandlers) h(err, this.peerId);
      return;
    }
    if (this.protocol.isPing(m)) return; // liveness only: PeerLink.lastDataAt has seen it
    for (const h of this.handlers) h(m, this.peerId);
  }
}

/** Worker side: refuse every incoming control link (nobody may command this tab over a link it did not dial). */
export function refuseControlLinks(hub: PeerHub): void {
  hub.refuseIncoming(CONTROL_LABEL);
}

/** Worker side: dial the host's control link; rejects when it does not open within `timeoutMs`. Call `refuseControlLinks` once per hub as well. */
export async function connectToHost<M>(hub: PeerHub, hostPeerId: string, timeoutMs: number, fromHost: ControlProtocol<M>): Promise<ControlEndpoint<M>> {
  return new ControlEndpoint(await hub.dialOpen(hostPeerId, CONTROL_LABEL, 'json', timeoutMs), fromHost);
}

/** Host side: accept control links from room members only (`isMember` asks the room API). */
export function acceptWorkers<M>(hub: PeerHub, isMember: (peerId: string) => Promise<boolean>, fromMember: ControlProtocol<M>, onWorker: (ep: ControlEndpoint<M>) => void): void {
  hub.acceptIncoming(CONTROL_LABEL, isMember, (link) => onWorker(new ControlEndpoint(link, fromMember)));
}
