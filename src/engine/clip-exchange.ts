/**
 * Exchange points over the `Collective` (docs/exchange-points.md): what a clip sends and
 * how it assembles what it receives into the next segment's input. The segment executor talks to
 * an `Exchanger`; `ClipExchange` is the network one, and parity tests can plug in a fixture-backed
 * one instead and reuse the real executor.
 *
 * Per point kind (send/receive layouts as src/model/segment-plan.ts fixes them):
 * - stats:     send [B, G, 2] = (mean, M2) of my own frames, count = F·countPerFrame. All ranks
 *              all-gather (count, mean, M2) in float64 and combine them in rank order with Chan's
 *              parallel formula; receive [B, G, 2] = full-video (mean, biased var), float32.
 * - halo:      send [B, C, 2k, H, W] = my first k then my last k frames; the first k go left, the last
 *              k right. Receive [B, C, 2k, H, W] = left neighbour's last k, right neighbour's first k
 *              (zeros at the video ends; tconv_window_mask marks them).
 * - attention: send [T, n_send, C] = attention input at attn_send_indices (T = B·H·W tokens). My first
 *              p frames go left, my last p right (halo), my own global frames to everyone (gather).
 *              Receive [T, S_ctx, C] = [left window | right window | G global frames in rank order].
 *
 * Modes: 'exact' (the contract) and 'isolated' (no communication at all: the clip is rendered as an
 * independent video of F frames, for the seam ablation; its layout must be `isolatedLayout`).
 *
 * Everything received is untrusted: dtype and shape are checked before use. Imports only engine
 * contracts; must not import src/net, src/app, peerjs or lit.
 */

import type { ExchangePoint, SegmentPlan } from '../model/segment-plan.js';
import { CollectiveError, type Collective, type MessageTag, type WireTensor } from './collective.js';
import { EngineError } from './errors.js';
import type { HostTensor } from './session-runner.js';
import type { ClipLayout } from './unet-call-inputs.js';

/** Between plan walking and the exchange implementation. */
export interface Exchanger {
  /** The layout the call inputs must be built for (isolated mode: the clip as its own video). */
  readonly layout: ClipLayout;
  /**
   * Performs exchange point `point` (index `pointIndex` in plan.exchangePoints) of UNet call `step`:
   * `sent` is this rank's send output, the result is the next segment's receive input.
   */
  exchange(point: ExchangePoint, pointIndex: number, sent: HostTensor, step: number): Promise<HostTensor>;
}

export type ExchangeMode = 'exact' | 'isolated';

export interface ExchangeCounters {
  exchanges: number;
  /** Wall time spent inside exchanges (includes copying; the collective's waitMs is the network part). */
  exchangeMs: number;
}

export class ClipExchange implements Exchanger {
  private counters: ExchangeCounters = { exchanges: 0, exchangeMs: 0 };

  /**
   * @param collective the job's collective (null or worldSize 1: nothing crosses the network)
   * @param layout     this rank's clip layout (for mode 'isolated': `isolatedLayout(...)`)
   */
  constructor(
    private readonly collective: Collective | null,
    readonly layout: ClipLayout,
    private readonly plan: SegmentPlan,
    private readonly jobId: number,
    readonly mode: ExchangeMode = 'exact',
  ) {
    if (mode !== 'exact' && mode !== 'isolated') throw new EngineError('invalid-argument', `ClipExchange: mode must be 'exact' or 'isolated', got ${JSON.stringify(mode)}`);
    if (mode === 'isolated' && (layout.range.start !== 0 || layout.range.end !== layout.totalFrames)) {
      throw new EngineError('invalid-argument', `ClipExchange: mode 'isolated' needs the clip's own-video layout (isolatedLayout), got range [${layout.range.start}, ${layout.range.end}) of ${layout.totalFrames}`);
    }
  }

  counts(): ExchangeCounters {
    return { ...this.counters };
  }

  /** The network is used only in exact mode with 2+ ranks. */
  private get net(): Collective | null {
    return this.mode === 'exact' && this.collective && this.collective.worldSize > 1 ? this.collective : null;
  }

  async exchange(point: ExchangePoint, pointIndex: number, sent: HostTensor, step: number): Promise<HostTensor> {
    if (sent.dtype !== 'float32') throw new EngineError('shape-mismatch', `exchange ${point.id}: send output must be float32, got ${sent.dtype}`);
    const t0 = performance.now();
    try {
      switch (point.kind) {
        case 'stats':
          return await this.stats(point, pointIndex, sent.data, step);
        case 'halo':
          return await this.halo(point, pointIndex, sent.data, step);
        case 'attention':
          return await this.attention(point, pointIndex, sent, step);
        default:
          throw new EngineError('invalid-argument', `exchange: unknown point kind ${JSON.stringify((point as { kind?: unknown }).kind)}`);
      }
    } finally {
      this.counters.exchanges++;
      this.counters.exchangeMs += performance.now() - t0;
    }
  }

