// Transformer2DModel (`attentions.i`, spatial, use_linear_projection=False): per frame, no exchange.
// norm GN(eps 1e-6) → proj_in 1×1 → tokens [N, H·W, C] → BasicTransformerBlock (attn1 self over H·W,
// attn2 cross to the frame's text embedding) → proj_out 1×1 → + residual.
import { LN_EPS, attention, feedForward, layerNorm } from './attention.js';
import { type Ctx, type Value, add, conv2d, groupNormPerFrame, reshape, transpose } from './nn.js';

export function transformer2d(
  c: Ctx, x: Value, ehs: Value, key: string, C: number, G: number, heads: number, headDim: number, crossDim: number, H: number, W: number,
): Value {
  const inner = heads * headDim;
  let y = groupNormPerFrame(c, x, `${key}.norm`, C, G, 1e-6, H, W);
  y = conv2d(c, y, `${key}.proj_in`, C, inner, 1);
  let h = transpose(c, reshape(c, y, [0, inner, H * W]), [0, 2, 1]); // [N, HW, inner]
  const blk = `${key}.transformer_blocks.0`;
  const n1 = layerNorm(c, h, `${blk}.norm1`, inner, LN_EPS);
  h = add(c, h, attention(c, `${blk}.attn1`, n1, n1, inner, inner, heads, headDim, null));
  const n2 = layerNorm(c, h, `${blk}.norm2`, inner, LN_EPS);
  h = add(c, h, attention(c, `${blk}.attn2`, n2, ehs, inner, crossDim, heads, headDim, null));
  h = add(c, h, feedForward(c, layerNorm(c, h, `${blk}.norm3`, inner, LN_EPS), `${blk}.ff`, inner));
  y = reshape(c, transpose(c, h, [0, 2, 1]), [0, inner, H, W]);
  y = conv2d(c, y, `${key}.proj_out`, inner, C, 1);
  return add(c, y, x, `${key}/out`, [`${c.batch}*F`, C, H, W]);
}
