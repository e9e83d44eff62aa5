/**
 * Which codec and container an export uses, and the exact WebCodecs encoder configuration every
 * worker derives from it, so that independently encoded clips fit in one track.
 *
 * Decision (some Chromium builds lack an H.264 encoder): H.264 in MP4 where the browser can encode
 * it (plays everywhere), else VP9 in WebM, else VP8 in WebM. The host calls `chooseExportCodec`
 * once per job and sends the result to every worker. H.264 is encoded as Annex B so each clip's key
 * frame carries its own SPS/PPS in-band; the muxer (video-muxer.ts) then writes 'avc1' when all
 * clips' parameter sets are identical and 'avc3' (parameter sets in-band) when they are not, so
 * clips from different encoders (another browser, a hardware encoder) still decode. VP8/VP9 need no
 * description at all.
 *
 * Browser only where it touches WebCodecs (`chooseExportCodec`); the rest is pure.
 */
import { EXPORT_CODECS, MediaExportError, type ExportCodec } from './encoded-clip.js';

/** Container of a codec's export file. */
export function containerOf(codec: ExportCodec): { format: 'mp4' | 'webm'; mimeType: string; extension: string } {
  return codec === 'avc'
    ? { format: 'mp4', mimeType: 'video/mp4', extension: 'mp4' }
    : { format: 'webm', mimeType: 'video/webm', extension: 'webm' };
}

/** H.264 levels (Table A-1): max macroblocks per frame and the level_idc byte. */
const AVC_LEVELS: readonly (readonly [maxMacroblocks: number, maxMacroblocksPerSecond: number, levelIdc: number])[] = [
  [396, 11_880, 0x15], // 2.1
  [1_620, 20_250, 0x1e], // 3.0
  [3_600, 108_000, 0x1f], // 3.1
  [5_120, 216_000, 0x20], // 3.2
  [8_192, 245_760, 0x28], // 4.0
  [8_704, 522_240, 0x2a], // 4.2
  [22_080, 589_824, 0x32], // 5.0
  [36_864, 983_040, 0x33], // 5.1
  [139_264, 4_177_920, 0x3c], // 6.0
];

/** VP9 levels (webmproject.org/vp9/levels): max luma picture size, luma sample rate, level ×10. */
const VP9_LEVELS: readonly (readonly [maxPictureSize: number, maxSampleRate: number, level: number])[] = [
  [36_864, 829_440, 10],
  [73_728, 2_764_800, 11],
  [122_880, 4_608_000, 20],
  [245_760, 9_216_000, 21],
  [552_960, 20_736_000, 30],
  [983_040, 36_864_000, 31],
  [2_228_224, 83_558_400, 40],
  [2_228_224, 160_432_128, 41],
  [8_912_896, 311_951_360, 50],
  [8_912_896, 588_251_136, 51],
  [35_651_584, 1_176_502_272, 60],
];

/**
 * The WebCodecs codec string for a codec at a frame size and rate: H.264 Constrained Baseline
 * (every decoder has it; no B-frames, so decode order = presentation order) or VP9 profile 0 8-bit,
 * at the lowest level that holds the size and rate.
 */
export function codecStringFor(codec: ExportCodec, width: number, height: number, fps: number): string {
  if (codec === 'vp8') return 'vp8';
  if (codec === 'avc') {
    const mbs = Math.ceil(width / 16) * Math.ceil(height / 16);
    const level = AVC_LEVELS.find(([maxMbs, maxMbps]) => mbs <= maxMbs && mbs * fps <= maxMbps) ?? AVC_LEVELS.at(-1)!;
    return `avc1.42e0${level[2].toString(16).padStart(2, '0')}`;
  }
  const samples = width * height;
  const level = VP9_LEVELS.find(([maxSize, maxRate]) => samples <= maxSize && samples * fps <= maxRate) ?? VP9_LEVELS.at(-1)!;
  return `vp09.00.${String(level[2]).padStart(2, '0')}.08`;
}

