// The segment plan: the contract between the compiler (src/model/compile/) and the engine's
// segment executor (src/engine/). Serialised as `onnx/segment-plan.json` in a model package;
// names on disk are forever (old packages must still load): bump `version` on a change of meaning.
//
// How the engine runs one UNet call on a clip of F frames [start, end) of an N-frame video:
//   1. Compute the call inputs (`callInputs`, see CallInputName for what each holds).
//   2. For each segment in order: feed its inputs (from the call inputs, from kept outputs of earlier
//      segments, or from what the exchange points before it received), run it, keep its `keep`
//      outputs until their last consumer has run, read back its `send` outputs (the only tensors that
//      need to leave the GPU), and perform the exchange points in `exchangesAfter` (they are
//      independent of each other and may run concurrently). Then the next segment.
//   3. The last segment's `result` output is noise_pred [B, Cout, F, H, W] for the clip.
// Shapes use symbols: B (CFG batch, fixed per package), F (clip frames), S_ctx (context rows received
// at an attention point), n_send (length of attn_send_indices), G (global frames), L (text tokens).

export type PlanDType = 'float32' | 'int64';
export type PlanDim = number | string;

/** Per-call inputs computed by the engine (they depend on timestep, clip and frame indices, not on weights). */
export type CallInputName =
  | 'sample' //              [B, Cin, F, H, W] latents of the clip (whole graph: of the video)
  | 'timestep' //            [1] float32
  | 'fps' //                 [1] float32 (fps condition), present when the model has fps conditioning
  | 'encoder_hidden_states' // [B·F, L, D] text embedding per frame, row b·F + f
  | 'attn_bias' //           segmented: [F, F + S_ctx]; whole graph: [F, F + G]. Logit bias, shared by all
  //                          temporal attentions, heads and tokens. Key columns: own frames first (0..F−1),
  //                          then the context rows in the order the engine put them in `<point>/context`
  //                          (whole graph: the G global frames). −Infinity (or ≤ −1e9) masks a key.
  | 'global_frame_indices' // whole graph only: int64 [G], video frame indices of the global frames
  | 'attn_send_indices' //   segmented only: int64 [n_send], clip-local frame indices whose attention input
  //                          is sent at every attention point (e.g. first p, last p, own global frames), n_send ≥ 1
  | 'tconv_window_mask'; //  segmented only: [F + 8] float32, 1 where window frame (clip-local −4 .. F+3) is in the video

export interface PlanTensor {
  name: string;
  dtype: PlanDType;
  shape: PlanDim[];
}

export type SegmentInputSource =
  | { kind: 'call' }
  | { kind: 'tensor'; segment: number }
  | { kind: 'exchange'; point: string };

export interface SegmentInput extends PlanTensor {
  source: SegmentInputSource;
}

export type SegmentOutput =
  | (PlanTensor & { role: 'keep'; consumers: number[] })
  | (PlanTensor & { role: 'send'; point: string })
  | (PlanTensor & { role: 'result' });

export interface Segment {
  index: number;
  /** ONNX file, relative to the package directory. */
  file: string;
  inputs: SegmentInput[];
  outputs: SegmentOutput[];
  /** Exchange points performed after this segment (ids, in forward order). Empty for the last segment. */
  exchangesAfter: string[];
  opCounts: Record<string, number>;
  /** The weights shards this graph points into (see SegmentPlan.weights). */
  shards?: string[];
}

/**
 * An exchange point (docs/exchange-points.md). `send` names the segment output holding what this rank
 * sends; `receive` names the next segment's input to fill with what it received.
 * - stats: send [B, G, 2] = per (b, g) (mean, M2) over the rank's own frames, count = F·countPerFrame;
 *   receive [B, G, 2] = full-video (mean, biased var), combined in float64 (Chan), as float32.
 * - halo: send [B, C, 2·width, H, W] = the layer input's first `width` frames then its last `width`;
 *   receive [B, C, 2·width, H, W] = the left neighbour's last `width` frames then the right neighbour's
 *   first `width` (zeros where the neighbour is outside the video; tconv_window_mask marks them).
 * - attention: send [B·H·W, n_send, C] = attention input at attn_send_indices; receive
 *   [B·H·W, S_ctx, C] = context rows (left window frames, right window frames, global frames, in the
 *   order attn_bias's columns after the own frames expect them).
 */
export type ExchangePoint =
  | { id: string; kind: 'stats'; groups: number; channels: number; countPerFrame: number; send: string; receive: string }
  | { id: string; kind: 'halo'; width: number; channels: number; height: number; widthPx: number; send: string; receive: string }
  | { id: string; kind: 'attention'; channels: number; tokens: number; heads: number; headDim: number; send: string; receive: string };

export interface WholeGraph {
  file: string;
  inputs: PlanTensor[];
  outputs: PlanTensor[];
  opCounts: Record<string, number>;
  /** The weights shards this graph points into (see SegmentPlan.weights). */
  shards?: string[];
}

