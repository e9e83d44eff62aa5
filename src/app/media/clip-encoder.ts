/**
 * Worker side of the export: compress one rank's clip with WebCodecs, so that only encoded chunks
 * (not raw frames) cross the network to the host.
 *
 *   const codec = <from the host, chosen with chooseExportCodec (export-codec.ts)>;
 *   const clip = await encodeClip(frames, { width: 32, height: 32, fps: 8, codec, firstFrameIndex: 16 });
 *   send(serializeEncodedClip(clip));             // encoded-clip-codec.ts; the host parses and muxes
 *
 * - `frames` are RGBA (Uint8ClampedArray, width×height×4, row-major), the clip's frames in order.
 * - Each frame is scaled up nearest-neighbour by `scale` (default 8: 32×32 → 256×256). H.264 needs
 *   even scaled sides.
 * - The first frame is a key frame, so the clip decodes on its own; `keyFrameIntervalFrames`
 *   (default 2 s of frames) adds more for seeking. Frame i is shown at (firstFrameIndex + i) / fps.
 * - Every worker must pass the same codec, size, scale, fps and bitrate: the encoder config is
 *   derived from them alone (encoderConfigFor), which keeps the clips compatible in one track.
 *
 * Runs wherever WebCodecs does (window or dedicated worker; secure context). Imports no DOM APIs
 * beyond WebCodecs, nothing from lit, peerjs or the engine.
 */
import {
  EXPORT_CODECS,
  MediaExportError,
  frameDurationUs,
  timestampUsOfFrame,
  validateEncodedClip,
  type ClipColorSpace,
  type EncodedChunk,
  type EncodedClip,
  type ExportCodec,
} from './encoded-clip.js';
import { encoderConfigFor } from './export-codec.js';
import { DEFAULT_EXPORT_SCALE, upscaleNearest } from './frame-scale.js';
import { parameterSetsKey } from './h264-parameter-sets.js';

export interface EncodeClipOptions {
  /** Size of the given (model) frames in pixels. */
  width: number;
  height: number;
  /** Integer nearest-neighbour scale for export; default DEFAULT_EXPORT_SCALE (8). */
  scale?: number;
  fps: number;
  codec: ExportCodec;
  /** Global index of frames[0] in the whole video. */
  firstFrameIndex: number;
  /** Bits per second; default defaultBitrate(scaled size, fps) (export-codec.ts). */
  bitrate?: number;
  /** A key frame every this many frames after the first; default round(2 · fps); 0 = first only. */
  keyFrameIntervalFrames?: number;
  /**
   * Full WebCodecs codec string; default codecStringFor(codec, scaled size, fps). Only to match a
   * string the host negotiated (or, in tests, to make clips with differing H.264 parameter sets).
   */
  codecString?: string;
  signal?: AbortSignal;
}

/** Encoder queue depth at which encodeClip waits for the encoder (keeps memory bounded). */
const MAX_ENCODE_QUEUE = 8;

