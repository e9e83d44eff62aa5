/**
 * Measurement loops for scripts/bench-net.ts and scripts/bench-exchange.ts, run inside worker tabs
 * through window.__vi.bench.
 * Each pairwise loop is called on both tabs at once (one 'send', one 'recv'). The bare loop uses
 * its own PeerJS 'raw' connection and the RTCDataChannel directly: same chunk size and the same
 * back-pressure rule as the mesh, but no framing, no reassembly, no tags: the baseline.
 */
import type { MessageTag } from '../../engine/collective.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';
import { BENCH_LABEL_PREFIX, type PeerHub, type PeerLink } from '../../net/mesh/peer-hub.js';
import { DEFAULT_CHUNK_BYTES } from '../../net/mesh/chunker.js';
import { DEFAULT_HIGH_WATER_BYTES, DEFAULT_LOW_WATER_BYTES } from '../../net/mesh/send-queue.js';
import { tensorOverBuffer } from '../../net/wire-tensor.js';

const BENCH_JOB = 0xbe0c;

export type Role = 'send' | 'recv';

/** One exchange point of a replayed step: what this tab sends (payload bytes), as the real exchange does. */
export interface ReplayExchange {
  pointIndex: number;
  kind: 'stats' | 'halo' | 'attention';
  /** To each neighbour that exists (temporal-conv halo, or attention window). */
  haloBytes: number;
  /** To every other rank (attention globals, or float64 statistics). */
  gatherBytes: number;
}

/** One step of a package's exchange pattern: per segment, a compute wait, then its exchange points (concurrently). */
export interface ReplaySpec {
  firstStep: number;
  steps: number;
  segments: { computeMs: number; exchanges: ReplayExchange[] }[];
}

export interface ReplayStep {
  wallMs: number;
  /** Time actually spent in the compute waits (timers may overshoot the asked figure). */
  computeMs: number;
  bytesSent: number;
  bytesReceived: number;
}

export class BenchHooks {
  private bare: RTCDataChannel | null = null;
  private bareLink: PeerLink | null = null;
  private bareInbox: ((d: ArrayBuffer) => void) | null = null;
  private readonly bareQueue: ArrayBuffer[] = [];

  constructor(
    private readonly mesh: () => MeshCollective,
    private readonly hub: () => PeerHub,
  ) {}

  /**
   * Tensor of `bytes` to/from `peerRank`, answered by an empty ack; ms per repetition (sender).
   * `firstStep` must be the same on both tabs (the caller counts steps, tabs don't share a clock).
   */
  async meshTransfer(role: Role, peerRank: number, bytes: number, reps: number, firstStep: number): Promise<number[]> {
    const m = this.mesh();
    const times: number[] = [];
    const payload = tensorOverBuffer('uint8', [bytes], new ArrayBuffer(bytes));
    const empty = tensorOverBuffer('uint8', [0], new ArrayBuffer(0));
    for (let i = 0; i < reps; i++) {
      const step = firstStep + i;
      const data: MessageTag = { jobId: BENCH_JOB, step, pointId: 1, kind: 'p2p' };
      const ack: MessageTag = { jobId: BENCH_JOB, step, pointId: 2, kind: 'p2p' };
      if (role === 'send') {
        const t0 = performance.now();
        await m.send(peerRank, data, payload);
        await m.recv(peerRank, ack);
        times.push(performance.now() - t0);
      } else {
        await m.recv(peerRank, data);
        await m.send(peerRank, ack, empty);
      }
    }
    return times;
  }

