// The decoder half of diffusers' AutoencoderKL (v0.29.1 `autoencoder_kl.py` `_decode` and `vae.py`
// `Decoder`), per frame: the 2-D VAE decodes every frame on its own, so rows of the batch are frames.
//
//   latent [N, C, h, w] · (1 / scaling_factor)      the un-scaling of TextToVideoSDPipeline.decode_latents
//   → post_quant_conv (1×1, if the config has it) → decoder.conv_in (3×3)
//   → decoder.mid_block: resnets.0 → attentions.0 → resnets.1
//   → decoder.up_blocks.i: layers_per_block + 1 resnets, then upsamplers.0 (nearest ×2, conv 3×3) unless last
//   → decoder.conv_norm_out (GroupNorm, eps 1e-6) → SiLU → decoder.conv_out (3×3) → sample [N, 3, s·h, s·w]
//
// Resnets have no time embedding and GroupNorm eps 1e-6. The mid-block attention is diffusers'
// `Attention` with `_from_deprecated_attn_block`: group_norm (eps 1e-6) → tokens [N, h·w, C] → one
// head of width C (to_q/to_k/to_v/to_out.0, all with bias) → back to [N, C, h, w] → + residual.
import type { VaeConfig } from '../../config.js';
import { type Ctx, type Value, add, attentionCore, conv2d, groupNormPerFrame, linear, reshape, silu, transpose } from './nn.js';
import { resnetBlock } from './resnet.js';

/** Graph input and output names of the compiled decoder. */
export const VAE_DECODER_IO = { input: 'latent', output: 'sample' } as const;

const EPS = 1e-6;

function midAttention(c: Ctx, x: Value, key: string, C: number, G: number, H: number, W: number): Value {
  const n = groupNormPerFrame(c, x, `${key}.group_norm`, C, G, EPS, H, W);
  const tokens = transpose(c, reshape(c, n, [0, C, H * W]), [0, 2, 1]); // [N, HW, C]
  const q = linear(c, tokens, `${key}.to_q`, C, C, true);
  const k = linear(c, tokens, `${key}.to_k`, C, C, true);
  const v = linear(c, tokens, `${key}.to_v`, C, C, true);
  const o = linear(c, attentionCore(c, q, k, v, 1, C, null), `${key}.to_out.0`, C, C, true);
  return add(c, reshape(c, transpose(c, o, [0, 2, 1]), [0, C, H, W]), x, `${key}/out`, ['F', C, H, W]);
}

/** Nearest-neighbour ×2 as Reshape → Expand → Reshape (exact; no Resize kernel needed). */
function nearestUp2(c: Ctx, x: Value, C: number, H: number, W: number): Value {
  const up = c.P.op('Expand', [reshape(c, x, [-1, C, H, 1, W, 1]), c.P.constI64([1, 1, 1, 2, 1, 2])]);
  return reshape(c, up, [-1, C, 2 * H, 2 * W]);
}

/** Builds the decoder graph for latents of `height`×`width`; the frame count N is dynamic. */
export function buildVaeDecoder(c: Ctx, cfg: VaeConfig, height: number, width: number): void {
  const { P } = c;
  const G = cfg.normNumGroups;
  const chans = cfg.blockOutChannels;
  const Cl = cfg.latentChannels;
  let H = height;
  let W = width;
  const z = P.callInput(VAE_DECODER_IO.input, 'float32', ['F', Cl, H, W]);
  // In the graph, so the engine hands over the diffusion latents as they are and never needs the factor.
  let h = P.op('Mul', [z, P.constF32([1 / cfg.scalingFactor], [])]);
  if (cfg.usePostQuantConv) h = conv2d(c, h, 'post_quant_conv', Cl, Cl, 1);

  const top = chans[chans.length - 1]!;
  h = conv2d(c, h, 'decoder.conv_in', Cl, top, 3, 1, 1);
  h = resnetBlock(c, h, null, 'decoder.mid_block.resnets.0', top, top, 0, G, EPS, H, W);
  if (cfg.midBlockAddAttention) h = midAttention(c, h, 'decoder.mid_block.attentions.0', top, G, H, W);
  h = resnetBlock(c, h, null, 'decoder.mid_block.resnets.1', top, top, 0, G, EPS, H, W);

  const rev = [...chans].reverse();
  let outC = rev[0]!;
  rev.forEach((ch, i) => {
    const prevC = outC;
    outC = ch;
    for (let l = 0; l <= cfg.layersPerBlock; l++) {
      h = resnetBlock(c, h, null, `decoder.up_blocks.${i}.resnets.${l}`, l === 0 ? prevC : outC, outC, 0, G, EPS, H, W);
    }
    if (i < rev.length - 1) {
      h = nearestUp2(c, h, outC, H, W);
      H *= 2;
      W *= 2;
      h = conv2d(c, h, `decoder.up_blocks.${i}.upsamplers.0.conv`, outC, outC, 3, 1, 1, ['F', outC, H, W]);
    }
  });

  h = silu(c, groupNormPerFrame(c, h, 'decoder.conv_norm_out', chans[0]!, G, EPS, H, W));
  const out = conv2d(c, h, 'decoder.conv_out', chans[0]!, cfg.outChannels, 3, 1, 1, ['F', cfg.outChannels, H, W], VAE_DECODER_IO.output);
  P.output(out, 'result');
}