export async function encodeClip(frames: readonly Uint8ClampedArray[], options: EncodeClipOptions): Promise<EncodedClip> {
  const { width, height, fps, codec, firstFrameIndex } = options;
  const scale = options.scale ?? DEFAULT_EXPORT_SCALE;
  const bad = (rule: string): never => {
    throw new MediaExportError('invalid-argument', `encodeClip: ${rule}`);
  };
  if (!(EXPORT_CODECS as readonly string[]).includes(codec)) bad(`codec must be one of ${EXPORT_CODECS.join(', ')}, got ${JSON.stringify(codec)}`);
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) bad(`width and height must be positive integers, got ${width}×${height}`);
  if (!Number.isInteger(scale) || scale < 1) bad(`scale must be a positive integer, got ${scale}`);
  if (!Number.isFinite(fps) || fps <= 0) bad(`fps must be positive, got ${fps}`);
  if (!Number.isInteger(firstFrameIndex) || firstFrameIndex < 0) bad(`firstFrameIndex must be a non-negative integer, got ${firstFrameIndex}`);
  if (frames.length === 0) bad('frames is empty');
  const outWidth = width * scale;
  const outHeight = height * scale;
  if (codec === 'avc' && (outWidth % 2 !== 0 || outHeight % 2 !== 0)) bad(`H.264 needs even sides, scaled size is ${outWidth}×${outHeight} (use an even scale)`);
  const keyInterval = options.keyFrameIntervalFrames ?? Math.max(1, Math.round(2 * fps));
  if (!Number.isInteger(keyInterval) || keyInterval < 0) bad(`keyFrameIntervalFrames must be a non-negative integer, got ${keyInterval}`);
  for (const [i, f] of frames.entries()) {
    if (!(f instanceof Uint8ClampedArray) || f.length !== width * height * 4) bad(`frame ${i} must be a Uint8ClampedArray of ${width}×${height}×4 bytes, got ${f?.length}`);
  }

  if (typeof VideoEncoder === 'undefined') {
    throw new MediaExportError('unsupported-codec', 'encodeClip: WebCodecs VideoEncoder is not available (an insecure http:// origin has none; use https or localhost)');
  }
  const config = encoderConfigFor({ codec, width: outWidth, height: outHeight, fps, ...(options.bitrate !== undefined ? { bitrate: options.bitrate } : {}) });
  if (options.codecString !== undefined) config.codec = options.codecString;
  const support = await VideoEncoder.isConfigSupported(config);
  if (!support.supported) throw new MediaExportError('unsupported-codec', `encodeClip: this browser cannot encode ${config.codec} at ${outWidth}×${outHeight}`);

  const chunks: EncodedChunk[] = [];
  let decoderConfig: VideoDecoderConfig | undefined;
  let failure: Error | undefined;
  const durationUs = frameDurationUs(fps);
  const encoder = new VideoEncoder({
    output: (chunk, meta) => {
      const data = new Uint8Array(chunk.byteLength);
      chunk.copyTo(data);
      chunks.push({ type: chunk.type, timestampUs: chunk.timestamp, durationUs, data });
      if (meta?.decoderConfig && !decoderConfig) decoderConfig = meta.decoderConfig;
    },
    error: (e) => {
      failure ??= e;
    },
  });
  try {
    encoder.configure(config);
    for (const [i, rgba] of frames.entries()) {
      options.signal?.throwIfAborted();
      if (failure) break;
      const pixels = upscaleNearest(rgba, width, height, scale);
      const frame = new VideoFrame(pixels, {
        format: 'RGBA',
        codedWidth: outWidth,
        codedHeight: outHeight,
        timestamp: timestampUsOfFrame(firstFrameIndex + i, fps),
        duration: durationUs,
      });
      try {
        encoder.encode(frame, { keyFrame: i === 0 || (keyInterval > 0 && i % keyInterval === 0) });
      } finally {
        frame.close();
      }
      while (encoder.encodeQueueSize > MAX_ENCODE_QUEUE && !failure) {
        await new Promise<void>((resolve) => encoder.addEventListener('dequeue', () => resolve(), { once: true }));
      }
    }
    if (!failure) await encoder.flush();
  } catch (e) {
    failure ??= e as Error;
  } finally {
    if (encoder.state !== 'closed') encoder.close();
  }
  if (failure) {
    if (failure instanceof DOMException && failure.name === 'AbortError' && options.signal?.aborted) throw failure;
    if (options.signal?.aborted) throw options.signal.reason;
    throw new MediaExportError('encoder-failed', `encodeClip: the ${config.codec} encoder failed: ${failure.message}`);
  }

  if (chunks.length !== frames.length) {
    throw new MediaExportError('encoder-failed', `encodeClip: the encoder returned ${chunks.length} chunks for ${frames.length} frames`);
  }
  if (codec === 'avc' && parameterSetsKey(chunks[0]!.data) === '') {
    throw new MediaExportError('encoder-failed', 'encodeClip: the first H.264 chunk carries no SPS/PPS in-band (Annex B); the host could not mux it');
  }
  // The encoder's own codec string, when it reports one of the expected family (it knows the
  // profile and level it wrote); else the one we asked for.
  const reported = decoderConfig?.codec;
  const family = codec === 'avc' ? /^avc[13]\.[0-9a-fA-F]{6}$/ : codec === 'vp9' ? /^vp09(\.\d{2}){3}$/ : /^vp8$/;
  const clip: EncodedClip = {
    codec,
    codecString: reported && family.test(reported) ? reported : config.codec,
    width: outWidth,
    height: outHeight,
    fps,
    firstFrameIndex,
    frameCount: frames.length,
    chunks,
    ...(decoderConfig?.description ? { description: copyBufferSource(decoderConfig.description) } : {}),
    ...(decoderConfig?.colorSpace ? { colorSpace: knownColorSpace(decoderConfig.colorSpace) } : {}),
  };
  try {
    validateEncodedClip(clip, 'encodeClip');
  } catch (e) {
    throw new MediaExportError('encoder-failed', `encodeClip: the encoder output breaks the clip contract: ${(e as Error).message}`);
  }
  return clip;
}

function copyBufferSource(source: AllowSharedBufferSource): Uint8Array {
  return ArrayBuffer.isView(source)
    ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength).slice()
    : new Uint8Array(source).slice();
}

/** The encoder's colour space, keeping only the values a container can record (encoded-clip.ts). */
function knownColorSpace(cs: VideoColorSpaceInit): ClipColorSpace {
  const pick = <T extends string>(values: readonly T[], v: string | null | undefined): T | undefined =>
    v != null && (values as readonly string[]).includes(v) ? (v as T) : undefined;
  const primaries = pick(['bt709', 'bt470bg', 'smpte170m', 'bt2020', 'smpte432'] as const, cs.primaries);
  const transfer = pick(['bt709', 'smpte170m', 'linear', 'iec61966-2-1', 'pq', 'hlg'] as const, cs.transfer);
  const matrix = pick(['rgb', 'bt709', 'bt470bg', 'smpte170m', 'bt2020-ncl'] as const, cs.matrix);
  return {
    ...(primaries ? { primaries } : {}),
    ...(transfer ? { transfer } : {}),
    ...(matrix ? { matrix } : {}),
    ...(typeof cs.fullRange === 'boolean' ? { fullRange: cs.fullRange } : {}),
  };
}
