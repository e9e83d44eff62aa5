// ResnetBlock2D (`resnets.i`): per frame, no exchange. norm1 GN → SiLU → conv1 → + time_emb_proj(SiLU(emb))
// → norm2 GN → SiLU → conv2; 1×1 conv_shortcut when channels change; output_scale_factor 1.
// Without a time embedding (emb null: the VAE decoder's resnets, temb_channels None) there is no time_emb_proj.
import { type Ctx, type Value, add, conv2d, groupNormPerFrame, linear, reshape, silu } from './nn.js';

export function resnetBlock(
  c: Ctx, x: Value, emb: Value | null, key: string, cin: number, cout: number, tembC: number, G: number, eps: number, H: number, W: number,
): Value {
  let h = silu(c, groupNormPerFrame(c, x, `${key}.norm1`, cin, G, eps, H, W));
  h = conv2d(c, h, `${key}.conv1`, cin, cout, 3, 1, 1);
  if (emb) {
    const t = reshape(c, linear(c, silu(c, emb), `${key}.time_emb_proj`, tembC, cout, true), [1, cout, 1, 1]); // emb is the same for every row
    h = c.P.op('Add', [h, t]);
  }
  h = silu(c, groupNormPerFrame(c, h, `${key}.norm2`, cout, G, eps, H, W));
  h = conv2d(c, h, `${key}.conv2`, cout, cout, 3, 1, 1);
  const sc = cin !== cout ? conv2d(c, x, `${key}.conv_shortcut`, cin, cout, 1) : x;
  return add(c, sc, h, `${key}/out`, [`${c.batch}*F`, cout, H, W]);
}