/**
 * Default bitrate: 0.5 bit per pixel per frame, at least 1 Mbit/s. Measured on the e2e harness
 * (256×256, 8 fps, 48 frames, Chromium 156): the worst case, independent random model pixels every
 * frame, decoded at min PSNR 24.5 dB (H.264), 23.1 (VP9), 31.2 (VP8) at 250 kbit/s and 41.4, 39.2,
 * 42.8 dB at 1 Mbit/s. Easy content stays far below the rate (48 frames of moving squares: 5 kB).
 */
export function defaultBitrate(width: number, height: number, fps: number): number {
  return Math.max(1_000_000, Math.round(0.5 * width * height * fps));
}

export interface EncoderSettings {
  codec: ExportCodec;
  width: number;
  height: number;
  fps: number;
  bitrate?: number;
}

/**
 * The one VideoEncoderConfig every worker of a job uses. Identical inputs give identical configs,
 * which is what lets same-build software encoders emit identical SPS/PPS.
 */
export function encoderConfigFor(s: EncoderSettings): VideoEncoderConfig {
  const config: VideoEncoderConfig = {
    codec: codecStringFor(s.codec, s.width, s.height, s.fps),
    width: s.width,
    height: s.height,
    framerate: s.fps,
    bitrate: s.bitrate ?? defaultBitrate(s.width, s.height, s.fps),
    bitrateMode: 'variable',
    latencyMode: 'quality',
  };
  if (s.codec === 'avc') config.avc = { format: 'annexb' };
  return config;
}

const DEFAULT_EXPORT_SIZE = { width: 256, height: 256, fps: 8 };

/**
 * The export codecs this browser can encode at a size and rate, in `preference` order (default
 * avc, vp9, vp8), with the reason for each one it cannot. A worker reports `codecs` to the host,
 * so the host can pick one that every worker can encode (`chooseExportCodec(size, intersection)`).
 */
export async function listEncodableExportCodecs(
  size: { width: number; height: number; fps: number } = DEFAULT_EXPORT_SIZE,
  preference: readonly ExportCodec[] = EXPORT_CODECS,
): Promise<{ codecs: ExportCodec[]; rejected: string[] }> {
  if (typeof VideoEncoder === 'undefined') {
    return { codecs: [], rejected: ['WebCodecs VideoEncoder is not available (an insecure http:// origin has none; use https or localhost)'] };
  }
  const codecs: ExportCodec[] = [];
  const rejected: string[] = [];
  for (const codec of preference) {
    const config = encoderConfigFor({ codec, ...size });
    try {
      const support = await VideoEncoder.isConfigSupported(config);
      if (support.supported) codecs.push(codec);
      else rejected.push(`${codec} (${config.codec}): not supported`);
    } catch (e) {
      rejected.push(`${codec} (${config.codec}): ${(e as Error).message}`);
    }
  }
  return { codecs, rejected };
}

/**
 * The codec for a job's export: the first of `preference` (default avc, vp9, vp8; pass the
 * intersection of the workers' `listEncodableExportCodecs` results) that this browser can encode at
 * this size and rate. Call on the host and send the result to every worker.
 * `size` is the scaled export size; the default is the embedded model's 32×32 ×8 at 8 fps.
 * Throws MediaExportError('unsupported-codec') listing what was tried.
 */
export async function chooseExportCodec(
  size: { width: number; height: number; fps: number } = DEFAULT_EXPORT_SIZE,
  preference: readonly ExportCodec[] = EXPORT_CODECS,
): Promise<ExportCodec> {
  const { codecs, rejected } = await listEncodableExportCodecs(size, preference);
  if (codecs.length > 0) return codecs[0]!;
  throw new MediaExportError(
    'unsupported-codec',
    `chooseExportCodec: no codec can encode ${size.width}×${size.height} at ${size.fps} fps; tried ${preference.length ? preference.join(', ') : 'none'}${rejected.length ? `: ${rejected.join('; ')}` : ''}`,
  );
}
