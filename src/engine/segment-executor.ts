/**
 * Walks a compiled segment plan for one UNet call on one clip (src/model/segment-plan.ts header):
 * feed each segment from the call inputs, the kept outputs of earlier segments and what the
 * exchange points before it received; run it; keep its `keep` outputs (on the GPU where the
 * runner allows) until their last consumer has run; read back only its `send` outputs and the
 * final `result`; perform the exchange points after it through an `Exchanger`.
 *
 * `WholeGraphExecutor` runs plan.whole (one rank rendering the whole video, no exchanges).
 * Both run sessions only through `SessionRunner`; neither knows about the network.
 */

import type { ExchangePoint, Segment, SegmentPlan, WeightShard } from '../model/segment-plan.js';
import { graphShards, validateSegmentPlan } from '../model/segment-plan.js';
import type { Exchanger } from './clip-exchange.js';
import { EngineError } from './errors.js';
import type { HostTensor, LoadedSession, RunnerTensor, SessionRunner } from './session-runner.js';
import { type ModelFileReader, WeightShards } from './weight-shards.js';

export type { ModelFileReader } from './weight-shards.js';

/**
 * The weights shards of the segment sessions, in creation order (one entry per segment). With
 * plan.whole's (wholeShardsNeeds) they plan one WeightShards over several executors' loads.
 */
export function segmentShardsNeeds(plan: SegmentPlan): WeightShard[][] {
  return plan.segments.map((s) => graphShards(plan, s));
}

/** The weights shards of the whole-graph session (one entry). */
export function wholeShardsNeeds(plan: SegmentPlan): WeightShard[][] {
  return [graphShards(plan, plan.whole)];
}

export interface UNetCallResult {
  /** noise_pred [B, Cout, F, H, W]. */
  readonly noisePred: Float32Array;
  /** Time in session runs and readbacks of this call (ms). */
  readonly computeMs: number;
  /** Time in exchanges of this call (ms), network waiting included. */
  readonly exchangeMs: number;
}

export class SegmentExecutor {
  private readonly points: Map<string, { point: ExchangePoint; index: number }>;
  /** For each exchange point, the last segment that reads what it received. */
  private readonly receiveLastUse = new Map<string, number>();

  private constructor(
    private readonly runner: SessionRunner,
    readonly plan: SegmentPlan,
    private readonly sessions: readonly LoadedSession[],
  ) {
    this.points = new Map(plan.exchangePoints.map((p, index) => [p.id, { point: p, index }]));
    for (const s of plan.segments) for (const i of s.inputs) if (i.source.kind === 'exchange') this.receiveLastUse.set(i.source.point, s.index);
  }

  /**
   * Validates the plan and creates one session per segment, one at a time (keep outputs may stay on
   * the device). Each is given only its own weights shards; `shards` (planned with
   * segmentShardsNeeds, maybe after other sessions) lets several executors share the reads.
   */
  static async load(runner: SessionRunner, plan: SegmentPlan, read: ModelFileReader, shards?: WeightShards): Promise<SegmentExecutor> {
    validateSegmentPlan(plan);
    const weights = shards ?? new WeightShards(segmentShardsNeeds(plan), read);
    const sessions: LoadedSession[] = [];
    for (const s of plan.segments) {
      const keep = s.outputs.filter((o) => o.role === 'keep').map((o) => o.name);
      const model = await read(s.file);
      sessions.push(await weights.create((externalData) => runner.load(`unet segment ${s.index}`, model, { deviceOutputs: keep, externalData })));
    }
    return new SegmentExecutor(runner, plan, sessions);
  }

