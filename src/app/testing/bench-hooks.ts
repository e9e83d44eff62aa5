/**
 * Measurement loops for scripts/bench-net.ts and scripts/bench-exchange.ts, run inside worker tabs
 * through window.__vi.bench.
 * Each pairwise loop is called on both tabs at once (one 'send', one 'recv'). The bare loop uses
 * its own PeerJS 'raw' connection and the RTCDataChannel directly: same chunk size and the same
 * back-pressure rule as the mesh, but no framing, no reassembly, no tags: the baseline.
 */
import type { MessageTag, WireTensor } from '../../engine/collective.js';
import { allGatherP2P, exchangeHaloP2P, type PointToPoint } from '../../engine/collective-ops.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';
import { BENCH_LABEL_PREFIX, type PeerHub, type PeerLink } from '../../net/mesh/peer-hub.js';
import { DEFAULT_CHUNK_BYTES } from '../../net/mesh/chunker.js';
import { DEFAULT_HIGH_WATER_BYTES, DEFAULT_LOW_WATER_BYTES } from '../../net/mesh/send-queue.js';
import { tensorOverBuffer } from '../../net/wire-tensor.js';

const BENCH_JOB = 0xbe0c;
/** Shortest compute wait the replay asks a timer for (chained timers are clamped to ~4 ms). */
const MIN_WAIT_MS = 5;

export type Role = 'send' | 'recv';

/** One exchange point of a replayed step: what this tab sends (payload bytes), as the real exchange does. */
export interface ReplayExchange {
  pointIndex: number;
  kind: 'stats' | 'halo' | 'attention';
  /** To each neighbour that exists (temporal-conv halo, or attention window). */
  haloBytes: number;
  /** To every other rank of the group (attention globals, or float64 statistics); 0: no gather at this step. */
  gatherBytes: number;
  /**
   * 'sync': send and wait (exact); 'overlap': send without waiting, wait for the previous step's
   * exchange at this point (stale); 'previous': send nothing, wait for the previous step's (stale, last step).
   */
  timing: 'sync' | 'overlap' | 'previous';
  /** Whether this step runs the all-gather (sparse-global skips it on most local-phase steps). */
  gathers: boolean;
}

/** One step: per segment, a compute wait, then its exchange points (concurrently); then the ε swap (CFG split). */
export interface ReplayStepSpec {
  segments: { computeMs: number; exchanges: ReplayExchange[] }[];
  /** CFG split: ε payload to and from the partner tab after the last segment; 0: none. */
  partnerBytes: number;
}

/** A tab's whole replay (src/model/exchange-replay.ts builds the steps). */
export interface ReplaySpec {
  firstStep: number;
  steps: ReplayStepSpec[];
  /** Mesh ranks that exchange with each other, in clip order, this tab among them (CFG split: my branch's tabs); absent: the whole mesh. */
  group?: number[];
  /** CFG split: the mesh rank of the other branch's tab of my clip. */
  partner?: number;
}

