// How the frame-spanning operations of the UNet are realised in a compiled graph
// (docs/exchange-points.md; the same results as the whole video on any partition):
//
// - WholeScope: one graph over the whole video. Statistics are computed in the graph, the temporal
//   conv zero-pads at the video ends, the attention gathers the global frames itself.
// - SegmentedScope: one graph per run of work between exchange points. A frame-spanning op sends
//   (graph outputs), the program is cut, and the next segment takes what was received (graph inputs).
//
// Block code uses the two-phase ticket API: `send*` for everything that crosses at one exchange step,
// then `exchange()`, then `received*`. In WholeScope `exchange()` does nothing.
import type { ExchangePoint } from '../segment-plan.js';
import { aints, ai, type Dim, type Value } from './graph.js';
import { type Ctx, reshape, slice, INT64_MAX } from './blocks/nn.js';

/** Frames each side of a temporal conv layer's halo = its number of (3,1,1) convs. */
export const TCONV_HALO = 4;

/** Names of the per-call inputs the engine provides (segment plan `callInputs`). */
export const CALL = {
  sample: 'sample',
  timestep: 'timestep',
  fps: 'fps',
  encoderHiddenStates: 'encoder_hidden_states',
  attnBias: 'attn_bias',
  globalFrameIndices: 'global_frame_indices',
  attnSendIndices: 'attn_send_indices',
  tconvWindowMask: 'tconv_window_mask',
  noisePred: 'noise_pred',
} as const;

/** A tensor in layout [B, C, F', H·W] whose statistics are taken over frames [lo, F' − hi). */
export interface FrameTensor {
  x: Value;
  channels: number;
  /** H·W of one frame. */
  pixels: number;
  lo: number;
  hi: number;
}

export interface StatsTicket {
  id: string;
  groups: number;
  /** whole: [B, G, 1] mean and var; segmented: filled after exchange(). */
  mean?: Value;
  variance?: Value;
}
export interface HaloTicket {
  id: string;
  x: Value;
  window?: Value;
}
export interface AttentionTicket {
  id: string;
  a: Value;
  kv?: Value;
}

export interface FrameScope {
  readonly kind: 'whole' | 'segmented';
  sendStats(id: string, t: FrameTensor, groups: number): StatsTicket;
  /** x: [B, C, F, H·W], the temporal conv layer's input. */
  sendHalo(id: string, x: Value, C: number, H: number, W: number): HaloTicket;
  /** a: [B·H·W, F, Ci], the attention input (norm1/norm2 output). */
  sendAttention(id: string, a: Value, tokens: number, channels: number, heads: number, headDim: number): AttentionTicket;
  exchange(): void;
  /** Per-(b, g) mean and variance, each [B, G, 1]. */
  receivedStats(t: StatsTicket): { mean: Value; variance: Value };
  /** The conv window [B, C, F + 2·halo, H·W] (whole: the tensor itself) and the frame mask [F + 2·halo] (or null). */
  receivedHalo(t: HaloTicket): { window: Value; mask: Value | null; halo: number };
  /** Keys/values source [B·H·W, S, Ci] (own frames first) and the logit bias [F, S]. */
  receivedAttention(t: AttentionTicket): { kv: Value; bias: Value };
}

/** Own-frame view [B, G, rest] of a frame tensor. */
function groupedOwn(c: Ctx, t: FrameTensor, G: number): Value {
  const own = t.lo || t.hi ? slice(c, t.x, 2, t.lo, t.hi ? -t.hi : INT64_MAX) : t.x;
  return reshape(c, own, [c.batch, G, -1]);
}

export class WholeScope implements FrameScope {
  readonly kind = 'whole';
  private bias?: Value;
  private globalIdx?: Value;
  constructor(private readonly c: Ctx, readonly frames: Dim) {}

  sendStats(id: string, t: FrameTensor, groups: number): StatsTicket {
    const xr = groupedOwn(this.c, t, groups);
    const mean = this.c.P.op('ReduceMean', [xr], { axes: aints([2]), keepdims: ai(1) });
    const d = this.c.P.op('Sub', [xr, mean]);
    const variance = this.c.P.op('ReduceMean', [this.c.P.op('Mul', [d, d])], { axes: aints([2]), keepdims: ai(1) });
    return { id, groups, mean, variance };
  }
  sendHalo(id: string, x: Value): HaloTicket {
    return { id, x, window: x };
  }
  sendAttention(id: string, a: Value): AttentionTicket {
    this.globalIdx ??= this.c.P.callInput(CALL.globalFrameIndices, 'int64', ['G']);
    const g = this.c.P.op('Gather', [a, this.globalIdx], { axis: ai(1) });
    return { id, a, kv: this.c.P.op('Concat', [a, g], { axis: ai(1) }) };
  }
  exchange(): void {}
  receivedStats(t: StatsTicket) {
    return { mean: t.mean!, variance: t.variance! };
  }
  receivedHalo(t: HaloTicket) {
    return { window: t.window!, mask: null, halo: 0 };
  }
  receivedAttention(t: AttentionTicket) {
    this.bias ??= this.c.P.callInput(CALL.attnBias, 'float32', ['F', 'F+G']);
    return { kv: t.kv!, bias: this.bias };
  }
}

