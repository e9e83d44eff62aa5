/**
 * Host side of the export: put every rank's encoded clip (clip-encoder.ts, received as bytes and
 * parsed with encoded-clip-codec.ts) into one video file, without decoding or re-encoding.
 *
 *   const video = await muxClips(clipsInRankOrder, { codec, fps, totalFrames });
 *   download(video.blob, `video.${video.extension}`);
 *
 * Checks before writing a byte: every clip satisfies the clip contract (validateEncodedClip), all
 * clips share codec, size and fps with the options, and the clips tile [0, totalFrames) in rank
 * order: clip 0 starts at frame 0 and each next clip starts where the previous one ended, so every
 * frame index appears exactly once. Violations throw MediaExportError('clips-mismatch' | 'bad-clip')
 * naming the clip and the frames.
 *
 * H.264 (MP4): clips are Annex B with SPS/PPS in each clip's first key frame. If all clips carry
 * the same parameter sets the track's sample entry is 'avc1' (the most widely playable form);
 * otherwise 'avc3', which lets each clip's own in-band parameter sets take effect (ISO 14496-15).
 * VP9/VP8 (WebM) need no codec description.
 *
 * Browser or any runtime with Blob (mediabunny's muxers are plain JS; no WebCodecs needed here).
 */
import {
  BufferTarget,
  EncodedPacket,
  EncodedVideoPacketSource,
  Mp4OutputFormat,
  Output,
  WebMOutputFormat,
} from 'mediabunny';
import { MediaExportError, validateEncodedClip, frameIndexOfTimestamp, type EncodedClip, type ExportCodec } from './encoded-clip.js';
import { containerOf } from './export-codec.js';
import { parameterSetsKey } from './h264-parameter-sets.js';

export interface MuxOptions {
  codec: ExportCodec;
  fps: number;
  /** The job's frame count; when given, the clips must cover exactly [0, totalFrames). */
  totalFrames?: number;
}

export interface MuxedVideo {
  blob: Blob;
  mimeType: string;
  /** 'mp4' or 'webm'. */
  extension: string;
  frames: number;
  width: number;
  height: number;
  /** Codec string of the track, e.g. 'avc1.42e01e' (or 'avc3.…' when clips' SPS/PPS differ). */
  codecString: string;
}

export async function muxClips(clips: readonly EncodedClip[], options: MuxOptions): Promise<MuxedVideo> {
  const { codec, fps } = options;
  const mismatch = (rule: string): never => {
    throw new MediaExportError('clips-mismatch', `muxClips: ${rule}`);
  };
  if (clips.length === 0) mismatch('no clips');

  // 1. Each clip on its own, then against the job: codec, size, fps, contiguity.
  const first = clips[0]!;
  let nextFrame = 0;
  for (const [rank, clip] of clips.entries()) {
    const label = `clip ${rank}`;
    validateEncodedClip(clip, `muxClips: ${label}`);
    if (clip.codec !== codec) mismatch(`${label} is ${clip.codec}, the export is ${codec}`);
    if (clip.fps !== fps) mismatch(`${label} is at ${clip.fps} fps, the export at ${fps} fps`);
    if (clip.width !== first.width || clip.height !== first.height) mismatch(`${label} is ${clip.width}×${clip.height}, clip 0 is ${first.width}×${first.height}`);
    if (clip.firstFrameIndex !== nextFrame) {
      mismatch(
        clip.firstFrameIndex > nextFrame
          ? `frames [${nextFrame}, ${clip.firstFrameIndex}) are missing before ${label} (clips must be contiguous, in rank order)`
          : `${label} starts at frame ${clip.firstFrameIndex}, but frames up to ${nextFrame - 1} are already covered (overlap or wrong order)`,
      );
    }
    if (codec === 'avc' && clip.description) {
      throw new MediaExportError('bad-clip', `muxClips: ${label} is H.264 with an avcC description; clips must be Annex B (encodeClip does this)`);
    }
    nextFrame += clip.frameCount;
  }
  if (options.totalFrames !== undefined && nextFrame !== options.totalFrames) {
    mismatch(`the clips cover frames [0, ${nextFrame}), the job has ${options.totalFrames} frames`);
  }

  // 2. The track's decoder config (codec string, size, colour), the sample entry for H.264.
  let codecString = first.codecString;
  if (codec === 'avc') {
    const keys = clips.map((c) => parameterSetsKey(c.chunks[0]!.data));
    keys.forEach((k, rank) => k === '' && mismatch(`clip ${rank}'s first chunk has no in-band SPS/PPS`));
    const shared = keys.every((k) => k === keys[0]);
    codecString = `${shared ? 'avc1' : 'avc3'}${first.codecString.slice(4)}`;
  }
  const decoderConfig: VideoDecoderConfig = {
    codec: codecString,
    codedWidth: first.width,
    codedHeight: first.height,
    ...(first.description ? { description: first.description as Uint8Array<ArrayBuffer> } : {}),
    // mediabunny accepts 'bt2020-ncl', which TS's DOM types do not list yet.
    ...(first.colorSpace ? { colorSpace: first.colorSpace as VideoColorSpaceInit } : {}),
  };

  // 3. Packets in decode order, clip by clip; presentation time = global frame / fps.
  const container = containerOf(codec);
  const output = new Output({
    format: container.format === 'mp4' ? new Mp4OutputFormat({ fastStart: 'in-memory' }) : new WebMOutputFormat(),
    target: new BufferTarget(),
  });
  const source = new EncodedVideoPacketSource(codec);
  output.addVideoTrack(source, { frameRate: fps });
  try {
    await output.start();
    let isFirstPacket = true;
    for (const clip of clips) {
      for (const chunk of clip.chunks) {
        const frame = frameIndexOfTimestamp(chunk.timestampUs, fps)!; // validated above
        const packet = new EncodedPacket(chunk.data, chunk.type, frame / fps, 1 / fps);
        await source.add(packet, isFirstPacket ? { decoderConfig } : undefined);
        isFirstPacket = false;
      }
    }
    await output.finalize();
  } catch (e) {
    if (output.state !== 'finalized' && output.state !== 'canceled') await output.cancel().catch(() => undefined);
    throw new MediaExportError('mux-failed', `muxClips: mediabunny rejected the ${codecString} packets: ${(e as Error).message}`);
  }
  const buffer = (output.target as BufferTarget).buffer;
  if (!buffer) throw new MediaExportError('mux-failed', 'muxClips: the muxer produced no bytes');
  return {
    blob: new Blob([buffer], { type: container.mimeType }),
    mimeType: container.mimeType,
    extension: container.extension,
    frames: nextFrame,
    width: first.width,
    height: first.height,
    codecString,
  };
}
