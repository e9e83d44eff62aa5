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
 * Modes (clip-exchange-mode.ts): 'exact' (the contract), 'exact-fp16' (halo and attention tensors
 * as float16 on the wire), 'stale' (the previous step's context after a synchronous warm-up),
 * 'sparse-global' (global frames re-gathered every k local-phase steps) and 'isolated' (no
 * communication at all: the clip is rendered as an independent video of F frames, for the seam
 * ablation; its layout must be `isolatedLayout`). Each exchange is split into fetching the other
 * ranks' parts (the network) and assembling them with my own current parts; the modes only change
 * which step's fetched parts are assembled and how they travel, so every mode is deterministic for
 * a given partition whatever the delivery timing.
 *
 * Everything received is untrusted: dtype and shape are checked before use. Imports only engine
 * contracts; must not import src/net, src/app, peerjs or lit.
 */

import type { ExchangePoint, SegmentPlan } from '../model/segment-plan.js';
import { EXCHANGE_MODES, resolveExchangeOptions, type ExchangeMode, type ExchangeOptions } from './clip-exchange-mode.js';
import { CollectiveError, type Collective, type MessageTag, type WireTensor } from './collective.js';
import { EngineError } from './errors.js';
import { float32ToHalf, halfToFloat32 } from '../model/float16.js';
import type { HostTensor } from './session-runner.js';
import type { ClipLayout } from './unet-call-inputs.js';

export type { ExchangeMode, ExchangeOptions } from './clip-exchange-mode.js';

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

export interface ExchangeCounters {
  exchanges: number;
  /** Wall time spent inside exchanges (includes copying; the collective's waitMs is the network part). */
  exchangeMs: number;
}

/** What the modes need to know about the job's steps. */
export interface ExchangeSchedule {
  /** Timestep of every denoising step (sparse-global: which steps are in the local phase). */
  readonly timesteps: readonly number[];
  /** T_phase: steps with t < T_phase are the local phase. */
  readonly phaseTimestep: number;
}

/** The other ranks' parts of one exchange, as fetched (checked, float32 / float64). */
type StatsParts = Float64Array[];
interface HaloParts { fromLeft: Float32Array | null; fromRight: Float32Array | null }
interface AttentionParts { fromLeft: Float32Array | null; fromRight: Float32Array | null; globals: Float32Array[] }

export class ClipExchange implements Exchanger {
  private counters: ExchangeCounters = { exchanges: 0, exchangeMs: 0 };
  private readonly options: ReturnType<typeof resolveExchangeOptions>;
  /** stale: per exchange point, the parts fetched at the latest step (possibly still in flight). */
  private readonly inFlight = new Map<number, { step: number; parts: Promise<unknown> }>();
  /** sparse-global: per attention point, the last gathered globals. */
  private readonly lastGlobals = new Map<number, Float32Array[]>();
  /** sparse-global: the first local-phase step (-1: none). */
  private readonly firstLocalStep: number;

  /**
   * @param collective the job's collective (null or worldSize 1: nothing crosses the network)
   * @param layout     this rank's clip layout (for mode 'isolated': `isolatedLayout(...)`)
   * @param schedule   the job's timesteps (needed by 'stale' to skip the last step's useless send and by 'sparse-global')
   */
  constructor(
    private readonly collective: Collective | null,
    readonly layout: ClipLayout,
    private readonly plan: SegmentPlan,
    private readonly jobId: number,
    readonly mode: ExchangeMode = 'exact',
    options?: ExchangeOptions,
    private readonly schedule?: ExchangeSchedule,
  ) {
    if (!EXCHANGE_MODES.includes(mode)) throw new EngineError('invalid-argument', `ClipExchange: mode must be one of ${EXCHANGE_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    if (mode === 'isolated' && (layout.range.start !== 0 || layout.range.end !== layout.totalFrames)) {
      throw new EngineError('invalid-argument', `ClipExchange: mode 'isolated' needs the clip's own-video layout (isolatedLayout), got range [${layout.range.start}, ${layout.range.end}) of ${layout.totalFrames}`);
    }
    if ((mode === 'sparse-global' || mode === 'stale') && !schedule) throw new EngineError('invalid-argument', `ClipExchange: mode '${mode}' needs the job's schedule`);
    this.options = resolveExchangeOptions(mode, options);
    this.firstLocalStep = schedule ? schedule.timesteps.findIndex((t) => t < schedule.phaseTimestep) : -1;
  }

  counts(): ExchangeCounters {
    return { ...this.counters };
  }

  /** The network is used in every mode but isolated, with 2+ ranks. */
  private get net(): Collective | null {
    return this.mode !== 'isolated' && this.collective && this.collective.worldSize > 1 ? this.collective : null;
  }

  /** The dtype halo and attention tensors travel in. */
  private get wireDType(): 'float32' | 'float16' {
    return this.mode === 'exact-fp16' || this.options.float16Wire === true ? 'float16' : 'float32';
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

  /**
   * The other ranks' parts for this step's assembly. Synchronous modes fetch and wait. 'stale'
   * (for `staleKind` points, from step warmupSteps on) starts this step's fetch without waiting
   * and returns the previous step's, so every rank assembles exactly the previous step's context
   * whatever the timing; on the job's last step nothing is fetched (no later step would use it).
   * A fresh exchanger (first step, or a resumed render) has no previous parts and fetches
   * synchronously once.
   */
  private async partsFor<T>(pointIndex: number, step: number, staleKind: boolean, fetch: () => Promise<T>): Promise<T> {
    if (this.mode !== 'stale' || !staleKind) return fetch();
    const prev = this.inFlight.get(pointIndex);
    const usePrev = step >= (this.options.warmupSteps as number) && prev !== undefined && prev.step === step - 1;
    const lastStep = step === this.schedule!.timesteps.length - 1;
    if (usePrev && lastStep) {
      this.inFlight.delete(pointIndex);
      return prev.parts as Promise<T>;
    }
    const now = fetch();
    now.catch(() => {}); // a failure surfaces where the parts are awaited (now or next step)
    this.inFlight.set(pointIndex, { step, parts: now });
    return usePrev ? (prev.parts as Promise<T>) : now;
  }

  /** Float32 data as it travels in this mode's wire dtype. */
  private toWire(data: Float32Array, shape: number[]): WireTensor {
    return this.wireDType === 'float16' ? { dtype: 'float16', shape, data: float32ToHalf(data) } : { dtype: 'float32', shape, data };
  }

  /** A received halo / attention tensor checked against this mode's wire dtype and `shape`, as float32. */
  private fromWire(t: WireTensor, shape: readonly number[], id: string, from: number): Float32Array {
    const d = checkWire(t, this.wireDType, shape, id, from);
    return d instanceof Uint16Array ? halfToFloat32(d) : (d as Float32Array);
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
    const parts: StatsParts = net
      ? [...(await this.partsFor(pointIndex, step, this.options.staleStats === true, async () =>
          (await net.allGather(this.tag(pointIndex, step, 'stats-reduce'), { dtype: 'float64', shape: [pairs, 3], data: mine })).map((t, r) =>
            checkWire(t, 'float64', [pairs, 3], point.id, r) as Float64Array)))]
      : [mine];
    if (net) parts[net.rank] = mine; // my own statistics are always current
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
    const got = await this.partsFor<HaloParts>(pointIndex, step, true, async () => {
      const r = await net.exchangeHalo(this.tag(pointIndex, step, 'halo'), hasLeft ? this.toWire(half(false), shape) : null, hasRight ? this.toWire(half(true), shape) : null);
      return {
        fromLeft: r.fromLeft ? this.fromWire(r.fromLeft, shape, point.id, net.rank - 1) : null,
        fromRight: r.fromRight ? this.fromWire(r.fromRight, shape, point.id, net.rank + 1) : null,
      };
    });
    const place = (d: Float32Array | null, second: boolean) => {
      if (!d) return;
      for (let r = 0; r < rows; r++) out.set(d.subarray(r * k * plane, (r + 1) * k * plane), (r * 2 * k + (second ? k : 0)) * plane);
    };
    place(got.fromLeft, false);
    place(got.fromRight, true);
    return { dtype: 'float32', dims, data: out };
  }

  // ---------------------------------------------------------------- attention (window halo + global gather)

  /** sparse-global: whether step `step` gathers the global frames (always outside the local phase). */
  private gathersGlobals(pointIndex: number, step: number): boolean {
    if (this.mode !== 'sparse-global' || !this.lastGlobals.has(pointIndex)) return true;
    const local = this.firstLocalStep >= 0 && step >= this.firstLocalStep;
    return !local || (step - this.firstLocalStep) % (this.options.globalEvery as number) === 0;
  }

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
      const gather = this.gathersGlobals(pointIndex, step);
      const got = await this.partsFor<AttentionParts>(pointIndex, step, true, async () => {
        const [halo, gathered] = await Promise.all([
          p > 0
            ? net.exchangeHalo(
                this.tag(pointIndex, step, 'halo'),
                hasLeft ? this.toWire(rows(range(0, edge)), [tokens, edge, c]) : null,
                hasRight ? this.toWire(rows(range(L.frames - edge, L.frames)), [tokens, edge, c]) : null,
              )
            : Promise.resolve({ fromLeft: null, fromRight: null }),
          gather ? net.allGather(this.tag(pointIndex, step, 'global-gather'), this.toWire(ownGlobal, [tokens, L.ownedGlobal.localFrames.length, c])) : Promise.resolve(null),
        ]);
        return {
          fromLeft: L.leftWindow > 0 ? this.fromWire(requireTensor(halo.fromLeft, point.id, net.rank - 1), [tokens, L.leftWindow, c], point.id, net.rank - 1) : null,
          fromRight: L.rightWindow > 0 ? this.fromWire(requireTensor(halo.fromRight, point.id, net.rank + 1), [tokens, L.rightWindow, c], point.id, net.rank + 1) : null,
          globals: gathered
            ? gathered.map((t, r) => {
                if (t.dtype !== this.wireDType || t.shape.length !== 3 || t.shape[0] !== tokens || t.shape[2] !== c) throw badWire(point.id, r, t, `${this.wireDType} [${tokens}, n, ${c}]`);
                return this.fromWire(t, t.shape, point.id, r);
              })
            : this.lastGlobals.get(pointIndex)!,
        };
      });
      if (this.mode === 'sparse-global') this.lastGlobals.set(pointIndex, got.globals);
      fromLeft = got.fromLeft;
      fromRight = got.fromRight;
      globals = [...got.globals];
      globals[net.rank] = ownGlobal; // my own global frames are always current (and never rounded)
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

function checkWire(t: WireTensor, dtype: 'float32' | 'float64' | 'float16', shape: readonly number[], id: string, from: number): Float32Array | Float64Array | Uint16Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== n) {
    throw badWire(id, from, t, `${dtype} [${shape.join(', ')}]`);
  }
  return t.data as Float32Array | Float64Array | Uint16Array;
}
