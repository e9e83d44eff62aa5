/**
 * Binary form of an EncodedClip (encoded-clip.ts) for the trip from a worker tab to the host.
 * Every byte that arrives from the network is untrusted: `parseEncodedClip` checks magic, version,
 * every length against the bytes that remain and the limits in CLIP_LIMITS, and then the clip's
 * content (`validateEncodedClip`), and throws MediaExportError('bad-clip-bytes' | 'bad-clip')
 * with the offending field; it never reads out of bounds. Chunk data is copied out, so the result
 * does not alias the input buffer. Pure: runs in Node and the browser.
 *
 * Layout, little-endian (names and offsets are forever: change them only with a new version):
 *
 *   off size field
 *    0  u32  magic 'VICL' (0x5649434c)
 *    4  u16  format version (1)
 *    6  u8   codec          EXPORT_CODECS index
 *    7  u8   colour flags   bit 0: colour space present, bit 1: fullRange set, bit 2: fullRange value
 *    8  u8   primaries      0 = unset, else 1 + PRIMARIES index
 *    9  u8   transfer       0 = unset, else 1 + TRANSFERS index
 *   10  u8   matrix         0 = unset, else 1 + MATRICES index
 *   11  u8   codec string length (1..64), the ASCII string follows the fixed header
 *   12  u16  width
 *   14  u16  height
 *   16  f64  fps
 *   24  u32  first frame index
 *   28  u32  frame count = chunk count
 *   32  u32  description length (0 = none)
 *   36  ...  codec string, then description bytes
 *   then per chunk: u8 type (0 key, 1 delta), u8 × 3 reserved (0), f64 timestamp µs,
 *                   u32 duration µs, u32 data length, data bytes
 *
 * The buffer must end exactly after the last chunk.
 */
import {
  CLIP_LIMITS,
  EXPORT_CODECS,
  MediaExportError,
  validateEncodedClip,
  type ClipColorSpace,
  type EncodedChunk,
  type EncodedClip,
} from './encoded-clip.js';

export const CLIP_MAGIC = 0x5649434c; // 'VICL'
export const CLIP_FORMAT_VERSION = 1;
const FIXED_HEADER_BYTES = 36;
const CHUNK_HEADER_BYTES = 20;

const PRIMARIES = ['bt709', 'bt470bg', 'smpte170m', 'bt2020', 'smpte432'] as const;
const TRANSFERS = ['bt709', 'smpte170m', 'linear', 'iec61966-2-1', 'pq', 'hlg'] as const;
const MATRICES = ['rgb', 'bt709', 'bt470bg', 'smpte170m', 'bt2020-ncl'] as const;
const CODEC_STRING_PATTERN = /^[A-Za-z0-9.]+$/;

function enumCode<T extends string>(values: readonly T[], v: T | undefined, field: string): number {
  if (v === undefined) return 0;
  const i = values.indexOf(v);
  if (i < 0) throw new MediaExportError('invalid-argument', `serializeEncodedClip: colorSpace.${field} ${JSON.stringify(v)} is not one of ${values.join(', ')}`);
  return i + 1;
}

