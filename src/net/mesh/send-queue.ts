/**
 * A send queue with back-pressure for one RTCDataChannel. Pure (works on any `ChannelLike`);
 * unit-tested in Node with a fake channel.
 *
 * Frames go to the channel while its `bufferedAmount` stays under the high-water mark; past it, the
 * queue waits for the channel's `bufferedamountlow` event (threshold = low-water mark), never a
 * polling timer (PeerJS's older buffered connection polls every 50 ms into an unbounded queue,
 * which adds latency and lets memory grow; its newer stream connection waits on the event).
 * Messages are frame sources, pulled one frame at a time, so a queued 8 MB tensor costs no second
 * copy until it is sent. Urgent sources (heartbeats, pongs) go before the next frame of a bulk
 * message.
 */

export interface ChannelLike {
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  readonly readyState: string;
  send(data: ArrayBuffer | ArrayBufferView<ArrayBuffer>): void;
  addEventListener(type: 'bufferedamountlow' | 'close', listener: () => void): void;
  removeEventListener(type: 'bufferedamountlow' | 'close', listener: () => void): void;
}

export interface FrameSource {
  /** The next frame (may reuse one buffer: it is sent before the next call), or null when exhausted. */
  next(): ArrayBuffer | ArrayBufferView<ArrayBuffer> | null;
}

export interface SendQueueOptions {
  /**
   * Stop handing frames to the channel above this many buffered bytes. Chromium closes a channel
   * whose send buffer overflows (about 16 MB, peerjs#291); 4 MiB keeps well clear of that while
   * holding enough in flight to fill a LAN link (measured in scripts/bench-net.ts).
   */
  readonly highWaterBytes?: number;
  /** Resume when the buffer drains to this (the channel's bufferedAmountLowThreshold). */
  readonly lowWaterBytes?: number;
}

export const DEFAULT_HIGH_WATER_BYTES = 4 * 1024 * 1024;
export const DEFAULT_LOW_WATER_BYTES = 1024 * 1024;

interface Entry {
  readonly source: FrameSource;
  /** The next frame to send, fetched ahead so the entry resolves as soon as its last frame is sent. */
  ahead: ArrayBuffer | ArrayBufferView<ArrayBuffer> | null | undefined;
  resolve(): void;
  reject(e: Error): void;
}

export class SendQueue {
  private readonly bulk: Entry[] = [];
  private readonly urgent: Entry[] = [];
  private readonly high: number;
  private waiting = false;
  private failed: Error | null = null;
  private readonly onLow = () => {
    this.waiting = false;
    this.pump();
  };
  private readonly onClose = () => this.fail(new Error('data channel closed'));

  constructor(
    private readonly channel: ChannelLike,
    options: SendQueueOptions = {},
  ) {
    this.high = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
    const low = options.lowWaterBytes ?? DEFAULT_LOW_WATER_BYTES;
    if (!(low < this.high)) throw new RangeError(`lowWaterBytes (${low}) must be below highWaterBytes (${this.high})`);
    channel.bufferedAmountLowThreshold = low;
    channel.addEventListener('bufferedamountlow', this.onLow);
    channel.addEventListener('close', this.onClose);
  }

  /** Resolves once every frame of `source` has been handed to the channel. */
  enqueue(source: FrameSource, options: { urgent?: boolean } = {}): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      (options.urgent ? this.urgent : this.bulk).push({ source, ahead: undefined, resolve, reject });
      this.pump();
    });
  }

  /** Sources not yet fully sent. */
  get length(): number {
    return this.bulk.length + this.urgent.length;
  }

  /** Rejects everything queued; later enqueues reject at once. */
  fail(error: Error): void {
    if (this.failed) return;
    this.failed = error;
    this.channel.removeEventListener('bufferedamountlow', this.onLow);
    this.channel.removeEventListener('close', this.onClose);
    for (const e of [...this.urgent.splice(0), ...this.bulk.splice(0)]) e.reject(error);
  }

  private pump(): void {
    while (!this.failed && !this.waiting) {
      const entry = this.urgent[0] ?? this.bulk[0];
      if (!entry) return;
      if (this.channel.readyState !== 'open') return this.fail(new Error(`data channel is ${this.channel.readyState}`));
      const buffered = this.channel.bufferedAmount;
      // Wait only while the buffer is above the low mark, else the low event might never fire.
      if (buffered >= this.high && buffered > this.channel.bufferedAmountLowThreshold) {
        this.waiting = true;
        return;
      }
      try {
        if (entry.ahead === undefined) entry.ahead = entry.source.next();
        if (entry.ahead) {
          this.channel.send(entry.ahead);
          entry.ahead = entry.source.next();
        }
      } catch (e) {
        return this.fail(e instanceof Error ? e : new Error(String(e)));
      }
      if (entry.ahead === null) {
        (entry === this.urgent[0] ? this.urgent : this.bulk).shift();
        entry.resolve();
      }
    }
  }
}
