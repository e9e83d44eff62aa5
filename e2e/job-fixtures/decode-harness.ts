/**
 * Browser side of e2e/job-render.spec.ts: decodes an exported video file with mediabunny and
 * WebCodecs and scores every frame against a reference (model-resolution RGB frames, upscaled
 * nearest-neighbour as the export does). Bundled by the spec and served by its own test server.
 */
import { upscaleNearest } from '../../src/app/media/frame-scale.js';
import { type DecodedVideoScore, decodeAndScore } from '../harness-media/decoded-video.js';

export type DecodeResult = DecodedVideoScore;

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Reference RGB frames [F, side, side, 3] scaled as the export scales; black past the last one. */
function decode(fileB64: string, refB64: string, side: number, scale: number, fps: number): Promise<DecodeResult> {
  const ref = fromBase64(refB64);
  const frameBytes = side * side * 3;
  const expected = (f: number): Uint8ClampedArray => {
    const rgba = new Uint8ClampedArray(side * side * 4);
    for (let p = 0, r = f * frameBytes; p < side * side && r < ref.length; p++, r += 3) {
      rgba[p * 4] = ref[r]!;
      rgba[p * 4 + 1] = ref[r + 1]!;
      rgba[p * 4 + 2] = ref[r + 2]!;
      rgba[p * 4 + 3] = 255;
    }
    return upscaleNearest(rgba, side, side, scale);
  };
  return decodeAndScore(fromBase64(fileB64).buffer as ArrayBuffer, fps, expected);
}

declare global {
  interface Window {
    decodeHarness: { decode: typeof decode };
  }
}
window.decodeHarness = { decode };