/** The clip as bytes. Throws MediaExportError if the clip breaks the EncodedClip contract. */
export function serializeEncodedClip(clip: EncodedClip): Uint8Array {
  validateEncodedClip(clip, 'serializeEncodedClip');
  if (clip.codecString.length < 1 || clip.codecString.length > CLIP_LIMITS.maxCodecStringLength || !CODEC_STRING_PATTERN.test(clip.codecString)) {
    throw new MediaExportError('invalid-argument', `serializeEncodedClip: codecString ${JSON.stringify(clip.codecString)} must be 1..${CLIP_LIMITS.maxCodecStringLength} characters of [A-Za-z0-9.]`);
  }
  const descriptionBytes = clip.description?.byteLength ?? 0;
  if (descriptionBytes > CLIP_LIMITS.maxDescriptionBytes) {
    throw new MediaExportError('invalid-argument', `serializeEncodedClip: description of ${descriptionBytes} bytes exceeds ${CLIP_LIMITS.maxDescriptionBytes}`);
  }
  let total = FIXED_HEADER_BYTES + clip.codecString.length + descriptionBytes;
  for (const chunk of clip.chunks) total += CHUNK_HEADER_BYTES + chunk.data.byteLength;

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const cs = clip.colorSpace;
  view.setUint32(0, CLIP_MAGIC, true);
  view.setUint16(4, CLIP_FORMAT_VERSION, true);
  view.setUint8(6, EXPORT_CODECS.indexOf(clip.codec));
  view.setUint8(7, (cs ? 1 : 0) | (cs?.fullRange !== undefined ? 2 : 0) | (cs?.fullRange ? 4 : 0));
  view.setUint8(8, enumCode(PRIMARIES, cs?.primaries, 'primaries'));
  view.setUint8(9, enumCode(TRANSFERS, cs?.transfer, 'transfer'));
  view.setUint8(10, enumCode(MATRICES, cs?.matrix, 'matrix'));
  view.setUint8(11, clip.codecString.length);
  view.setUint16(12, clip.width, true);
  view.setUint16(14, clip.height, true);
  view.setFloat64(16, clip.fps, true);
  view.setUint32(24, clip.firstFrameIndex, true);
  view.setUint32(28, clip.frameCount, true);
  view.setUint32(32, descriptionBytes, true);
  let off = FIXED_HEADER_BYTES;
  for (let i = 0; i < clip.codecString.length; i++) out[off++] = clip.codecString.charCodeAt(i);
  if (clip.description) {
    out.set(clip.description, off);
    off += descriptionBytes;
  }
  for (const chunk of clip.chunks) {
    view.setUint8(off, chunk.type === 'key' ? 0 : 1);
    view.setFloat64(off + 4, chunk.timestampUs, true);
    view.setUint32(off + 12, chunk.durationUs, true);
    view.setUint32(off + 16, chunk.data.byteLength, true);
    out.set(chunk.data, off + CHUNK_HEADER_BYTES);
    off += CHUNK_HEADER_BYTES + chunk.data.byteLength;
  }
  return out;
}

/**
 * Parses bytes from the network into an EncodedClip, validating everything (see the header).
 * `label` names the sender in error messages (e.g. 'clip from rank 2').
 */
