/**
 * A FixtureExchanger that also measures what a clip sends: the engine's FixtureExchanger answers
 * each exchange point from the golden fixture (docs/exchange-points.md), and on the way this
 * records how far the clip's sent tensor is from the fixture. Shared by the compiler's golden tests
 * (Node) and the browser parity harness (e2e/model-fixtures/parity-harness.ts): no Node imports.
 */
import type { Exchanger } from '../../engine/clip-exchange.js';
import { FixtureExchanger, type FixtureLookup } from '../../engine/fixture-exchange.js';
import type { HostTensor as EngineTensor } from '../../engine/session-runner.js';
import type { ClipLayout } from '../../engine/unet-call-inputs.js';
import type { SafetensorsFile } from '../safetensors.js';
import type { ExchangePoint, SegmentPlan } from '../segment-plan.js';
import { type HostTensor, concatAxis, f32, gatherAxis, maxAbsDiff, sliceAxis } from './host-tensor.js';

export interface PointCheck {
  id: string;
  kind: ExchangePoint['kind'];
  /** max |sent − fixture| for what the clip sent at the point (NaN for stats: a partial statistic has no fixture). */
  sendDiff: number;
}

/**
 * The engine's FixtureExchanger answers each point; on the way this records how far what the clip
 * sent is from the fixture: halo, its first and last k frames of `ep/<id>`; attention, the rows of
 * `ep/<id>` at its attn_send_indices.
 */
export function checkedFixtureExchanger(layout: ClipLayout, plan: SegmentPlan, fx: SafetensorsFile, lookup: FixtureLookup, checks: PointCheck[]): Exchanger {
  const inner = new FixtureExchanger(layout, plan, lookup);
  const { start, end } = layout.range;
  return {
    layout,
    exchange(point: ExchangePoint, pointIndex: number, sent: EngineTensor, step: number) {
      const got: HostTensor = f32(sent.data as Float32Array, [...sent.dims]);
      if (point.kind === 'stats') checks.push({ id: point.id, kind: point.kind, sendDiff: NaN });
      else {
        // ep/<id> is the whole video: halo [B, C, N, H, W] (frames on axis 2), attention [B·H·W, N, C] (axis 1).
        const own = sliceAxis(f32(fx.float32(`ep/${point.id}`), [...fx.entry(`ep/${point.id}`).shape]), point.kind === 'halo' ? 2 : 1, start, end);
        const want = point.kind === 'halo'
          ? concatAxis([sliceAxis(own, 2, 0, point.width), sliceAxis(own, 2, layout.frames - point.width, layout.frames)], 2)
          : gatherAxis(own, 1, [...layout.sendLocalFrames]);
        checks.push({ id: point.id, kind: point.kind, sendDiff: maxAbsDiff(got, want) });
      }
      return inner.exchange(point, pointIndex, sent, step);
    },
  };
}