  /** Small-message round trips over the mesh (ping frame, pong frame), ms. */
  async meshRtt(peerRank: number, n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await this.mesh().probe(peerRank, 0));
    return out;
  }

  /** Halo exchange of `bytes` per direction on every rank (all ranks call it with the same `firstStep`), ms per repetition. */
  async halo(bytes: number, reps: number, firstStep: number): Promise<number[]> {
    const m = this.mesh();
    const t = () => tensorOverBuffer('uint8', [bytes], new ArrayBuffer(bytes));
    const out: number[] = [];
    for (let i = 0; i < reps; i++) {
      const step = firstStep + i;
      await m.barrier({ jobId: BENCH_JOB, step, pointId: 3, kind: 'barrier' });
      const t0 = performance.now();
      await m.exchangeHalo({ jobId: BENCH_JOB, step, pointId: 4, kind: 'halo' }, m.rank > 0 ? t() : null, m.rank < m.worldSize - 1 ? t() : null);
      out.push(performance.now() - t0);
    }
    return out;
  }

  /**
   * Replays a package's exchange pattern on the mesh (bench:exchange): every step runs the segments
   * in plan order, each a wait of its compute time, then its exchange points at once, through the
   * same collective calls as the engine's ClipExchange (halo: exchangeHalo; attention: exchangeHalo
   * of the window and allGather of the globals; stats: allGather). Payloads are zero bytes of the
   * real sizes. Every rank calls it with the same spec (per-rank sizes) and `firstStep`.
   */
  async replay(spec: ReplaySpec): Promise<ReplayStep[]> {
    const m = this.mesh();
    const buffers = new Map<number, ArrayBuffer>();
    const payload = (bytes: number) => {
      if (!buffers.has(bytes)) buffers.set(bytes, new ArrayBuffer(bytes));
      return tensorOverBuffer('uint8', [bytes], buffers.get(bytes)!);
    };
    const hasLeft = m.rank > 0;
    const hasRight = m.rank < m.worldSize - 1;
    const halo = (tag: MessageTag, bytes: number) => m.exchangeHalo(tag, hasLeft ? payload(bytes) : null, hasRight ? payload(bytes) : null);
    const one = (e: ReplayExchange, step: number): Promise<unknown> => {
      const tag = (kind: MessageTag['kind']): MessageTag => ({ jobId: BENCH_JOB, step, pointId: e.pointIndex, kind });
      if (e.kind === 'halo') return halo(tag('halo'), e.haloBytes);
      if (e.kind === 'stats') return m.allGather(tag('stats-reduce'), payload(e.gatherBytes));
      return Promise.all([halo(tag('halo'), e.haloBytes), m.allGather(tag('global-gather'), payload(e.gatherBytes))]);
    };
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    await m.barrier({ jobId: BENCH_JOB, step: spec.firstStep, pointId: 0xffff, kind: 'barrier' });
    const out: ReplayStep[] = [];
    for (let i = 0; i < spec.steps; i++) {
      const step = spec.firstStep + i;
      const before = m.stats();
      const t0 = performance.now();
      let computeMs = 0;
      for (const seg of spec.segments) {
        const c0 = performance.now();
        if (seg.computeMs > 0) await sleep(seg.computeMs);
        computeMs += performance.now() - c0;
        if (seg.exchanges.length) await Promise.all(seg.exchanges.map((e) => one(e, step)));
      }
      const after = m.stats();
      out.push({ wallMs: performance.now() - t0, computeMs, bytesSent: after.bytesSent - before.bytesSent, bytesReceived: after.bytesReceived - before.bytesReceived });
    }
    return out;
  }

  /** Opens the bare channel to `peerRank` (both tabs call it; the lower rank dials). */
  async bareOpen(peerRank: number): Promise<void> {
    const m = this.mesh();
    const peerId = m.roster.peerIds[peerRank]!;
    const label = `${BENCH_LABEL_PREFIX}${m.rank < peerRank ? m.rank : peerRank}-${m.rank < peerRank ? peerRank : m.rank}`;
    const link = m.rank < peerRank ? this.hub().dial(peerId, label, 'raw') : await this.hub().accept(label, peerId, 30_000);
    await link.opened;
    link.setDataHandler(() => undefined); // bypass PeerJS events: listen on the channel itself
    const dc = link.conn.dataChannel;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = DEFAULT_LOW_WATER_BYTES;
    dc.addEventListener('message', (e: MessageEvent) => (this.bareInbox ? this.bareInbox(e.data as ArrayBuffer) : this.bareQueue.push(e.data as ArrayBuffer)));
    this.bare = dc;
    this.bareLink = link;
  }

  bareClose(): void {
    this.bareLink?.close();
    this.bare = null;
  }

  /** `bytes` in 64 KiB messages, then a 1-byte ack back; ms per repetition (sender). */
  async bareTransfer(role: Role, bytes: number, reps: number): Promise<number[]> {
    const dc = this.bare!;
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      if (role === 'send') {
        const acked = this.nextBare();
        const t0 = performance.now();
        await this.bareSend(dc, bytes);
        await acked;
        times.push(performance.now() - t0);
      } else {
        let got = 0;
        while (got < bytes) got += (await this.nextBare()).byteLength;
        dc.send(new ArrayBuffer(1));
      }
    }
    return times;
  }

  /** 1-byte ping, 1-byte echo on the bare channel; ms (sender). */
  async bareRtt(role: Role, n: number): Promise<number[]> {
    const dc = this.bare!;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      if (role === 'send') {
        const echoed = this.nextBare();
        const t0 = performance.now();
        dc.send(new ArrayBuffer(1));
        await echoed;
        out.push(performance.now() - t0);
      } else {
        await this.nextBare();
        dc.send(new ArrayBuffer(1));
      }
    }
    return out;
  }

  private nextBare(): Promise<ArrayBuffer> {
    const queued = this.bareQueue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      this.bareInbox = (d) => {
        this.bareInbox = null;
        resolve(d);
      };
    });
  }

  private async bareSend(dc: RTCDataChannel, bytes: number): Promise<void> {
    const chunk = new ArrayBuffer(DEFAULT_CHUNK_BYTES);
    for (let sent = 0; sent < bytes; ) {
      if (dc.bufferedAmount >= DEFAULT_HIGH_WATER_BYTES) {
        await new Promise<void>((r) => dc.addEventListener('bufferedamountlow', () => r(), { once: true }));
        continue;
      }
      const n = Math.min(DEFAULT_CHUNK_BYTES, bytes - sent);
      dc.send(n === DEFAULT_CHUNK_BYTES ? chunk : chunk.slice(0, n));
      sent += n;
    }
  }
}
