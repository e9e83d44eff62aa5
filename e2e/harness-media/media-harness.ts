/**
 * Browser harness for e2e/media-export.spec.ts, bundled by the spec with esbuild (independent of
 * the app build). It plays both roles of the export: each "worker" encodes its clip with its own
 * encoder instance and serialises it as for the network; the "host" parses the bytes, muxes, and
 * the harness decodes the file back with mediabunny to measure frame count, size and PSNR.
 */
import { encodeClip } from '../../src/app/media/clip-encoder.js';
import { parseEncodedClip, serializeEncodedClip } from '../../src/app/media/encoded-clip-codec.js';
import type { ExportCodec } from '../../src/app/media/encoded-clip.js';
import { chooseExportCodec, listEncodableExportCodecs } from '../../src/app/media/export-codec.js';
import { upscaleNearest } from '../../src/app/media/frame-scale.js';
import { muxClips } from '../../src/app/media/video-muxer.js';
import { parameterSetsKey } from '../../src/app/media/h264-parameter-sets.js';
import { decodeAndScore } from './decoded-video.js';

/** The embedded model's frame size; a real model's frames are larger and not square (RunOptions). */
const SIDE = 32;

/** Frame t (w × h): a dark background with a red and a green square moving, a blue one fixed. */
function syntheticFrame(t: number, w: number, h: number): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(w * h * 4);
  const square = (x0: number, y0: number, size: number, rgb: [number, number, number]): void => {
    for (let y = y0; y < y0 + size; y++) {
      for (let x = x0; x < x0 + size; x++) {
        const i = ((y % h) * w + (x % w)) * 4;
        rgba[i] = rgb[0];
        rgba[i + 1] = rgb[1];
        rgba[i + 2] = rgb[2];
      }
    }
  };
  for (let i = 0; i < w * h; i++) {
    rgba[i * 4] = 20;
    rgba[i * 4 + 1] = 30 + (i % w) % 200;
    rgba[i * 4 + 2] = 60;
    rgba[i * 4 + 3] = 255;
  }
  square(3, 20, 6, [60, 90, 220]);
  square(t % 24, 4, 8, [230, 40, 40]);
  square(22, (2 * t) % 26, 6, [40, 210, 70]);
  return rgba;
}

/** Frame t of the worst case for the codecs: every model pixel an independent random colour. */
function noiseFrame(t: number, w: number, h: number): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(w * h * 4);
  let state = (t + 1) * 2654435761;
  for (let i = 0; i < rgba.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    rgba[i] = i % 4 === 3 ? 255 : state >>> 24;
  }
  return rgba;
}

export interface RunOptions {
  /** 'squares' (default): moving squares; 'noise': independent random pixels every frame. */
  pattern?: 'squares' | 'noise';
  bitrate?: number;
  codec?: ExportCodec;
  frames: number;
  clipSizes: number[];
  fps: number;
  scale: number;
  /** Model frame size (default 32×32, the embedded model's). */
  width?: number;
  height?: number;
  /** Per clip: a codec string override (to force differing H.264 parameter sets). */
  codecStrings?: (string | undefined)[];
}

export interface RunResult {
  /** What this browser can encode at the export size (listEncodableExportCodecs). */
  encodable: ExportCodec[];
  codec: ExportCodec;
  codecString: string;
  mimeType: string;
  fileBytes: number;
  wireBytes: number[];
  clipCodecStrings: string[];
  /** H.264: the clips' in-band SPS/PPS (hex), one entry per distinct set. */
  distinctParameterSets: string[];
  muxedFrames: number;
  decodedFrames: number;
  decodedWidth: number;
  decodedHeight: number;
  timestampsOk: boolean;
  psnrMin: number;
  psnrMean: number;
  /** What a <video> element makes of the file (the user's player, not mediabunny's demuxer). */
  videoElement: { duration: number; width: number; height: number } | { error: string };
}

async function probeWithVideoElement(blob: Blob): Promise<RunResult['videoElement']> {
  const url = URL.createObjectURL(blob);
  const video = document.createElement('video');
  video.muted = true;
  try {
    return await new Promise((resolve) => {
      video.onloadedmetadata = () => resolve({ duration: video.duration, width: video.videoWidth, height: video.videoHeight });
      video.onerror = () => resolve({ error: video.error?.message || `media error ${video.error?.code}` });
      video.src = url;
    });
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function run(options: RunOptions): Promise<RunResult> {
  const { frames: total, fps, scale } = options;
  const w = options.width ?? SIDE;
  const h = options.height ?? SIDE;
  const out = { width: w * scale, height: h * scale, fps };
  const codec = options.codec ?? (await chooseExportCodec(out));
  const source = Array.from({ length: total }, (_, t) => (options.pattern === 'noise' ? noiseFrame(t, w, h) : syntheticFrame(t, w, h)));

  // Workers: one encoder per clip, bytes "on the wire".
  const wire: Uint8Array[] = [];
  let start = 0;
  for (const [rank, size] of options.clipSizes.entries()) {
    const codecString = options.codecStrings?.[rank];
    const clip = await encodeClip(source.slice(start, start + size), {
      width: w,
      height: h,
      scale,
      fps,
      codec,
      firstFrameIndex: start,
      ...(options.bitrate ? { bitrate: options.bitrate } : {}),
      ...(codecString ? { codecString } : {}),
    });
    wire.push(serializeEncodedClip(clip));
    start += size;
  }

  // Host: parse the untrusted bytes, mux in rank order.
  const clips = wire.map((bytes, rank) => parseEncodedClip(bytes, `clip from rank ${rank}`));
  const video = await muxClips(clips, { codec, fps, totalFrames: total });

  // Decode the file back.
  const decoded = await decodeAndScore(await video.blob.arrayBuffer(), fps, (index) => upscaleNearest(source[Math.min(index, total - 1)]!, w, h, scale));
  return {
    encodable: (await listEncodableExportCodecs(out)).codecs,
    codec,
    codecString: video.codecString,
    mimeType: video.mimeType,
    fileBytes: video.blob.size,
    wireBytes: wire.map((b) => b.byteLength),
    clipCodecStrings: clips.map((c) => c.codecString),
    distinctParameterSets: codec === 'avc' ? [...new Set(clips.map((c) => parameterSetsKey(c.chunks[0]!.data)))] : [],
    muxedFrames: video.frames,
    decodedFrames: decoded.frames,
    decodedWidth: decoded.width,
    decodedHeight: decoded.height,
    timestampsOk: decoded.timestampsOk,
    psnrMin: decoded.psnrMin,
    psnrMean: decoded.psnrMean,
    videoElement: await probeWithVideoElement(video.blob),
  };
}

/** Errors come back as {error, code} so the spec can assert on them. */
async function runCatching(options: RunOptions): Promise<RunResult | { error: string; code?: string }> {
  try {
    return await run(options);
  } catch (e) {
    return { error: (e as Error).message, code: (e as { code?: string }).code };
  }
}

declare global {
  interface Window {
    mediaHarness: { run: typeof runCatching };
  }
}
window.mediaHarness = { run: runCatching };
