import { describe, expect, it } from 'vitest';
import { SendQueue, type ChannelLike, type FrameSource } from './send-queue.js';

/** A data channel whose network drains only when the test says so. */
class FakeChannel extends EventTarget implements ChannelLike {
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  readyState = 'open';
  sent: number[] = [];
  maxBuffered = 0;
  send(data: ArrayBuffer): void {
    if (this.readyState !== 'open') throw new Error('InvalidStateError');
    this.sent.push(data.byteLength);
    this.bufferedAmount += data.byteLength;
    this.maxBuffered = Math.max(this.maxBuffered, this.bufferedAmount);
  }
  drain(bytes: number): void {
    const before = this.bufferedAmount;
    this.bufferedAmount = Math.max(0, before - bytes);
    if (before > this.bufferedAmountLowThreshold && this.bufferedAmount <= this.bufferedAmountLowThreshold) this.dispatchEvent(new Event('bufferedamountlow'));
  }
  close(): void {
    this.readyState = 'closed';
    this.dispatchEvent(new Event('close'));
  }
}

function frames(n: number, bytes: number): FrameSource {
  let i = 0;
  return { next: () => (i++ < n ? new ArrayBuffer(bytes) : null) };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('SendQueue', () => {
  it('sends while under the high-water mark, then waits for bufferedamountlow', async () => {
    const ch = new FakeChannel();
    const q = new SendQueue(ch, { highWaterBytes: 1000, lowWaterBytes: 200 });
    expect(ch.bufferedAmountLowThreshold).toBe(200);
    let done = false;
    void q.enqueue(frames(20, 100)).then(() => (done = true));
    expect(ch.sent).toHaveLength(10); // stopped at 1000 buffered bytes
    await tick();
    expect(done).toBe(false);
    ch.drain(700); // 300 left: above low water, no event, nothing more sent
    expect(ch.sent).toHaveLength(10);
    ch.drain(100); // crosses 200: event → sends 8 more up to 1000
    expect(ch.sent).toHaveLength(18);
    ch.drain(1000);
    await tick();
    expect(ch.sent).toHaveLength(20);
    expect(done).toBe(true);
    expect(ch.maxBuffered).toBeLessThanOrEqual(1000);
  });

  it('keeps messages in order and lets urgent frames pass bulk ones', async () => {
    const ch = new FakeChannel();
    const q = new SendQueue(ch, { highWaterBytes: 300, lowWaterBytes: 100 });
    const order: string[] = [];
    void q.enqueue(frames(5, 100)).then(() => order.push('a'));
    void q.enqueue(frames(1, 100)).then(() => order.push('b'));
    void q.enqueue(frames(1, 7), { urgent: true }).then(() => order.push('ping'));
    expect(ch.sent).toEqual([100, 100, 100]);
    ch.drain(300);
    expect(ch.sent.slice(3)).toEqual([7, 100, 100, 100]); // ping first, then a's last two, then b
    await tick();
    expect(order).toEqual(['ping', 'a', 'b']);
  });

  it('rejects queued and later messages when the channel closes', async () => {
    const ch = new FakeChannel();
    const q = new SendQueue(ch, { highWaterBytes: 100, lowWaterBytes: 10 });
    const p = q.enqueue(frames(5, 100));
    ch.close();
    await expect(p).rejects.toThrow(/closed/);
    await expect(q.enqueue(frames(1, 1))).rejects.toThrow(/closed/);
  });

  it('rejects when send throws', async () => {
    const ch = new FakeChannel();
    ch.send = () => {
      throw new Error('OperationError: too big');
    };
    const q = new SendQueue(ch);
    await expect(q.enqueue(frames(1, 1))).rejects.toThrow(/too big/);
  });
});