  private tag(pointIndex: number, step: number, kind: MessageTag['kind']): MessageTag {
    return { jobId: this.jobId, step, pointId: pointIndex, kind };
  }

  // ---------------------------------------------------------------- stats (Chan's parallel formula)

  private async stats(point: Extract<ExchangePoint, { kind: 'stats' }>, pointIndex: number, sent: Float32Array, step: number): Promise<HostTensor> {
    const pairs = this.plan.batch * point.groups; // (b, g) pairs
    expectLength(point.id, 'send', sent.length, 2 * pairs);
    const count = this.layout.frames * point.countPerFrame;
    const mine = new Float64Array(3 * pairs); // per (b, g): count, mean, M2
    for (let i = 0; i < pairs; i++) {
      mine[3 * i] = count;
      mine[3 * i + 1] = sent[2 * i]!;
      mine[3 * i + 2] = sent[2 * i + 1]!;
    }
    const net = this.net;
    const parts: Float64Array[] = net
      ? (await net.allGather(this.tag(pointIndex, step, 'stats-reduce'), { dtype: 'float64', shape: [pairs, 3], data: mine })).map((t, r) =>
          checkWire(t, 'float64', [pairs, 3], point.id, r) as Float64Array)
      : [mine];
    const out = new Float32Array(2 * pairs); // [B, G, 2]: mean, biased var
    for (let i = 0; i < pairs; i++) {
      let n = 0;
      let mean = 0;
      let m2 = 0;
      for (const p of parts) {
        const nb = p[3 * i]!;
        const mb = p[3 * i + 1]!;
        const m2b = p[3 * i + 2]!;
        if (!(nb >= 0) || !Number.isFinite(mb) || !(m2b >= 0)) throw new EngineError('shape-mismatch', `exchange ${point.id}: bad statistics (count ${nb}, mean ${mb}, M2 ${m2b})`);
        if (nb === 0) continue;
        const total = n + nb;
        const delta = mb - mean;
        mean += (delta * nb) / total;
        m2 += m2b + (delta * delta * n * nb) / total;
        n = total;
      }
      out[2 * i] = mean;
      out[2 * i + 1] = n > 0 ? m2 / n : 0;
    }
    return { dtype: 'float32', dims: [this.plan.batch, point.groups, 2], data: out };
  }

  // ---------------------------------------------------------------- halo (temporal conv)

  private async halo(point: Extract<ExchangePoint, { kind: 'halo' }>, pointIndex: number, sent: Float32Array, step: number): Promise<HostTensor> {
    const b = this.plan.batch;
    const k = point.width;
    const plane = point.height * point.widthPx; // H·W
    const rows = b * point.channels; // [B, C] rows of [2k, H·W]
    expectLength(point.id, 'send', sent.length, rows * 2 * k * plane);
    const dims = [b, point.channels, 2 * k, point.height, point.widthPx];
    const out = new Float32Array(sent.length); // zeros where there is no neighbour
    const net = this.net;
    if (!net) return { dtype: 'float32', dims, data: out };
    const half = (second: boolean): Float32Array => {
      const h = new Float32Array(rows * k * plane);
      for (let r = 0; r < rows; r++) h.set(sent.subarray((r * 2 * k + (second ? k : 0)) * plane, (r * 2 * k + (second ? 2 * k : k)) * plane), r * k * plane);
      return h;
    };
    const shape = [b, point.channels, k, point.height, point.widthPx];
    const hasLeft = net.rank > 0;
    const hasRight = net.rank < net.worldSize - 1;
    const got = await net.exchangeHalo(
      this.tag(pointIndex, step, 'halo'),
      hasLeft ? { dtype: 'float32', shape, data: half(false) } : null,
      hasRight ? { dtype: 'float32', shape, data: half(true) } : null,
    );
    const place = (t: WireTensor | null, second: boolean, from: number) => {
      if (!t) return;
      const d = checkWire(t, 'float32', shape, point.id, from) as Float32Array;
      for (let r = 0; r < rows; r++) out.set(d.subarray(r * k * plane, (r + 1) * k * plane), (r * 2 * k + (second ? k : 0)) * plane);
    };
    place(got.fromLeft, false, net.rank - 1);
    place(got.fromRight, true, net.rank + 1);
    return { dtype: 'float32', dims, data: out };
  }

  // ---------------------------------------------------------------- attention (window halo + global gather)