export interface ReplayStep {
  wallMs: number;
  /** bytesSent: payload sent with this step's tag (whenever it left); bytesReceived: whatever arrived during the step. */
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
   * same collective operations as the engine's ClipExchange (halo: exchangeHalo; attention:
   * exchangeHalo of the window and allGather of the globals; stats: allGather), waited for as the
   * step's timing says (stale: this step's parts travel while later segments compute; what is
   * awaited is the previous step's). With a `group` (CFG split) the operations run over that
   * group's ranks (collective-ops on point-to-point messages, as the engine's rank groups do), and
   * each step ends with the ε swap with `partner`. Payloads are zero bytes of the real sizes. Every
   * rank calls it with its own spec and the same `firstStep` and step count.
   */
  async replay(spec: ReplaySpec): Promise<ReplayStep[]> {
    const m = this.mesh();
    const group = spec.group ?? Array.from({ length: m.worldSize }, (_, r) => r);
    const me = group.indexOf(m.rank);
    if (me < 0) throw new Error(`replay: rank ${m.rank} is not in its group [${group.join(', ')}]`);
    // Bytes are counted per step of the tag they carry once sent: a stale step's sends finish during the next step.
    const sentByStep = spec.steps.map(() => 0);
    const sendCounted = async (to: number, tag: MessageTag, t: WireTensor) => {
      await m.send(to, tag, t);
      sentByStep[tag.step - spec.firstStep]! += t.data.byteLength;
    };
    const ops: PointToPoint = { rank: me, worldSize: group.length, send: (r, tag, t) => sendCounted(group[r]!, tag, t), recv: (r, tag) => m.recv(group[r]!, tag) };
    const buffers = new Map<number, ArrayBuffer>();
    const payload = (bytes: number) => {
      if (!buffers.has(bytes)) buffers.set(bytes, new ArrayBuffer(bytes));
      return tensorOverBuffer('uint8', [bytes], buffers.get(bytes)!);
    };
    const hasLeft = me > 0;
    const hasRight = me < group.length - 1;
    const halo = (tag: MessageTag, bytes: number) => exchangeHaloP2P(ops, tag, hasLeft ? payload(bytes) : null, hasRight ? payload(bytes) : null);
    const gather = (tag: MessageTag, bytes: number) => allGatherP2P(ops, tag, payload(bytes));
    const fetch = (e: ReplayExchange, step: number): Promise<unknown> => {
      const tag = (kind: MessageTag['kind']): MessageTag => ({ jobId: BENCH_JOB, step, pointId: e.pointIndex, kind });
      if (e.kind === 'halo') return halo(tag('halo'), e.haloBytes);
      if (e.kind === 'stats') return gather(tag('stats-reduce'), e.gatherBytes);
      return Promise.all([halo(tag('halo'), e.haloBytes), e.gathers ? gather(tag('global-gather'), e.gatherBytes) : null]);
    };
    /** Per point, the latest step's fetch (stale awaits it one step later). */
    const latest = new Map<number, Promise<unknown>>();
    const one = async (e: ReplayExchange, step: number): Promise<unknown> => {
      const previous = latest.get(e.pointIndex);
      if (e.timing === 'previous') {
        latest.delete(e.pointIndex);
        return previous;
      }
      const now = fetch(e, step);
      now.catch(() => {}); // a failure surfaces where it is awaited (now or next step)
      latest.set(e.pointIndex, now);
      return e.timing === 'overlap' && previous ? previous : now;
    };
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    await m.barrier({ jobId: BENCH_JOB, step: spec.firstStep, pointId: 0xffff, kind: 'barrier' });
    const out: ReplayStep[] = [];
    for (const [i, s] of spec.steps.entries()) {
      const step = spec.firstStep + i;
      const before = m.stats();
      const t0 = performance.now();
      let computeMs = 0;
      // Timers fire no sooner than ~4 ms once chained, so short waits are owed and paid together
      // (an overshoot is taken off the next ones): the step's compute total stays what was asked.
      let owedMs = 0;
      const pay = async (atLeastMs: number) => {
        if (owedMs < atLeastMs || owedMs <= 0) return;
        const c0 = performance.now();
        await sleep(owedMs);
        const took = performance.now() - c0;
        computeMs += took;
        owedMs -= took;
      };
      for (const seg of s.segments) {
        owedMs += seg.computeMs;
        await pay(MIN_WAIT_MS);
        if (seg.exchanges.length) await Promise.all(seg.exchanges.map((e) => one(e, step)));
      }
      await pay(0);
      if (s.partnerBytes > 0) {
        if (spec.partner === undefined) throw new Error('replay: a step swaps ε but the spec names no partner');
        const tag: MessageTag = { jobId: BENCH_JOB, step, pointId: 0xfffe, kind: 'p2p' };
        await Promise.all([sendCounted(spec.partner, tag, payload(s.partnerBytes)), m.recv(spec.partner, tag)]);
      }
      const after = m.stats();
      out.push({ wallMs: performance.now() - t0, computeMs, bytesSent: 0, bytesReceived: after.bytesReceived - before.bytesReceived });
    }
    await Promise.all([...latest.values()]); // sends still in flight (none after a stale job's last step)
    out.forEach((o, i) => (o.bytesSent = sentByStep[i]!));
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