/** Details of each exchange point, collected for the segment plan. */
export type PointRecord = ExchangePoint;

export class SegmentedScope implements FrameScope {
  readonly kind = 'segmented';
  readonly points: PointRecord[] = [];
  private pending: { point: string; name: string; shape: Dim[]; apply: (v: Value) => void }[] = [];
  private mask?: Value;
  private bias?: Value;
  private sendIdx?: Value;
  constructor(private readonly c: Ctx) {}

  sendStats(id: string, t: FrameTensor, groups: number): StatsTicket {
    const { c } = this;
    const xr = groupedOwn(c, t, groups);
    const mean = c.P.op('ReduceMean', [xr], { axes: aints([2]), keepdims: ai(1) });
    const d = c.P.op('Sub', [xr, mean]);
    const m2 = c.P.op('ReduceSumSquare', [d], { axes: aints([2]), keepdims: ai(1) });
    const send = c.P.op('Concat', [mean, m2], { axis: ai(2) }, `${id}/stats`, [c.batch, groups, 2]);
    c.P.output(send, 'send', id);
    const ticket: StatsTicket = { id, groups };
    this.pending.push({
      point: id,
      name: `${id}/mean_var`,
      shape: [c.batch, groups, 2],
      apply: (mv) => {
        ticket.mean = slice(c, mv, 2, 0, 1);
        ticket.variance = slice(c, mv, 2, 1, 2);
      },
    });
    this.points.push({
      id, kind: 'stats', groups, channels: t.channels, countPerFrame: (t.channels / groups) * t.pixels, send: send.name, receive: `${id}/mean_var`,
    });
    return ticket;
  }

  sendHalo(id: string, x: Value, C: number, H: number, W: number): HaloTicket {
    const { c } = this;
    const k = TCONV_HALO;
    const both = c.P.op('Concat', [slice(c, x, 2, 0, k), slice(c, x, 2, -k, INT64_MAX)], { axis: ai(2) });
    const send = reshape(c, both, [c.batch, C, 2 * k, H, W], [c.batch, C, 2 * k, H, W], `${id}/send`);
    c.P.output(send, 'send', id);
    const ticket: HaloTicket = { id, x };
    this.pending.push({
      point: id,
      name: `${id}/halo`,
      shape: [c.batch, C, 2 * k, H, W],
      apply: (h) => {
        const hr = reshape(c, h, [c.batch, C, 2 * k, H * W]);
        ticket.window = c.P.op('Concat', [slice(c, hr, 2, 0, k), ticket.x, slice(c, hr, 2, k, 2 * k)], { axis: ai(2) });
      },
    });
    this.points.push({ id, kind: 'halo', width: k, channels: C, height: H, widthPx: W, send: send.name, receive: `${id}/halo` });
    return ticket;
  }

  sendAttention(id: string, a: Value, tokens: number, channels: number, heads: number, headDim: number): AttentionTicket {
    const { c } = this;
    this.sendIdx ??= c.P.callInput(CALL.attnSendIndices, 'int64', ['n_send']);
    const send = c.P.op('Gather', [a, this.sendIdx], { axis: ai(1) }, `${id}/send`, [tokens, 'n_send', channels]);
    c.P.output(send, 'send', id);
    const ticket: AttentionTicket = { id, a };
    this.pending.push({
      point: id,
      name: `${id}/context`,
      shape: [tokens, 'S_ctx', channels],
      apply: (ctx) => {
        ticket.kv = c.P.op('Concat', [ticket.a, ctx], { axis: ai(1) });
      },
    });
    this.points.push({ id, kind: 'attention', channels, tokens, heads, headDim, send: send.name, receive: `${id}/context` });
    return ticket;
  }

  exchange(): void {
    if (!this.pending.length) return;
    const pending = this.pending;
    this.pending = [];
    const got = this.c.P.cut(
      pending.map((p) => p.point),
      pending.map((p) => ({ point: p.point, name: p.name, dtype: 'float32' as const, shape: p.shape })),
    );
    pending.forEach((p, k) => p.apply(got[k]));
  }

  receivedStats(t: StatsTicket) {
    if (!t.mean || !t.variance) throw new Error(`stats ${t.id} read before exchange()`);
    return { mean: t.mean, variance: t.variance };
  }
  receivedHalo(t: HaloTicket) {
    if (!t.window) throw new Error(`halo ${t.id} read before exchange()`);
    // Mask [F+8]: 0 for window frames outside the video (they must act as the conv's zero padding).
    this.mask ??= this.c.P.callInput(CALL.tconvWindowMask, 'float32', ['F+8']);
    return { window: t.window, mask: this.mask, halo: TCONV_HALO };
  }
  receivedAttention(t: AttentionTicket) {
    if (!t.kv) throw new Error(`attention ${t.id} read before exchange()`);
    this.bias ??= this.c.P.callInput(CALL.attnBias, 'float32', ['F', 'F+S_ctx']);
    return { kv: t.kv, bias: this.bias };
  }
}