  private async attention(point: Extract<ExchangePoint, { kind: 'attention' }>, pointIndex: number, sent: HostTensor, step: number): Promise<HostTensor> {
    const L = this.layout;
    const p = L.params.window;
    const tokens = point.tokens;
    const c = point.channels;
    const nSend = L.sendLocalFrames.length;
    expectLength(point.id, 'send', sent.data.length, tokens * nSend * c);
    const data = sent.data as Float32Array;
    const rowOf = new Map(L.sendLocalFrames.map((f, i) => [f, i]));
    /** [T, frames.length, C] gathered from the send tensor [T, n_send, C]. */
    const rows = (localFrames: readonly number[]): Float32Array => {
      const n = localFrames.length;
      const out = new Float32Array(tokens * n * c);
      localFrames.forEach((f, j) => {
        const i = rowOf.get(f);
        if (i === undefined) throw new EngineError('invalid-argument', `exchange ${point.id}: frame ${f} is not in attn_send_indices`);
        for (let t = 0; t < tokens; t++) out.set(data.subarray((t * nSend + i) * c, (t * nSend + i + 1) * c), (t * n + j) * c);
      });
      return out;
    };
    const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
    const ownGlobal = rows(L.ownedGlobal.localFrames);
    const g = L.globalFrames.length;
    const net = this.net;
    let fromLeft: Float32Array | null = null;
    let fromRight: Float32Array | null = null;
    let globals: Float32Array[];
    if (!net) {
      globals = [ownGlobal];
    } else {
      const edge = Math.min(p, L.frames);
      const hasLeft = net.rank > 0;
      const hasRight = net.rank < net.worldSize - 1;
      const [halo, gathered] = await Promise.all([
        p > 0
          ? net.exchangeHalo(
              this.tag(pointIndex, step, 'halo'),
              hasLeft ? { dtype: 'float32', shape: [tokens, edge, c], data: rows(range(0, edge)) } : null,
              hasRight ? { dtype: 'float32', shape: [tokens, edge, c], data: rows(range(L.frames - edge, L.frames)) } : null,
            )
          : Promise.resolve({ fromLeft: null, fromRight: null }),
        net.allGather(this.tag(pointIndex, step, 'global-gather'), { dtype: 'float32', shape: [tokens, L.ownedGlobal.localFrames.length, c], data: ownGlobal }),
      ]);
      if (L.leftWindow > 0) fromLeft = checkWire(requireTensor(halo.fromLeft, point.id, net.rank - 1), 'float32', [tokens, L.leftWindow, c], point.id, net.rank - 1) as Float32Array;
      if (L.rightWindow > 0) fromRight = checkWire(requireTensor(halo.fromRight, point.id, net.rank + 1), 'float32', [tokens, L.rightWindow, c], point.id, net.rank + 1) as Float32Array;
      globals = gathered.map((t, r) => {
        if (t.dtype !== 'float32' || t.shape.length !== 3 || t.shape[0] !== tokens || t.shape[2] !== c) throw badWire(point.id, r, t, `float32 [${tokens}, n, ${c}]`);
        return t.data as Float32Array;
      });
    }
    // Context [T, S_ctx, C] = [left window | right window | globals in rank order].
    const parts: { data: Float32Array; n: number }[] = [];
    if (fromLeft) parts.push({ data: fromLeft, n: L.leftWindow });
    if (fromRight) parts.push({ data: fromRight, n: L.rightWindow });
    let gotGlobal = 0;
    for (const d of globals) {
      const n = d.length / (tokens * c);
      parts.push({ data: d, n });
      gotGlobal += n;
    }
    if (gotGlobal !== g) throw new EngineError('shape-mismatch', `exchange ${point.id}: received ${gotGlobal} global frames, the video has ${g}`);
    const sCtx = L.leftWindow + L.rightWindow + g;
    if (sCtx !== L.contextColumns.length) throw new EngineError('shape-mismatch', `exchange ${point.id}: ${sCtx} context rows, layout expects ${L.contextColumns.length}`);
    const out = new Float32Array(tokens * sCtx * c);
    for (let t = 0; t < tokens; t++) {
      let col = 0;
      for (const part of parts) {
        out.set(part.data.subarray(t * part.n * c, (t + 1) * part.n * c), (t * sCtx + col) * c);
        col += part.n;
      }
    }
    return { dtype: 'float32', dims: [tokens, sCtx, c], data: out };
  }
}

function expectLength(id: string, what: string, got: number, want: number): void {
  if (got !== want) throw new EngineError('shape-mismatch', `exchange ${id}: ${what} has ${got} values, expected ${want}`);
}

function badWire(id: string, from: number, t: WireTensor, want: string): CollectiveError {
  return new CollectiveError('bad-message', `exchange ${id}: rank ${from} sent ${t.dtype} [${t.shape.join(', ')}], expected ${want}`, from);
}

function requireTensor(t: WireTensor | null, id: string, from: number): WireTensor {
  if (!t) throw new CollectiveError('bad-message', `exchange ${id}: no halo from rank ${from}`, from);
  return t;
}

function checkWire(t: WireTensor, dtype: 'float32' | 'float64', shape: readonly number[], id: string, from: number): Float32Array | Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== n) {
    throw badWire(id, from, t, `${dtype} [${shape.join(', ')}]`);
  }
  return t.data as Float32Array | Float64Array;
}
