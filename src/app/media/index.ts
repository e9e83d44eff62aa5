/**
 * Video export, the public surface (see each module's header for the contract):
 *   worker tab: encodeClip (clip-encoder.ts) → serializeEncodedClip (encoded-clip-codec.ts) → send
 *   host:       chooseExportCodec once per job (export-codec.ts) → send codec to workers;
 *               parseEncodedClip per received clip → muxClips in rank order (video-muxer.ts)
 */
export { encodeClip, type EncodeClipOptions } from './clip-encoder.js';
export { CLIP_FORMAT_VERSION, parseEncodedClip, serializeEncodedClip } from './encoded-clip-codec.js';
export {
  EXPORT_CODECS,
  MediaExportError,
  validateEncodedClip,
  type ClipColorSpace,
  type EncodedChunk,
  type EncodedClip,
  type ExportCodec,
  type MediaExportErrorCode,
} from './encoded-clip.js';
export { chooseExportCodec, containerOf, defaultBitrate, listEncodableExportCodecs } from './export-codec.js';
export { DEFAULT_EXPORT_SCALE, upscaleNearest } from './frame-scale.js';
export { muxClips, type MuxedVideo, type MuxOptions } from './video-muxer.js';
