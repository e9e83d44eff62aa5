// TemporalConvLayer (`temp_convs.i`, docs/model-architecture.md §3): four (GroupNorm → SiLU → Conv3d
// (3,1,1)) stages with a residual around the chain. Frame-spanning: a halo of 4 frames each side and
// full-video GroupNorm statistics before each conv (exchange points `<id>`, `<id>.convK.0`).
//
// Op choice: the Conv3d (3,1,1) runs as a Conv2d with kernel (3,1) over the view [B, C, F, H·W]
// (frames on the first spatial axis). Same arithmetic, same bytes of weight, and Conv2d is the
// best-optimised conv on every onnxruntime-web EP. In a segmented graph the window is
// [left 4 | own F | right 4] frames; frames outside the video are zero-filled by the engine and the
// frame mask zeroes them after each SiLU, so each conv sees exactly the video-end zero padding.
import type { FrameScope } from '../frame-scope.js';
import { aints } from '../graph.js';
import { weight } from '../numerics.js';
import { type Ctx, type Value, affine, normalize, reshape, silu, slice, transpose, INT64_MAX } from './nn.js';

const CHAIN = 4;
const GN_EPS = 1e-5; // nn.GroupNorm default inside TemporalConvLayer

export function temporalConvLayer(c: Ctx, scope: FrameScope, x: Value, key: string, C: number, G: number, H: number, W: number): Value {
  const B = c.batch;
  x.shape ??= [`${B}*F`, C, H, W]; // the residual may be kept across segments
  const x4 = transpose(c, reshape(c, x, [B, -1, C, H * W]), [0, 2, 1, 3], [B, C, 'F', H * W], `${key}/input`); // [B, C, F, HW]
  const halo = scope.sendHalo(key, x4, C, H, W);
  let stats = scope.sendStats(`${key}.conv1.0`, { x: x4, channels: C, pixels: H * W, lo: 0, hi: 0 }, G);
  scope.exchange();
  const { window, mask, halo: k } = scope.receivedHalo(halo);
  let h = window; // [B, C, F + 2k, HW]
  for (let j = 1; j <= CHAIN; j++) {
    if (j > 1) {
      stats = scope.sendStats(`${key}.conv${j}.0`, { x: h, channels: C, pixels: H * W, lo: k, hi: k }, G);
      scope.exchange();
    }
    const { mean, variance } = scope.receivedStats(stats);
    let y = normalize(c, reshape(c, h, [B, G, -1]), mean, variance, GN_EPS);
    y = affine(c, reshape(c, y, [B, C, -1, H * W]), `${key}.conv${j}.0`, C, 2);
    y = silu(c, y);
    if (mask) y = c.P.op('Mul', [y, reshape(c, mask, [1, 1, -1, 1])]); // [1, 1, F+8, 1]
    const wKey = `${key}.conv${j}.${j === 1 ? 2 : 3}`; // conv1 = [GN, SiLU, Conv3d]; conv2..4 = [GN, SiLU, Dropout, Conv3d]
    const w = weight(c, `${wKey}.weight`, [C, C, 3, 1], c.W.take(`${wKey}.weight`, [C, C, 3, 1, 1])); // TRANSFORMS.conv3dAsConv2d
    const b = weight(c, `${wKey}.bias`, [C], c.W.take(`${wKey}.bias`, [C]));
    h = c.P.op('Conv', [y, w, b], { kernel_shape: aints([3, 1]), pads: aints([1, 0, 1, 0]) }, `${key}/conv${j}`, [B, C, k ? `F+${2 * k}` : 'F', H * W]);
  }
  const own = k ? slice(c, h, 2, k, -k) : h;
  const out = c.P.op('Add', [x4, own]);
  return reshape(c, transpose(c, out, [0, 2, 1, 3]), [-1, C, H, W], [`${B}*F`, C, H, W], `${key}/out`);
}

export { INT64_MAX };
