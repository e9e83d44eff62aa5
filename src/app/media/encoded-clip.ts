/**
 * The contract between a worker tab's clip encoder (clip-encoder.ts) and the host's muxer
 * (video-muxer.ts): one rank's clip of the video, already compressed with WebCodecs, plus the
 * typed errors of the export path. Raw frames never leave the worker; this object (serialised by
 * encoded-clip-codec.ts) is what crosses the network.
 *
 * Frame timing: frame `globalFrame` of the video is shown at `globalFrame / fps` seconds. A chunk
 * carries that time in integer microseconds (`timestampUs = round(globalFrame * 1e6 / fps)`), and
 * the host maps it back to the frame index with `frameIndexOfTimestamp`. Chunks are in decode
 * order; `timestampUs` is the presentation time (WebCodecs semantics).
 *
 * Pure: no DOM, no WebCodecs; runs in Node (unit tests) and the browser.
 */

/** The codecs an export may use: H.264 in MP4, else VP9 or VP8 in WebM (export-codec.ts). */
export const EXPORT_CODECS = ['avc', 'vp9', 'vp8'] as const;
export type ExportCodec = (typeof EXPORT_CODECS)[number];

export type ChunkType = 'key' | 'delta';

export interface EncodedChunk {
  readonly type: ChunkType;
  /** Presentation time in µs: round(globalFrame * 1e6 / fps). */
  readonly timestampUs: number;
  /** Duration in µs: round(1e6 / fps). */
  readonly durationUs: number;
  /** The compressed frame. H.264 is Annex B (start codes, in-band SPS/PPS on key frames). */
  readonly data: Uint8Array;
}

/** Colour description as WebCodecs' VideoColorSpaceInit (only the values mediabunny can write). */
export interface ClipColorSpace {
  readonly primaries?: 'bt709' | 'bt470bg' | 'smpte170m' | 'bt2020' | 'smpte432';
  readonly transfer?: 'bt709' | 'smpte170m' | 'linear' | 'iec61966-2-1' | 'pq' | 'hlg';
  readonly matrix?: 'rgb' | 'bt709' | 'bt470bg' | 'smpte170m' | 'bt2020-ncl';
  readonly fullRange?: boolean;
}

export interface EncodedClip {
  readonly codec: ExportCodec;
  /** The full WebCodecs codec string the encoder used, e.g. 'avc1.42e01e', 'vp09.00.21.08', 'vp8'. */
  readonly codecString: string;
  /** Coded size of the exported (scaled) frames in pixels. */
  readonly width: number;
  readonly height: number;
  /** Frames per second of the whole video (every clip of a job uses the same value). */
  readonly fps: number;
  /** Global index of the clip's first frame. */
  readonly firstFrameIndex: number;
  /** Number of frames in the clip (= chunks.length: WebCodecs gives one chunk per frame). */
  readonly frameCount: number;
  /** decoderConfig.description from the encoder, if it gave one (not for Annex B H.264, VP8, VP9). */
  readonly description?: Uint8Array;
  readonly colorSpace?: ClipColorSpace;
  /** Decode order; the first is a key chunk. */
  readonly chunks: readonly EncodedChunk[];
}

export type MediaExportErrorCode =
  | 'invalid-argument' // a caller's argument breaks a stated rule
  | 'unsupported-codec' // the browser cannot encode (or mux) the requested codec
  | 'encoder-failed' // WebCodecs reported an error or produced unusable output
  | 'bad-clip-bytes' // serialised clip bytes from the network are malformed
  | 'bad-clip' // a clip's content breaks the contract above (first chunk not key, frames missing...)
  | 'clips-mismatch' // clips of one job disagree (codec, size, fps) or do not tile the video
  | 'mux-failed'; // mediabunny rejected the packets

