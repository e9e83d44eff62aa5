/**
 * Decodes a video file back with mediabunny and WebCodecs (in the page) and scores every frame
 * against the frame the test expects: frame count, display size, timestamps (frame i at i / fps)
 * and PSNR over RGB. Shared by the export harness (media-harness.ts) and the job-render decode
 * harness (e2e/job-fixtures/decode-harness.ts).
 */
import { ALL_FORMATS, BufferSource, Input, VideoSampleSink } from 'mediabunny';

export interface DecodedVideoScore {
  frames: number;
  width: number;
  height: number;
  psnrMin: number;
  psnrMean: number;
  timestampsOk: boolean;
  /** PSNR min against each of `controls` (frames the file must not match), in their order. */
  controlPsnrMin: number[];
}

/** PSNR over the R, G and B bytes of two RGBA frames of the same size; 99 when identical. */
export function psnrRgb(a: Uint8ClampedArray, b: Uint8ClampedArray): number {
  let sse = 0;
  let n = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a[i + c]! - b[i + c]!;
      sse += d * d;
      n++;
    }
  }
  return sse === 0 ? 99 : 10 * Math.log10((255 * 255 * n) / sse);
}

/**
 * `expected(i)`: RGBA bytes of frame i at the file's display size. `controls`: other frame sources
 * scored in the same pass (negative controls: wrong renders the file must score low against).
 */
export async function decodeAndScore(file: ArrayBuffer, fps: number, expected: (index: number) => Uint8ClampedArray, controls: readonly ((index: number) => Uint8ClampedArray)[] = []): Promise<DecodedVideoScore> {
  const input = new Input({ formats: ALL_FORMATS, source: new BufferSource(file) });
  const track = await input.getPrimaryVideoTrack();
  if (!track) throw new Error('no video track in the file');
  const canvas = new OffscreenCanvas(track.displayWidth, track.displayHeight);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const psnrs: number[] = [];
  const controlPsnrs: number[][] = controls.map(() => []);
  let timestampsOk = true;
  for await (const sample of new VideoSampleSink(track).samples()) {
    const index = psnrs.length;
    if (Math.abs(sample.timestamp - index / fps) > 1e-6) timestampsOk = false;
    sample.draw(ctx, 0, 0);
    sample.close();
    const decoded = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    psnrs.push(psnrRgb(decoded, expected(index)));
    controls.forEach((control, c) => controlPsnrs[c]!.push(psnrRgb(decoded, control(index))));
  }
  return {
    frames: psnrs.length,
    width: track.displayWidth,
    height: track.displayHeight,
    psnrMin: Math.min(...psnrs),
    psnrMean: psnrs.reduce((s, p) => s + p, 0) / psnrs.length,
    timestampsOk,
    controlPsnrMin: controlPsnrs.map((p) => Math.min(...p)),
  };
}
