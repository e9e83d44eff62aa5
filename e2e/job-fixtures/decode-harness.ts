/**
 * Browser side of e2e/job-render.spec.ts: decodes an exported video file with mediabunny and
 * WebCodecs and scores every frame against a reference (model-resolution RGB frames, upscaled
 * nearest-neighbour as the export does), and in the same pass against the negative controls (renders
 * of wrong jobs, which the file must not match). Bundled by the spec and served by its own test server.
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

/** Reference RGB frames [F, height, width, 3] scaled as the export scales; black past the last one. */
function framesOf(ref: Uint8Array, width: number, height: number, scale: number): (f: number) => Uint8ClampedArray {
  const frameBytes = width * height * 3;
  return (f) => {
    const rgba = new Uint8ClampedArray(width * height * 4);
    for (let p = 0, r = f * frameBytes; p < width * height && r < ref.length; p++, r += 3) {
      rgba[p * 4] = ref[r]!;
      rgba[p * 4 + 1] = ref[r + 1]!;
      rgba[p * 4 + 2] = ref[r + 2]!;
      rgba[p * 4 + 3] = 255;
    }
    return upscaleNearest(rgba, width, height, scale);
  };
}

/** Scores the file against `refB64` and each of `controlsB64` (same layout as the reference). */
function decode(fileB64: string, refB64: string, width: number, height: number, scale: number, fps: number, controlsB64: readonly string[] = []): Promise<DecodeResult> {
  const controls = controlsB64.map((c) => framesOf(fromBase64(c), width, height, scale));
  return decodeAndScore(fromBase64(fileB64).buffer as ArrayBuffer, fps, framesOf(fromBase64(refB64), width, height, scale), controls);
}

declare global {
  interface Window {
    decodeHarness: { decode: typeof decode };
  }
}
window.decodeHarness = { decode };
