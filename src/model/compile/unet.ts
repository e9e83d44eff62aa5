// The UNet3DConditionModel forward, written once and compiled either as one whole-video graph
// (WholeScope) or as segments cut at the exchange points (SegmentedScope). Module order and names
// follow diffusers (docs/model-architecture.md §2). Layout between blocks: [B·F, C, H, W], batch
// outermost (row b·F + f).
import type { UNetConfig } from '../config.js';
import { timeEmbedding } from './blocks/embeddings.js';
import { type Ctx, type Value, conv2d, groupNormPerFrame, reshape, silu, transpose } from './blocks/nn.js';
import { resnetBlock } from './blocks/resnet.js';
import { temporalConvLayer } from './blocks/temporal-conv.js';
import { transformer2d } from './blocks/transformer-2d.js';
import { transformerTemporal } from './blocks/transformer-temporal.js';
import { CALL, type FrameScope } from './frame-scope.js';

export interface UNetShape {
  /** Latent height and width (static per compiled package). */
  height: number;
  width: number;
  /** Text tokens per prompt (encoder_hidden_states rows per frame). */
  textTokens: number;
}

/** transformer_in has 8 heads in diffusers' UNet3DConditionModel, whatever the config says. */
const TRANSFORMER_IN_HEADS = 8;

export function buildUNet(c: Ctx, scope: FrameScope, cfg: UNetConfig, shape: UNetShape): void {
  const { P } = c;
  const B = c.batch;
  const G = cfg.normNumGroups;
  const chans = cfg.blockOutChannels;
  const C0 = chans[0];
  const tembC = 4 * C0;
  let H = shape.height;
  let W = shape.width;

  // 0. Inputs. sample [B, Cin, F, H, W] → [B·F, Cin, H, W].
  const sample = P.callInput(CALL.sample, 'float32', [B, cfg.inChannels, 'F', H, W]);
  const t = P.callInput(CALL.timestep, 'float32', [1]);
  const fps = cfg.fpsConditioning ? P.callInput(CALL.fps, 'float32', [1]) : null;
  const ehs = P.callInput(CALL.encoderHiddenStates, 'float32', [`${B}*F`, shape.textTokens, cfg.crossAttentionDim]);
  let h = reshape(c, transpose(c, sample, [0, 2, 1, 3, 4]), [-1, cfg.inChannels, H, W]);

  // 1. Time (+ fps) embedding, [1, 4·C0].
  const emb = timeEmbedding(c, t, fps, C0);

  // 2. conv_in, transformer_in.
  h = conv2d(c, h, 'conv_in', cfg.inChannels, C0, 3, 1, 1, [`${B}*F`, C0, H, W], 'conv_in/out');
  h = transformerTemporal(c, scope, h, 'transformer_in', C0, G, TRANSFORMER_IN_HEADS, cfg.attentionHeadDim, H, W);
  const skips: Value[] = [h];

  const heads = (ch: number) => ch / cfg.blockHeadArg; // diffusers quirk: attention_head_dim is the head-count argument
  const headDim = cfg.blockHeadArg;
  const layer = (key: string, cin: number, cout: number, cross: boolean, x: Value): Value => {
    let y = resnetBlock(c, x, emb, key.replace('#', 'resnets'), cin, cout, tembC, G, cfg.normEps, H, W);
    y = temporalConvLayer(c, scope, y, key.replace('#', 'temp_convs'), cout, G, H, W);
    if (cross) {
      y = transformer2d(c, y, ehs, key.replace('#', 'attentions'), cout, G, heads(cout), headDim, cfg.crossAttentionDim, H, W);
      y = transformerTemporal(c, scope, y, key.replace('#', 'temp_attentions'), cout, G, heads(cout), headDim, H, W);
    }
    return y;
  };

  // 3. Down blocks.
  let cin = C0;
  cfg.downBlockTypes.forEach((type, i) => {
    const cout = chans[i];
    for (let l = 0; l < cfg.layersPerBlock; l++) {
      h = layer(`down_blocks.${i}.#.${l}`, l === 0 ? cin : cout, cout, type === 'CrossAttnDownBlock3D', h);
      skips.push(h);
    }
    if (i < chans.length - 1) {
      h = conv2d(c, h, `down_blocks.${i}.downsamplers.0.conv`, cout, cout, 3, 2, 1, [`${B}*F`, cout, Math.ceil(H / 2), Math.ceil(W / 2)], `down_blocks.${i}.downsamplers.0/out`);
      H = Math.ceil(H / 2);
      W = Math.ceil(W / 2);
      skips.push(h);
    }
    cin = cout;
  });

  // 4. Mid block: resnet, temp_conv, then (attention, temp_attention, resnet, temp_conv).
  const cm = chans[chans.length - 1];
  h = resnetBlock(c, h, emb, 'mid_block.resnets.0', cm, cm, tembC, G, cfg.normEps, H, W);
  h = temporalConvLayer(c, scope, h, 'mid_block.temp_convs.0', cm, G, H, W);
  h = transformer2d(c, h, ehs, 'mid_block.attentions.0', cm, G, heads(cm), headDim, cfg.crossAttentionDim, H, W);
  h = transformerTemporal(c, scope, h, 'mid_block.temp_attentions.0', cm, G, heads(cm), headDim, H, W);
  h = resnetBlock(c, h, emb, 'mid_block.resnets.1', cm, cm, tembC, G, cfg.normEps, H, W);
  h = temporalConvLayer(c, scope, h, 'mid_block.temp_convs.1', cm, G, H, W);

  // 5. Up blocks: concat the popped skip on channels before each layer; upsample unless final.
  const rev = [...chans].reverse();
  let outC = rev[0];
  cfg.upBlockTypes.forEach((type, i) => {
    const prevC = outC;
    outC = rev[i];
    const inC = rev[Math.min(i + 1, rev.length - 1)];
    const n = cfg.layersPerBlock + 1;
    for (let l = 0; l < n; l++) {
      const skip = skips.pop();
      if (!skip) throw new Error('internal: skip list exhausted');
      const skipC = l === n - 1 ? inC : outC;
      const resIn = l === 0 ? prevC : outC;
      const cat = P.op('Concat', [h, skip], { axis: { i: 1 } });
      h = layer(`up_blocks.${i}.#.${l}`, resIn + skipC, outC, type === 'CrossAttnUpBlock3D', cat);
    }
    if (i < rev.length - 1) {
      // Nearest ×2 as Reshape → Expand → Reshape (exact, and no Resize kernel needed).
      const x6 = reshape(c, h, [-1, outC, H, 1, W, 1]);
      const up = c.P.op('Expand', [x6, c.P.constI64([1, 1, 1, 2, 1, 2])]);
      H *= 2;
      W *= 2;
      h = conv2d(c, reshape(c, up, [-1, outC, H, W]), `up_blocks.${i}.upsamplers.0.conv`, outC, outC, 3, 1, 1, [`${B}*F`, outC, H, W], `up_blocks.${i}.upsamplers.0/out`);
    }
  });
  if (skips.length) throw new Error(`internal: ${skips.length} skip(s) left over`);

  // 6. conv_norm_out → SiLU → conv_out, back to [B, Cout, F, H, W].
  h = silu(c, groupNormPerFrame(c, h, 'conv_norm_out', C0, G, cfg.normEps, H, W));
  h = conv2d(c, h, 'conv_out', C0, cfg.outChannels, 3, 1, 1);
  const out = transpose(c, reshape(c, h, [B, -1, cfg.outChannels, H, W]), [0, 2, 1, 3, 4], [B, cfg.outChannels, 'F', H, W], CALL.noisePred);
  P.output(out, 'result');
}
