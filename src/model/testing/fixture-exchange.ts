// Kept only for the browser model-parity harness (e2e/model-parity.spec.ts,
// e2e/model-fixtures/parity-harness.ts, also run by scripts/bench-segments.ts): it repeats the
// engine's src/engine/fixture-exchange.ts, which the vitest tests drive instead.
// Delete it once the harness drives the engine too; add no new users.
// The single-rank stand-in's exchanges for the golden parity check (docs/exchange-points.md, last section):
// a clip [start, end) of the fixture's N-frame UNet call receives what the fixture says was there —
// neighbour frames sliced out of `ep/<id>`, full-video statistics from `ep/<id>/mean|var`. It also
// checks what the clip *sends* against the same fixture tensors, so a mismatch is located at the
// first exchange point where it appears.
import type { SafetensorsFile } from '../safetensors.js';
import type { SegmentPlan } from '../segment-plan.js';
import type { ClipGeometry } from './clip-inputs.js';
import { type HostTensor, concatAxis, f32, gatherAxis, maxAbsDiff, sliceAxis, zeros } from './host-tensor.js';
import type { ExchangeFn } from './stand-in-executor.js';

export interface PointCheck {
  id: string;
  kind: string;
  /** max |sent − fixture| for what this clip sent at the point. */
  sendDiff: number;
}

const tensor = (fx: SafetensorsFile, name: string): HostTensor => f32(fx.float32(name), [...fx.entry(name).shape]);

export function fixtureExchange(fx: SafetensorsFile, plan: SegmentPlan, geo: ClipGeometry, p: number, checks: PointCheck[]): ExchangeFn {
  const N = geo.totalFrames;
  const F = geo.end - geo.start;
  return (point, sends) => {
    const sent = sends[0];
    switch (point.kind) {
      case 'halo': {
        const full = tensor(fx, `ep/${point.id}`); // [B, C, N, H, W]
        const k = point.width;
        const own = sliceAxis(full, 2, geo.start, geo.end);
        checks.push({ id: point.id, kind: 'halo', sendDiff: maxAbsDiff(sent, concatAxis([sliceAxis(own, 2, 0, k), sliceAxis(own, 2, F - k, F)], 2)) });
        const frame = (g: number) => (g >= 0 && g < N ? sliceAxis(full, 2, g, g + 1) : zeros([full.dims[0], full.dims[1], 1, full.dims[3], full.dims[4]]));
        const frames: HostTensor[] = [];
        for (let g = geo.start - k; g < geo.start; g++) frames.push(frame(g));
        for (let g = geo.end; g < geo.end + k; g++) frames.push(frame(g));
        return [concatAxis(frames, 2)];
      }
      case 'stats': {
        // We cannot check a partial statistic against the full-video one; the send is checked implicitly
        // by the next halo/attention point. Receive: [B, G, 2] = (mean, var).
        const mean = fx.float64(`ep/${point.id}/mean`);
        const variance = fx.float64(`ep/${point.id}/var`);
        const out = new Float32Array(2 * mean.length);
        for (let i = 0; i < mean.length; i++) {
          out[2 * i] = mean[i];
          out[2 * i + 1] = variance[i];
        }
        checks.push({ id: point.id, kind: 'stats', sendDiff: NaN });
        return [f32(out, [plan.batch, point.groups, 2])];
      }
      case 'attention': {
        const full = tensor(fx, `ep/${point.id}`); // [B·H·W, N, C]
        const own = sliceAxis(full, 1, geo.start, geo.end);
        checks.push({ id: point.id, kind: 'attention', sendDiff: maxAbsDiff(sent, gatherAxis(own, 1, geo.sendIndices)) });
        const parts: HostTensor[] = [];
        if (geo.left) parts.push(sliceAxis(full, 1, geo.start - geo.left, geo.start));
        if (geo.right) parts.push(sliceAxis(full, 1, geo.end, geo.end + geo.right));
        parts.push(gatherAxis(full, 1, geo.globals));
        void p;
        return [concatAxis(parts, 1)];
      }
    }
  };
}
