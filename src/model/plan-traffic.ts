// What one rank sends and receives per UNet call (= per denoising step: CFG is batched) at every
// exchange point of a segment plan, summed by kind. Sizes follow the plan's tensors
// (segment-plan.ts ExchangePoint): stats [B, G, 2], halo [B, C, 2·width, H, W],
// attention [B·H·W, n_send | S_ctx, C]; float32. Pure arithmetic: no onnxruntime, no engine state.
// These are the tensors the graph hands to and takes from the exchange (GPU readback and upload),
// each frame once; what crosses the wire (a global frame goes to every other tab, statistics as
// float64, by precision and mode) is exchange-budget.ts.
import type { ExchangePoint, SegmentPlan } from './segment-plan.js';

export type ExchangeKind = ExchangePoint['kind'];

/** The per-call sizes that depend on the clip's place in the video (from the engine's ClipLayout). */
export interface ClipTraffic {
  /** Frames sent at every attention point (attn_send_indices length). */
  nSend: number;
  /** Context rows received at every attention point (left + right window + global frames). */
  contextRows: number;
}

export interface KindTraffic {
  points: number;
  sentBytes: number;
  receivedBytes: number;
}

const F32 = 4;

export function exchangeBytesPerCall(plan: SegmentPlan, clip: ClipTraffic): Record<ExchangeKind, KindTraffic> {
  const out: Record<ExchangeKind, KindTraffic> = {
    stats: { points: 0, sentBytes: 0, receivedBytes: 0 },
    halo: { points: 0, sentBytes: 0, receivedBytes: 0 },
    attention: { points: 0, sentBytes: 0, receivedBytes: 0 },
  };
  const B = plan.batch;
  for (const p of plan.exchangePoints) {
    const k = out[p.kind];
    k.points++;
    if (p.kind === 'stats') {
      k.sentBytes += B * p.groups * 2 * F32;
      k.receivedBytes += B * p.groups * 2 * F32;
    } else if (p.kind === 'halo') {
      const bytes = B * p.channels * 2 * p.width * p.height * p.widthPx * F32;
      k.sentBytes += bytes;
      k.receivedBytes += bytes;
    } else {
      k.sentBytes += p.tokens * clip.nSend * p.channels * F32;
      k.receivedBytes += p.tokens * clip.contextRows * p.channels * F32;
    }
  }
  return out;
}