export function parseEncodedClip(bytes: Uint8Array, label = 'clip'): EncodedClip {
  const fail = (rule: string): never => {
    throw new MediaExportError('bad-clip-bytes', `${label}: ${rule}`);
  };
  if (!(bytes instanceof Uint8Array)) fail('expected a Uint8Array');
  if (bytes.byteLength < FIXED_HEADER_BYTES) fail(`${bytes.byteLength} bytes is shorter than the ${FIXED_HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== CLIP_MAGIC) fail(`bad magic 0x${magic.toString(16).padStart(8, '0')} (expected 0x${CLIP_MAGIC.toString(16)} 'VICL')`);
  const version = view.getUint16(4, true);
  if (version !== CLIP_FORMAT_VERSION) fail(`format version ${version} is not supported (expected ${CLIP_FORMAT_VERSION})`);

  const codecIndex = view.getUint8(6);
  const codec = EXPORT_CODECS[codecIndex] ?? fail(`codec code ${codecIndex} is not one of 0..${EXPORT_CODECS.length - 1}`);
  const colourFlags = view.getUint8(7);
  if (colourFlags > 7) fail(`colour flags 0x${colourFlags.toString(16)} has unknown bits`);
  if ((colourFlags & 4) !== 0 && (colourFlags & 2) === 0) fail('colour flags give a fullRange value but not the bit that says it is set');
  const decodeEnum = <T extends string>(values: readonly T[], offset: number, field: string): T | undefined => {
    const code = view.getUint8(offset);
    if (code === 0) return undefined;
    return values[code - 1] ?? fail(`colour ${field} code ${code} is not one of 0..${values.length}`);
  };
  const primaries = decodeEnum(PRIMARIES, 8, 'primaries');
  const transfer = decodeEnum(TRANSFERS, 9, 'transfer');
  const matrix = decodeEnum(MATRICES, 10, 'matrix');
  let colorSpace: ClipColorSpace | undefined;
  if (colourFlags & 1) {
    colorSpace = (colourFlags & 2) !== 0 ? { fullRange: (colourFlags & 4) !== 0 } : {};
    if (primaries) colorSpace = { ...colorSpace, primaries };
    if (transfer) colorSpace = { ...colorSpace, transfer };
    if (matrix) colorSpace = { ...colorSpace, matrix };
  } else if (colourFlags !== 0 || primaries || transfer || matrix) {
    fail('colour values are set but the colour-space flag is not');
  }

  const codecStringLength = view.getUint8(11);
  const width = view.getUint16(12, true);
  const height = view.getUint16(14, true);
  const fps = view.getFloat64(16, true);
  const firstFrameIndex = view.getUint32(24, true);
  const frameCount = view.getUint32(28, true);
  const descriptionBytes = view.getUint32(32, true);
  if (codecStringLength < 1 || codecStringLength > CLIP_LIMITS.maxCodecStringLength) {
    fail(`codec string length ${codecStringLength} is not in [1, ${CLIP_LIMITS.maxCodecStringLength}]`);
  }
  if (frameCount < 1 || frameCount > CLIP_LIMITS.maxFramesPerClip) fail(`frame count ${frameCount} is not in [1, ${CLIP_LIMITS.maxFramesPerClip}]`);
  if (descriptionBytes > CLIP_LIMITS.maxDescriptionBytes) fail(`description length ${descriptionBytes} exceeds ${CLIP_LIMITS.maxDescriptionBytes}`);
  let off = FIXED_HEADER_BYTES;
  if (off + codecStringLength + descriptionBytes > bytes.byteLength) {
    fail(`codec string (${codecStringLength} bytes) and description (${descriptionBytes} bytes) run past the end of ${bytes.byteLength} bytes`);
  }
  const codecString = String.fromCharCode(...bytes.subarray(off, off + codecStringLength));
  if (!CODEC_STRING_PATTERN.test(codecString)) fail(`codec string ${JSON.stringify(codecString)} has characters outside [A-Za-z0-9.]`);
  off += codecStringLength;
  const description = descriptionBytes > 0 ? bytes.slice(off, off + descriptionBytes) : undefined;
  off += descriptionBytes;

  const chunks: EncodedChunk[] = [];
  for (let i = 0; i < frameCount; i++) {
    if (off + CHUNK_HEADER_BYTES > bytes.byteLength) fail(`chunk ${i} of ${frameCount}: header at byte ${off} runs past the end of ${bytes.byteLength} bytes`);
    const typeCode = view.getUint8(off);
    if (typeCode > 1) fail(`chunk ${i}: type code ${typeCode} is not 0 (key) or 1 (delta)`);
    if (view.getUint8(off + 1) !== 0 || view.getUint16(off + 2, true) !== 0) fail(`chunk ${i}: reserved bytes are not zero`);
    const timestampUs = view.getFloat64(off + 4, true);
    if (!Number.isSafeInteger(timestampUs) || timestampUs < 0) fail(`chunk ${i}: timestamp ${timestampUs} µs is not a non-negative integer`);
    const durationUs = view.getUint32(off + 12, true);
    const dataBytes = view.getUint32(off + 16, true);
    if (dataBytes > CLIP_LIMITS.maxChunkBytes) fail(`chunk ${i}: data length ${dataBytes} exceeds ${CLIP_LIMITS.maxChunkBytes}`);
    off += CHUNK_HEADER_BYTES;
    if (off + dataBytes > bytes.byteLength) fail(`chunk ${i}: data length ${dataBytes} at byte ${off} runs past the end of ${bytes.byteLength} bytes`);
    chunks.push({ type: typeCode === 0 ? 'key' : 'delta', timestampUs, durationUs, data: bytes.slice(off, off + dataBytes) });
    off += dataBytes;
  }
  if (off !== bytes.byteLength) fail(`${bytes.byteLength - off} trailing bytes after the last chunk`);

  const clip: EncodedClip = {
    codec,
    codecString,
    width,
    height,
    fps,
    firstFrameIndex,
    frameCount,
    chunks,
    ...(description ? { description } : {}),
    ...(colorSpace ? { colorSpace } : {}),
  };
  validateEncodedClip(clip, label);
  return clip;
}
