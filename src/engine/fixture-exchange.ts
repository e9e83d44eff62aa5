/**
 * An `Exchanger` that answers every exchange point from full-video tensors instead of the network
 * (docs/exchange-points.md, "A single-rank test of a clip"): parity tests drive the real
 * `SegmentExecutor` on one clip [start, end) with it and compare against the PyTorch reference.
 *
 * Fixture tensors, by exchange point id (layouts as in the golden files):
 *   stats      `ep/<id>/mean`, `ep/<id>/var`   [B, groups] (float64 or float32)
 *   halo       `ep/<id>`                       [B, C, N, H, W]  (the layer input, whole video)
 *   attention  `ep/<id>`                       [B·H·W, N, C_inner] (the attention input, whole video)
 * The answer for a clip is what its neighbours would have sent: for halo the k frames each side
 * (zeros outside the video), for attention the rows of `layout.contextColumns`, for stats the
 * full-video mean and variance. What the clip itself sent is ignored. No network, no ORT.
 */

import type { ExchangePoint, SegmentPlan } from '../model/segment-plan.js';
import type { Exchanger } from './clip-exchange.js';
import { EngineError } from './errors.js';
import type { HostTensor } from './session-runner.js';
import type { ClipLayout } from './unet-call-inputs.js';

export type FixtureLookup = (name: string) => Float32Array | Float64Array | undefined;

export class FixtureExchanger implements Exchanger {
  constructor(
    readonly layout: ClipLayout,
    private readonly plan: SegmentPlan,
    private readonly fixture: FixtureLookup,
  ) {}

  private need(name: string, length: number): Float32Array | Float64Array {
    const t = this.fixture(name);
    if (!t) throw new EngineError('invalid-argument', `FixtureExchanger: the fixture has no tensor '${name}'`);
    if (t.length !== length) throw new EngineError('shape-mismatch', `FixtureExchanger: '${name}' has ${t.length} values, expected ${length}`);
    return t;
  }

  async exchange(point: ExchangePoint, _pointIndex: number, _sent: HostTensor, _step: number): Promise<HostTensor> {
    const B = this.plan.batch;
    const N = this.layout.totalFrames;
    const { start, end } = this.layout.range;
    if (point.kind === 'stats') {
      const n = B * point.groups;
      const mean = this.need(`ep/${point.id}/mean`, n);
      const variance = this.need(`ep/${point.id}/var`, n);
      const out = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) {
        out[2 * i] = mean[i]!;
        out[2 * i + 1] = variance[i]!;
      }
      return { dtype: 'float32', dims: [B, point.groups, 2], data: out };
    }
    if (point.kind === 'halo') {
      const k = point.width;
      const plane = point.height * point.widthPx;
      const rows = B * point.channels;
      const full = this.need(`ep/${point.id}`, rows * N * plane);
      const out = new Float32Array(rows * 2 * k * plane);
      for (let r = 0; r < rows; r++)
        for (let w = 0; w < 2 * k; w++) {
          const frame = w < k ? start - k + w : end + (w - k);
          if (frame < 0 || frame >= N) continue;
          out.set(full.subarray((r * N + frame) * plane, (r * N + frame + 1) * plane), (r * 2 * k + w) * plane);
        }
      return { dtype: 'float32', dims: [B, point.channels, 2 * k, point.height, point.widthPx], data: out };
    }
    const tokens = point.tokens;
    const c = point.channels;
    const full = this.need(`ep/${point.id}`, tokens * N * c);
    const cols = this.layout.contextColumns;
    const s = cols.length;
    const out = new Float32Array(tokens * s * c);
    for (let t = 0; t < tokens; t++)
      cols.forEach((col, j) => out.set(full.subarray((t * N + col.globalFrame) * c, (t * N + col.globalFrame + 1) * c), (t * s + j) * c));
    return { dtype: 'float32', dims: [tokens, s, c], data: out };
  }
}
