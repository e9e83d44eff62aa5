/**
 * Browser side of e2e/job-render.spec.ts: decodes an exported video file with mediabunny and
 * WebCodecs and scores every frame against a reference (model-resolution RGB frames, upscaled
 * nearest-neighbour as the export does). Bundled by the spec and served by its own test server.
 */
import { ALL_FORMATS, BufferSource, Input, VideoSampleSink } from 'mediabunny';

export interface DecodeResult {
  frames: number;
  width: number;
  height: number;
  psnrMin: number;
  psnrMean: number;
  timestampsOk: boolean;
}

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function decode(fileB64: string, refB64: string, side: number, scale: number, fps: number): Promise<DecodeResult> {
  const ref = fromBase64(refB64); // [F, side, side, 3]
  const input = new Input({ formats: ALL_FORMATS, source: new BufferSource(fromBase64(fileB64).buffer as ArrayBuffer) });
  const track = await input.getPrimaryVideoTrack();
  if (!track) throw new Error('no video track in the file');
  const canvas = new OffscreenCanvas(track.displayWidth, track.displayHeight);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const psnrs: number[] = [];
  let timestampsOk = true;
  const out = side * scale;
  for await (const sample of new VideoSampleSink(track).samples()) {
    const f = psnrs.length;
    if (Math.abs(sample.timestamp - f / fps) > 1e-6) timestampsOk = false;
    sample.draw(ctx, 0, 0);
    sample.close();
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let se = 0;
    for (let y = 0; y < out; y++)
      for (let x = 0; x < out; x++) {
        const r = ((f * side + Math.floor(y / scale)) * side + Math.floor(x / scale)) * 3;
        const d = (y * canvas.width + x) * 4;
        for (let c = 0; c < 3; c++) se += (px[d + c]! - (ref[r + c] ?? 0)) ** 2;
      }
    const mse = se / (out * out * 3);
    psnrs.push(mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse));
  }
  return { frames: psnrs.length, width: track.displayWidth, height: track.displayHeight, psnrMin: Math.min(...psnrs), psnrMean: psnrs.reduce((a, b) => a + b, 0) / psnrs.length, timestampsOk };
}

declare global {
  interface Window {
    decodeHarness: { decode: typeof decode };
  }
}
window.decodeHarness = { decode };
