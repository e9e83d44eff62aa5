// Kept only for the browser model-parity harness (e2e/model-parity.spec.ts,
// e2e/model-fixtures/parity-harness.ts, also run by scripts/bench-segments.ts): it repeats the
// engine's src/engine/segment-executor.ts and unet-call-inputs.ts, which the vitest tests drive instead.
// Delete it once the harness drives the engine too; add no new users.
// A test stand-in for the engine's segment executor (issue 4 §4): runs one UNet call as the
// segment plan says, for one or several ranks in lockstep, with the exchanges done locally:
//   - multiRankExchange: the ranks answer each other (halo, Chan-combined stats, attention context
//     and global gather), i.e. a W-rank job in one process;
//   - the parity harness passes its own ExchangeFn that answers from fixture tensors (single rank).
// ORT-agnostic: a SegmentRunner runs segment graphs; tensors the plan keeps are opaque to this file,
// only `send` and `result` outputs are read back, as the real engine would.
import type { ExchangePoint, SegmentPlan } from '../segment-plan.js';
import { type ClipGeometry, type DualScope, clipBias, clipGeometry, tconvWindowMask } from './clip-inputs.js';
import { type HostTensor, concatAxis, f32, i64, sliceAxis, zeros } from './host-tensor.js';

export interface SegmentRunner<T> {
  /** Run segment `index` with the given feeds; returns every output of the segment. */
  run(index: number, feeds: Record<string, T | HostTensor>): Promise<Record<string, T>>;
  /** Read an output back to the CPU. */
  read(t: T): Promise<HostTensor>;
  /** Free an output that no later segment needs. */
  release(t: T): void;
  /** Wall time spent inside session.run per segment index (filled by runners that measure). */
  timings?: number[][];
}

/** Given every rank's send tensor at a point, what each rank receives. */
export type ExchangeFn = (point: ExchangePoint, sends: HostTensor[]) => HostTensor[];

/**
 * Run one UNet call. `callInputs[r]` holds rank r's call inputs (sample, timestep, ...). Returns each
 * rank's `result` output (noise_pred of its clip).
 */
export async function runSegmentedCall<T>(
  plan: SegmentPlan, runner: SegmentRunner<T>, callInputs: Record<string, HostTensor>[], exchange: ExchangeFn,
): Promise<HostTensor[]> {
  const ranks = callInputs.length;
  const kept: Map<string, T>[] = callInputs.map(() => new Map());
  const received: Map<string, HostTensor>[] = callInputs.map(() => new Map());
  const points = new Map(plan.exchangePoints.map((p) => [p.id, p]));
  const results: HostTensor[] = [];
  for (const seg of plan.segments) {
    const sends: Map<string, HostTensor>[] = [];
    for (let r = 0; r < ranks; r++) {
      const feeds: Record<string, T | HostTensor> = {};
      for (const input of seg.inputs) {
        const src = input.source;
        const v = src.kind === 'call' ? callInputs[r][input.name] : src.kind === 'tensor' ? kept[r].get(input.name) : received[r].get(input.name);
        if (v === undefined) throw new Error(`segment ${seg.index} rank ${r}: no value for input '${input.name}' (${src.kind})`);
        feeds[input.name] = v;
      }
      const outs = await runner.run(seg.index, feeds);
      const mine = new Map<string, HostTensor>();
      for (const o of seg.outputs) {
        const t = outs[o.name];
        if (t === undefined) throw new Error(`segment ${seg.index}: missing output '${o.name}'`);
        if (o.role === 'keep') kept[r].set(o.name, t);
        else {
          mine.set(o.name, await runner.read(t));
          runner.release(t);
          if (o.role === 'result') results[r] = mine.get(o.name)!;
        }
      }
      sends.push(mine);
      // Free kept tensors whose last consumer was this segment.
      for (const input of seg.inputs) {
        if (input.source.kind !== 'tensor') continue;
        const producer = plan.segments[input.source.segment];
        const o = producer.outputs.find((x) => x.name === input.name);
        if (o && o.role === 'keep' && Math.max(...o.consumers) === seg.index) {
          runner.release(kept[r].get(input.name)!);
          kept[r].delete(input.name);
        }
      }
    }
    for (const id of seg.exchangesAfter) {
      const p = points.get(id)!;
      const got = exchange(p, sends.map((m) => m.get(p.send)!));
      got.forEach((t, r) => received[r].set(p.receive, t));
    }
  }
  return results;
}