export interface SegmentPlan {
  format: 'vi-segment-plan';
  version: 1;
  /** CFG batch compiled in ([uncond, cond] = 2). */
  batch: number;
  latent: { channels: number; height: number; width: number };
  /** Halo width of every temporal conv layer (its chain length); clips must have at least this many frames. */
  tconvHalo: number;
  layout: string;
  callInputs: PlanTensor[];
  exchangePoints: ExchangePoint[];
  segments: Segment[];
  whole: WholeGraph;
  /**
   * The UNet graphs' (whole and segments) large initializers, each stored once in ONNX
   * external-data files (shards): `file` relative to the package, `location` as the graphs name it.
   * A session of a UNet graph needs the shards its initializers point into
   * (SessionOptions.externalData [{path: location, data}]): the graph's `shards` (locations, in
   * the order of this list) when the compiler recorded them, else all of these (older packages).
   * Absent: every graph carries its own weights.
   */
  weights?: { file: string; location: string }[];
}

export type WeightShard = NonNullable<SegmentPlan['weights']>[number];

/**
 * The weights shards a session of `graph` (a segment or plan.whole) must be given: its recorded
 * `shards`, else every shard of the plan. Call on a validated plan.
 */
export function graphShards(plan: SegmentPlan, graph: Segment | WholeGraph): WeightShard[] {
  const all = plan.weights ?? [];
  if (graph.shards === undefined) return all;
  const used = new Set(graph.shards);
  return all.filter((w) => used.has(w.location));
}

export class PlanError extends Error {
  readonly code = 'bad-segment-plan';
}

/** Structural checks on a plan read from disk (the engine should call this before use). */
export function validateSegmentPlan(plan: SegmentPlan): SegmentPlan {
  const fail = (m: string): never => {
    throw new PlanError(`segment plan: ${m}`);
  };
  if (plan.format !== 'vi-segment-plan') fail(`format is ${JSON.stringify(plan.format)}`);
  if (plan.version !== 1) fail(`version ${plan.version} is not supported (expected 1)`);
  if (plan.weights !== undefined) {
    if (!Array.isArray(plan.weights)) fail('weights must be a list of {file, location}');
    for (const w of plan.weights as { file?: unknown; location?: unknown }[]) {
      // The graphs sit in the same directory as their weights (onnx/): location is the file's name there.
      if (typeof w?.file !== 'string' || typeof w.location !== 'string' || !w.file.endsWith(`/${w.location}`) || w.file.includes('..')) {
        fail(`weights entry ${JSON.stringify(w)}: needs file 'onnx/<location>' and location`);
      }
    }
  }
  const locations = new Set((plan.weights ?? []).map((w) => w.location));
  const checkShards = (what: string, shards: unknown): void => {
    if (shards === undefined) return;
    if (plan.weights === undefined) fail(`${what} lists shards but the plan has no weights`);
    if (!Array.isArray(shards) || !shards.every((x) => typeof x === 'string')) fail(`${what}: shards must be a list of weights locations`);
    const list = shards as string[];
    for (const x of list) if (!locations.has(x)) fail(`${what}: shard '${x}' is not in the plan's weights`);
    if (new Set(list).size !== list.length) fail(`${what}: shards lists a location twice`);
  };
  checkShards('whole graph', plan.whole.shards);
  const points = new Map(plan.exchangePoints.map((p) => [p.id, p]));
  const received = new Set<string>();
  plan.segments.forEach((s, k) => {
    if (s.index !== k) fail(`segment at position ${k} has index ${s.index}`);
    checkShards(`segment ${k}`, s.shards);
    for (const i of s.inputs) {
      if (i.source.kind === 'tensor') {
        const src = plan.segments[i.source.segment];
        if (!src || i.source.segment >= k) fail(`segment ${k} input '${i.name}' comes from segment ${i.source.segment}`);
        const o = src.outputs.find((x) => x.name === i.name);
        if (!o || o.role !== 'keep' || !o.consumers.includes(k)) fail(`segment ${k} input '${i.name}' is not kept by segment ${i.source.segment}`);
      } else if (i.source.kind === 'exchange') {
        if (!points.has(i.source.point) || !received.has(i.source.point)) fail(`segment ${k} input '${i.name}' needs point '${i.source.point}' before it`);
      } else if (!plan.callInputs.some((c) => c.name === i.name)) {
        fail(`segment ${k} input '${i.name}' is not a call input`);
      }
    }
    for (const id of s.exchangesAfter) {
      const p = points.get(id) ?? fail(`segment ${k} exchanges at unknown point '${id}'`);
      if (!s.outputs.some((o) => o.role === 'send' && o.name === p.send)) fail(`segment ${k} does not output '${p.send}' for point '${id}'`);
      received.add(id);
    }
  });
  return plan;
}
