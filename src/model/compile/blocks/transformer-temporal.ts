// TransformerTemporalModel (`transformer_in`, `temp_attentions.i`; docs/model-architecture.md §3).
// Frame-spanning: `norm` is a GroupNorm over all frames of the video (exchange point `<id>.norm`),
// and attn1/attn2 are dual-scope temporal attentions whose keys/values come from the attention
// input of the local window and the global frames (exchange points `<id>.transformer_blocks.0.attnK`).
// Tokens are [B·H·W, F, C] (B outermost, then H, W), as diffusers has them.
import type { FrameScope } from '../frame-scope.js';
import { LN_EPS, attention, feedForward, layerNorm } from './attention.js';
import { type Ctx, type Value, add, affine, linear, normalize, reshape, transpose } from './nn.js';

const NORM_EPS = 1e-6;

export function transformerTemporal(
  c: Ctx, scope: FrameScope, x: Value, key: string, C: number, G: number, heads: number, headDim: number, H: number, W: number,
): Value {
  const B = c.batch;
  x.shape ??= [`${B}*F`, C, H, W]; // the residual may be kept across segments
  const HW = H * W;
  const inner = heads * headDim;
  const x4 = transpose(c, reshape(c, x, [B, -1, C, HW]), [0, 2, 1, 3], [B, C, 'F', HW], `${key}/input`); // [B, C, F, HW]
  const st = scope.sendStats(`${key}.norm`, { x: x4, channels: C, pixels: HW, lo: 0, hi: 0 }, G);
  scope.exchange();
  const { mean, variance } = scope.receivedStats(st);
  let y = reshape(c, normalize(c, reshape(c, x4, [B, G, -1]), mean, variance, NORM_EPS), [B, C, -1, HW]);
  y = affine(c, y, `${key}.norm`, C, 2);
  const tokens = reshape(c, transpose(c, y, [0, 3, 2, 1]), [B * HW, -1, C]); // [B·HW, F, C]
  let h = linear(c, tokens, `${key}.proj_in`, C, inner, true, `${key}/proj_in`, [B * HW, 'F', inner]);

  const blk = `${key}.transformer_blocks.0`;
  const temporalAttn = (a: Value, id: string): Value => {
    a.shape = [B * HW, 'F', inner];
    const t = scope.sendAttention(id, a, B * HW, inner, heads, headDim);
    scope.exchange();
    const { kv, bias } = scope.receivedAttention(t);
    return attention(c, id, a, kv, inner, inner, heads, headDim, bias, true);
  };
  h = add(c, h, temporalAttn(layerNorm(c, h, `${blk}.norm1`, inner, LN_EPS, `${blk}.attn1/input`), `${blk}.attn1`), `${blk}/res1`, [B * HW, 'F', inner]);
  h = add(c, h, temporalAttn(layerNorm(c, h, `${blk}.norm2`, inner, LN_EPS, `${blk}.attn2/input`), `${blk}.attn2`), `${blk}/res2`, [B * HW, 'F', inner]);
  h = add(c, h, feedForward(c, layerNorm(c, h, `${blk}.norm3`, inner, LN_EPS), `${blk}.ff`, inner));
  h = linear(c, h, `${key}.proj_out`, inner, C, true);
  const back = reshape(c, transpose(c, reshape(c, h, [B, HW, -1, C]), [0, 2, 3, 1]), [-1, C, H, W]); // [B·F, C, H, W]
  return add(c, back, x, `${key}/out`, [`${B}*F`, C, H, W]);
}
