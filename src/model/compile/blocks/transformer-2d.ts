// Transformer2DModel (`attentions.i`, spatial, use_linear_projection=False): per frame, no exchange.
// norm GN(eps 1e-6) → proj_in 1×1 → tokens [N, H·W, C] → BasicTransformerBlock (attn1 self over H·W,
// attn2 cross to the frame's text embedding) → proj_out 1×1 → + residual.
import { LN_EPS, attention, feedForward, layerNorm } from './attention.js';
import { aints } from '../graph.js';
import { weight } from '../numerics.js';
import { type Ctx, type Value, add, groupNormPerFrame, reshape, transpose } from './nn.js';

/** proj_in / proj_out: Linear in diffusers' UNet3DConditionModel, 1×1 Conv in the embedded model; run as a 1×1 Conv (TRANSFORMS.projectionAsConv1x1). */
function projection(c: Ctx, x: Value, key: string, cin: number, cout: number): Value {
  const w = weight(c, `${key}.weight`, [cout, cin, 1, 1], c.W.takeProjection(`${key}.weight`, cout, cin));
  const b = weight(c, `${key}.bias`, [cout], c.W.take(`${key}.bias`, [cout]));
  return c.P.op('Conv', [x, w, b], { kernel_shape: aints([1, 1]), strides: aints([1, 1]), pads: aints([0, 0, 0, 0]) });
}

export function transformer2d(
  c: Ctx, x: Value, ehs: Value, key: string, C: number, G: number, heads: number, headDim: number, crossDim: number, H: number, W: number,
): Value {
  const inner = heads * headDim;
  let y = groupNormPerFrame(c, x, `${key}.norm`, C, G, 1e-6, H, W);
  y = projection(c, y, `${key}.proj_in`, C, inner);
  let h = transpose(c, reshape(c, y, [0, inner, H * W]), [0, 2, 1]); // [N, HW, inner]
  const blk = `${key}.transformer_blocks.0`;
  const tokens = [`${c.batch}*F`, H * W, inner]; // the query length H·W is what the numerics may chunk over
  const n1 = layerNorm(c, h, `${blk}.norm1`, inner, LN_EPS);
  n1.shape ??= tokens;
  h = add(c, h, attention(c, `${blk}.attn1`, n1, n1, inner, inner, heads, headDim, null));
  const n2 = layerNorm(c, h, `${blk}.norm2`, inner, LN_EPS);
  n2.shape ??= tokens;
  h = add(c, h, attention(c, `${blk}.attn2`, n2, ehs, inner, crossDim, heads, headDim, null));
  h = add(c, h, feedForward(c, layerNorm(c, h, `${blk}.norm3`, inner, LN_EPS), `${blk}.ff`, inner));
  y = reshape(c, transpose(c, h, [0, 2, 1]), [0, inner, H, W]);
  y = projection(c, y, `${key}.proj_out`, inner, C);
  return add(c, y, x, `${key}/out`, [`${c.batch}*F`, C, H, W]);
}