/** Call inputs of one clip for the segmented graphs. `sample` [B, C, N, H, W] and `ehs` [B·N, L, D] are whole-video. */
export function clipCallInputs(
  plan: SegmentPlan, geo: ClipGeometry, ds: DualScope, t: number, fps: number, sample: HostTensor, ehs: HostTensor, masked?: number,
): Record<string, HostTensor> {
  const B = plan.batch;
  const N = geo.totalFrames;
  const rows: HostTensor[] = [];
  for (let b = 0; b < B; b++) rows.push(sliceAxis(ehs, 0, b * N + geo.start, b * N + geo.end));
  const F = geo.end - geo.start;
  return {
    sample: sliceAxis(sample, 2, geo.start, geo.end),
    timestep: f32([t], [1]),
    fps: f32([fps], [1]),
    encoder_hidden_states: concatAxis(rows, 0),
    attn_bias: f32(clipBias(geo, ds, t, masked), [F, geo.keyFrames.length]),
    attn_send_indices: i64(geo.sendIndices),
    tconv_window_mask: f32(tconvWindowMask(geo, plan.tconvHalo), [F + 2 * plan.tconvHalo]),
  };
}

/** Whole-graph call inputs for the full video. */
export function wholeCallInputs(
  ds: DualScope, N: number, t: number, fps: number, sample: HostTensor, ehs: HostTensor, masked?: number,
): Record<string, HostTensor> {
  const geo = clipGeometry(0, N, N, ds);
  return {
    sample, timestep: f32([t], [1]), fps: f32([fps], [1]), encoder_hidden_states: ehs,
    attn_bias: f32(clipBias(geo, ds, t, masked), [N, geo.keyFrames.length]),
    global_frame_indices: i64(geo.globals),
  };
}

/** Exchanges among the ranks of one job, in process (what the engine does over the network). */
export function multiRankExchange(plan: SegmentPlan, geos: ClipGeometry[], ds: DualScope): ExchangeFn {
  const p = ds.p;
  return (point, sends) => {
    const W = geos.length;
    switch (point.kind) {
      case 'halo': {
        // send [B, C, 2k, H, W] = first k | last k. Receive: left neighbour's last k | right neighbour's first k.
        const k = point.width;
        return geos.map((_, r) => {
          const shape = [...sends[r].dims];
          shape[2] = k;
          const left = r > 0 ? sliceAxis(sends[r - 1], 2, k, 2 * k) : zeros(shape);
          const right = r < W - 1 ? sliceAxis(sends[r + 1], 2, 0, k) : zeros(shape);
          return concatAxis([left, right], 2);
        });
      }
      case 'stats': {
        // Chan's parallel combination in float64 of per-rank (count, mean, M2) → full-video (mean, var).
        const n = sends[0].data.length / 2;
        const out = new Float32Array(2 * n);
        for (let i = 0; i < n; i++) {
          let count = 0;
          let mean = 0;
          let m2 = 0;
          sends.forEach((s, r) => {
            const nb = (geos[r].end - geos[r].start) * point.countPerFrame;
            const mb = (s.data as Float32Array)[2 * i];
            const m2b = (s.data as Float32Array)[2 * i + 1];
            const delta = mb - mean;
            const tot = count + nb;
            mean += (delta * nb) / tot;
            m2 += m2b + (delta * delta * count * nb) / tot;
            count = tot;
          });
          out[2 * i] = mean;
          out[2 * i + 1] = m2 / count;
        }
        return geos.map(() => f32(out.slice(), [...sends[0].dims]));
      }
      case 'attention': {
        // send [T, 2p + own globals, C]. Receive: left p (cut at video start) | right p | all globals in order.
        const globals = concatAxis(sends.map((s) => sliceAxis(s, 1, 2 * p, s.dims[1])), 1);
        return geos.map((g, r) => {
          const parts: HostTensor[] = [];
          if (g.left) parts.push(sliceAxis(sends[r - 1], 1, 2 * p - g.left, 2 * p));
          if (g.right) parts.push(sliceAxis(sends[r + 1], 1, 0, g.right));
          parts.push(globals);
          return concatAxis(parts, 1);
        });
      }
    }
  };
}
