/**
 * Test doubles for PeerJS's `Peer` and `DataConnection`: just the surface `PeerHub`, `PeerLink` and
 * `MeshCollective` use, so the hub and the mesh can be driven from Node (peer-hub.test.ts,
 * mesh-collective.test.ts). A test plays the far side: `emit('data', ...)` is a message arriving.
 */
import type { ChannelLike } from './send-queue.js';

type Listener = (...args: unknown[]) => void;

/** A data channel that accepts everything at once and records what was sent. */
export class FakeChannel implements ChannelLike {
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  readyState = 'open';
  readonly sent: Uint8Array[] = [];

  send(data: ArrayBuffer | ArrayBufferView<ArrayBuffer>): void {
    const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.sent.push(view.slice()); // senders reuse their buffer
  }

  addEventListener(): void {}
  removeEventListener(): void {}
}

export class FakeConnection {
  open = true;
  readonly dataChannel = new FakeChannel();
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    /** The far side's peer id. */
    readonly peer: string,
    readonly label: string,
    readonly serialization: string,
  ) {}

  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  emit(event: string, ...args: unknown[]): void {
    for (const l of this.listeners.get(event) ?? []) l(...args);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.dataChannel.readyState = 'closed';
    this.emit('close');
  }
}

export class FakePeer {
  destroyed = false;
  disconnected = false;
  /** Connections this side dialled, in order. */
  readonly dialled: FakeConnection[] = [];
  private onConnection: ((conn: FakeConnection) => void) | null = null;

  constructor(readonly id: string) {}

  on(event: string, listener: (conn: FakeConnection) => void): this {
    if (event === 'connection') this.onConnection = listener;
    return this;
  }

  connect(peerId: string, options: { label: string; serialization: string }): FakeConnection {
    const conn = new FakeConnection(peerId, options.label, options.serialization);
    this.dialled.push(conn);
    return conn;
  }

  /** A far side dials this peer. */
  incoming(fromPeerId: string, label: string, serialization = 'raw'): FakeConnection {
    const conn = new FakeConnection(fromPeerId, label, serialization);
    this.onConnection?.(conn);
    return conn;
  }

  reconnect(): void {
    this.disconnected = false;
  }

  destroy(): void {
    this.destroyed = true;
  }
}
