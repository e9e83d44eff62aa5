/**
 * Nearest-neighbour upscaling of RGBA frames for export: each model pixel becomes a
 * `scale`×`scale` block, so the exported video shows the model's pixels exactly (no blur) and the
 * block edges fall on the codecs' 8×8 grid when `scale` is a multiple of 8. Pure; Node and browser.
 */
import { MediaExportError } from './encoded-clip.js';

/** Default export scale: 8 (32×32 model frames → 256×256, even sides for H.264 4:2:0). */
export const DEFAULT_EXPORT_SCALE = 8;

/** Returns a new (width·scale)×(height·scale) RGBA frame. */
export function upscaleNearest(rgba: Uint8ClampedArray, width: number, height: number, scale: number): Uint8ClampedArray {
  if (!Number.isInteger(scale) || scale < 1 || scale > 64) {
    throw new MediaExportError('invalid-argument', `upscaleNearest: scale must be an integer in [1, 64], got ${scale}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new MediaExportError('invalid-argument', `upscaleNearest: frame has ${rgba.length} bytes, expected ${width}×${height}×4 = ${width * height * 4}`);
  }
  if (scale === 1) return rgba.slice();
  const outWidth = width * scale;
  const out = new Uint8ClampedArray(outWidth * height * scale * 4);
  const src32 = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
  const dst32 = new Uint32Array(out.buffer);
  // Widen one source row into the first output row of its block, then copy it down the block.
  for (let y = 0; y < height; y++) {
    const rowStart = y * scale * outWidth;
    for (let x = 0; x < width; x++) dst32.fill(src32[y * width + x]!, rowStart + x * scale, rowStart + (x + 1) * scale);
    for (let r = 1; r < scale; r++) dst32.copyWithin(rowStart + r * outWidth, rowStart, rowStart + outWidth);
  }
  return out;
}