  /**
   * One UNet call: `callInputs` holds every plan.callInputs tensor (see unet-call-inputs.ts).
   * `warmUp` runs are counted apart by the runner (left out of its timings).
   */
  async call(callInputs: Readonly<Record<string, HostTensor>>, exchanger: Exchanger, step: number, opts: { warmUp?: boolean } = {}): Promise<UNetCallResult> {
    const kept = new Map<string, { value: RunnerTensor; lastUse: number }>();
    const received = new Map<string, HostTensor>();
    let computeMs = 0;
    let exchangeMs = 0;
    let result: Float32Array | null = null;
    try {
      for (const seg of this.plan.segments) {
        // 1. Feeds.
        const feeds: Record<string, HostTensor | RunnerTensor> = {};
        for (const input of seg.inputs) {
          const src = input.source;
          const v = src.kind === 'call' ? callInputs[input.name] : src.kind === 'tensor' ? kept.get(input.name)?.value : received.get(src.point);
          if (v === undefined) throw new EngineError('invalid-argument', `segment ${seg.index}: no value for input '${input.name}' (${src.kind})`);
          feeds[input.name] = v;
        }
        // 2. Run, keep, read back what is sent.
        const t0 = performance.now();
        const out = await this.runner.run(this.sessions[seg.index]!, feeds, opts);
        const sent = new Map<string, HostTensor>();
        for (const o of seg.outputs) {
          const value = out[o.name];
          if (!value) throw new EngineError('invalid-argument', `segment ${seg.index}: output '${o.name}' missing`);
          if (o.role === 'keep') kept.set(o.name, { value, lastUse: Math.max(...o.consumers) });
          else {
            const data = await this.runner.read(value);
            this.runner.release(value);
            if (o.role === 'send') sent.set(o.point, { dtype: 'float32', dims: value.dims, data });
            else result = data;
          }
        }
        computeMs += performance.now() - t0;
        // 3. Free what no later segment reads.
        for (const [name, k] of kept) if (k.lastUse <= seg.index) (this.runner.release(k.value), kept.delete(name));
        for (const id of [...received.keys()]) if ((this.receiveLastUse.get(id) ?? -1) <= seg.index) received.delete(id);
        // 4. Exchanges after this segment (independent of each other: run concurrently).
        if (seg.exchangesAfter.length) {
          const t1 = performance.now();
          const got = await Promise.all(seg.exchangesAfter.map((id) => this.exchangeOne(seg, id, sent, exchanger, step)));
          seg.exchangesAfter.forEach((id, k) => received.set(id, got[k]!));
          exchangeMs += performance.now() - t1;
        }
      }
    } finally {
      for (const k of kept.values()) this.runner.release(k.value);
    }
    if (!result) throw new EngineError('invalid-argument', 'segment plan: the last segment produced no result output');
    return { noisePred: result, computeMs, exchangeMs };
  }

  private exchangeOne(seg: Segment, id: string, sent: Map<string, HostTensor>, exchanger: Exchanger, step: number): Promise<HostTensor> {
    const p = this.points.get(id);
    const s = sent.get(id);
    if (!p || !s) throw new EngineError('invalid-argument', `segment ${seg.index}: exchange point '${id}' has no ${p ? 'send output' : 'definition'}`);
    return exchanger.exchange(p.point, p.index, s, step);
  }
}

/** plan.whole: one session over the whole video, no exchanges. */
export class WholeGraphExecutor {
  private constructor(
    private readonly runner: SessionRunner,
    readonly plan: SegmentPlan,
    private readonly session: LoadedSession,
  ) {}

  /** Creates the whole-graph session with the shards it points into (`shards`: as for SegmentExecutor.load). */
  static async load(runner: SessionRunner, plan: SegmentPlan, read: ModelFileReader, shards?: WeightShards): Promise<WholeGraphExecutor> {
    validateSegmentPlan(plan);
    const weights = shards ?? new WeightShards(wholeShardsNeeds(plan), read);
    const model = await read(plan.whole.file);
    return new WholeGraphExecutor(runner, plan, await weights.create((externalData) => runner.load('unet whole', model, { externalData })));
  }

  async call(inputs: Readonly<Record<string, HostTensor>>, opts: { warmUp?: boolean } = {}): Promise<UNetCallResult> {
    const t0 = performance.now();
    const out = await this.runner.run(this.session, inputs, opts);
    const name = this.plan.whole.outputs[0]?.name ?? 'noise_pred';
    const value = out[name];
    if (!value) throw new EngineError('invalid-argument', `whole graph: output '${name}' missing`);
    const noisePred = await this.runner.read(value);
    this.runner.release(value);
    return { noisePred, computeMs: performance.now() - t0, exchangeMs: 0 };
  }
}