export class MediaExportError extends Error {
  override readonly name = 'MediaExportError';
  constructor(
    readonly code: MediaExportErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The form that crosses worker and peer boundaries: data, so that the code survives. */
  toData(): { code: MediaExportErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Presentation time in µs of a global frame. */
export function timestampUsOfFrame(globalFrame: number, fps: number): number {
  return Math.round((globalFrame * 1e6) / fps);
}

/** Duration in µs of one frame. */
export function frameDurationUs(fps: number): number {
  return Math.round(1e6 / fps);
}

/**
 * The global frame index a chunk timestamp stands for, or null when the timestamp is not one that
 * `timestampUsOfFrame` produces (off the frame grid: not a frame of this video).
 */
export function frameIndexOfTimestamp(timestampUs: number, fps: number): number | null {
  const frame = Math.round((timestampUs * fps) / 1e6);
  return frame >= 0 && timestampUsOfFrame(frame, fps) === timestampUs ? frame : null;
}

/** Hard limits on what a clip may claim (bounds for untrusted input, not product limits). */
export const CLIP_LIMITS = {
  /** H.264 level 6.2 and VP9 level 6.2 top out at 8192 pixels per side. */
  maxSide: 8192,
  maxFps: 240,
  /** 24 h at 240 fps; frame indices stay far inside float64's exact integers. */
  maxFrameIndex: 240 * 86_400,
  /** One clip of a job; a job is far shorter. */
  maxFramesPerClip: 100_000,
  maxDescriptionBytes: 64 * 1024,
  /** A compressed frame larger than an uncompressed 8192² RGBA frame is not a frame. */
  maxChunkBytes: 8192 * 8192 * 4,
  maxCodecStringLength: 64,
} as const;

/**
 * Checks a clip's content against the contract above: sizes and fps in range, one chunk per
 * frame, the first chunk a key chunk, and the chunk timestamps exactly the frames
 * [firstFrameIndex, firstFrameIndex + frameCount) once each. Throws MediaExportError('bad-clip').
 * `label` names the clip in messages (e.g. 'clip of rank 2').
 */
export function validateEncodedClip(clip: EncodedClip, label = 'clip'): void {
  const fail = (rule: string): never => {
    throw new MediaExportError('bad-clip', `${label}: ${rule}`);
  };
  if (!(EXPORT_CODECS as readonly string[]).includes(clip.codec)) fail(`codec ${JSON.stringify(clip.codec)} is not one of ${EXPORT_CODECS.join(', ')}`);
  for (const [name, v] of [['width', clip.width], ['height', clip.height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > CLIP_LIMITS.maxSide) fail(`${name} must be an integer in [1, ${CLIP_LIMITS.maxSide}], got ${v}`);
  }
  if (!Number.isFinite(clip.fps) || clip.fps <= 0 || clip.fps > CLIP_LIMITS.maxFps) fail(`fps must be in (0, ${CLIP_LIMITS.maxFps}], got ${clip.fps}`);
  if (!Number.isInteger(clip.firstFrameIndex) || clip.firstFrameIndex < 0 || clip.firstFrameIndex > CLIP_LIMITS.maxFrameIndex) {
    fail(`firstFrameIndex must be an integer in [0, ${CLIP_LIMITS.maxFrameIndex}], got ${clip.firstFrameIndex}`);
  }
  if (!Number.isInteger(clip.frameCount) || clip.frameCount < 1 || clip.frameCount > CLIP_LIMITS.maxFramesPerClip) {
    fail(`frameCount must be an integer in [1, ${CLIP_LIMITS.maxFramesPerClip}], got ${clip.frameCount}`);
  }
  if (clip.chunks.length !== clip.frameCount) fail(`has ${clip.chunks.length} chunks for ${clip.frameCount} frames (one chunk per frame)`);
  if (clip.chunks[0]!.type !== 'key') fail('the first chunk must be a key chunk');
  const seen = new Uint8Array(clip.frameCount);
  const wantDurationUs = frameDurationUs(clip.fps);
  for (const [i, chunk] of clip.chunks.entries()) {
    const frame = frameIndexOfTimestamp(chunk.timestampUs, clip.fps);
    if (frame === null) fail(`chunk ${i}: timestamp ${chunk.timestampUs} µs is not on the frame grid of ${clip.fps} fps`);
    const local = frame! - clip.firstFrameIndex;
    if (local < 0 || local >= clip.frameCount) {
      fail(`chunk ${i}: frame ${frame} is outside the clip's frames [${clip.firstFrameIndex}, ${clip.firstFrameIndex + clip.frameCount})`);
    }
    if (seen[local]) fail(`chunk ${i}: frame ${frame} appears twice`);
    seen[local] = 1;
    if (chunk.durationUs !== wantDurationUs) fail(`chunk ${i}: duration ${chunk.durationUs} µs, expected ${wantDurationUs} µs at ${clip.fps} fps`);
    if (chunk.data.byteLength === 0) fail(`chunk ${i}: no data`);
  }
}
