/**
 * The mesh's binary wire format: one frame = a fixed little-endian header + one chunk of payload.
 * Every frame carries the full header (tag, dtype, shape, sizes), so each chunk is validated on
 * its own before a byte of it is used. Pure: no DOM, no peerjs; unit-tested in Node.
 *
 *   off size field
 *    0  u32  magic 'VINF' (0x56494e46)
 *    4  u8   protocol version (1)
 *    5  u8   frame type      FRAME_TYPES index: tensor | ping | pong
 *    6  u8   exchange kind   EXCHANGE_KINDS index (collective.ts)
 *    7  u8   dtype           WIRE_DTYPES index (wire-tensor.ts)
 *    8  u8   ndim            ≤ 8
 *    9  u8   reserved        0
 *   10  u16  from rank
 *   12  u32  job id
 *   16  u32  step
 *   20  u32  exchange point id
 *   24  u32  message id      per sender, per connection (ping/pong: the nonce)
 *   28  u32  chunk index
 *   32  u32  chunk count
 *   36  u32  payload bytes   of the whole message
 *   40  u32  chunk bytes     of this frame's payload (= frame length − header length)
 *   44  u32 × ndim  shape
 *
 * Names and offsets on the wire are forever: append fields only with a new protocol version.
 */
import { EXCHANGE_KINDS, type ExchangeKind, type WireDType } from '../../engine/collective.js';
import { DTYPE_BYTES, MAX_DIMS, WIRE_DTYPES } from '../wire-tensor.js';

export const FRAME_MAGIC = 0x56494e46;
export const PROTOCOL_VERSION = 1;
export const FRAME_TYPES = ['tensor', 'ping', 'pong'] as const;
export type FrameType = (typeof FRAME_TYPES)[number];
export const FIXED_HEADER_BYTES = 44;

export interface FrameHeader {
  readonly frameType: FrameType;
  readonly kind: ExchangeKind;
  readonly dtype: WireDType;
  readonly shape: readonly number[];
  readonly fromRank: number;
  readonly jobId: number;
  readonly step: number;
  readonly pointId: number;
  readonly messageId: number;
  readonly chunkIndex: number;
  readonly chunkCount: number;
  readonly payloadBytes: number;
}

export interface Frame {
  readonly header: FrameHeader;
  /** This frame's slice of the payload: a view into the received buffer (copy before keeping). */
  readonly chunk: Uint8Array;
}

export interface FrameLimits {
  /** Largest whole message accepted (MESH_LIMITS.maxMessageBytes unless the mesh's owner chose another). */
  readonly maxMessageBytes: number;
  /** Ranks are 0..worldSize−1. */
  readonly worldSize: number;
}

export type FrameErrorCode =
  | 'truncated'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-frame-type'
  | 'bad-kind'
  | 'bad-dtype'
  | 'bad-shape'
  | 'bad-length'
  | 'bad-chunk'
  | 'bad-rank'
  | 'too-large'
  | 'expired';

/** A frame that fails validation; the mesh reports it as a `bad-message` for that peer. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function headerBytes(ndim: number): number {
  return FIXED_HEADER_BYTES + 4 * ndim;
}

/** Encodes one frame (header + a copy of `chunk`) into a new buffer. */
export function encodeFrame(h: FrameHeader, chunk: Uint8Array): ArrayBuffer {
  const buf = new Uint8Array(headerBytes(h.shape.length) + chunk.byteLength);
  encodeFrameInto(h, chunk, buf);
  return buf.buffer;
}

/** Encodes one frame into `target` (at least header + chunk bytes); returns the frame length. */
export function encodeFrameInto(h: FrameHeader, chunk: Uint8Array, target: Uint8Array): number {
  const hb = headerBytes(h.shape.length);
  const length = hb + chunk.byteLength;
  if (target.byteLength < length) throw new RangeError(`frame of ${length} bytes does not fit a ${target.byteLength}-byte buffer`);
  const v = new DataView(target.buffer, target.byteOffset, length);
  v.setUint32(0, FRAME_MAGIC, true);
  v.setUint8(4, PROTOCOL_VERSION);
  v.setUint8(5, FRAME_TYPES.indexOf(h.frameType));
  v.setUint8(6, EXCHANGE_KINDS.indexOf(h.kind));
  v.setUint8(7, WIRE_DTYPES.indexOf(h.dtype));
  v.setUint8(8, h.shape.length);
  v.setUint8(9, 0);
  v.setUint16(10, h.fromRank, true);
  v.setUint32(12, h.jobId, true);
  v.setUint32(16, h.step, true);
  v.setUint32(20, h.pointId, true);
  v.setUint32(24, h.messageId, true);
  v.setUint32(28, h.chunkIndex, true);
  v.setUint32(32, h.chunkCount, true);
  v.setUint32(36, h.payloadBytes, true);
  v.setUint32(40, chunk.byteLength, true);
  h.shape.forEach((d, i) => v.setUint32(FIXED_HEADER_BYTES + 4 * i, d, true));
  target.set(chunk, hb);
  return length;
}

/** Decodes and validates one frame from untrusted bytes; throws FrameError, never anything else. */
export function decodeFrame(input: ArrayBuffer | ArrayBufferView, limits: FrameLimits): Frame {
  if (!(input instanceof ArrayBuffer) && !ArrayBuffer.isView(input)) throw new FrameError('truncated', `frame is not binary (${typeof input})`);
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.byteLength < FIXED_HEADER_BYTES) throw new FrameError('truncated', `frame of ${bytes.byteLength} bytes is shorter than the ${FIXED_HEADER_BYTES}-byte header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, true);
  if (magic !== FRAME_MAGIC) throw new FrameError('bad-magic', `bad magic 0x${magic.toString(16).padStart(8, '0')}`);
  const version = v.getUint8(4);
  if (version !== PROTOCOL_VERSION) throw new FrameError('bad-version', `protocol version ${version}, this build speaks ${PROTOCOL_VERSION}`);
  const frameType = FRAME_TYPES[v.getUint8(5)];
  if (frameType === undefined) throw new FrameError('bad-frame-type', `unknown frame type ${v.getUint8(5)}`);
  const kind = EXCHANGE_KINDS[v.getUint8(6)];
  if (kind === undefined) throw new FrameError('bad-kind', `unknown exchange kind ${v.getUint8(6)}`);
  const dtype = WIRE_DTYPES[v.getUint8(7)];
  if (dtype === undefined) throw new FrameError('bad-dtype', `unknown dtype ${v.getUint8(7)}`);
  const ndim = v.getUint8(8);
  if (ndim > MAX_DIMS) throw new FrameError('bad-shape', `${ndim} dims, at most ${MAX_DIMS}`);
  if (v.getUint8(9) !== 0) throw new FrameError('bad-length', 'reserved header byte is not 0');
  const hb = headerBytes(ndim);
  if (bytes.byteLength < hb) throw new FrameError('truncated', `frame of ${bytes.byteLength} bytes is shorter than its ${hb}-byte header`);
  const fromRank = v.getUint16(10, true);
  if (fromRank >= limits.worldSize) throw new FrameError('bad-rank', `from rank ${fromRank} in a world of ${limits.worldSize}`);
  const shape: number[] = [];
  let elements = 1;
  for (let i = 0; i < ndim; i++) {
    const d = v.getUint32(FIXED_HEADER_BYTES + 4 * i, true);
    shape.push(d);
    elements *= d; // exact below 2^53; anything that large fails the size check
  }
  const payloadBytes = v.getUint32(36, true);
  if (payloadBytes > limits.maxMessageBytes) throw new FrameError('too-large', `message of ${payloadBytes} bytes is over the ${limits.maxMessageBytes}-byte limit`);
  if (elements * DTYPE_BYTES[dtype] !== payloadBytes) {
    throw new FrameError('bad-shape', `shape ${JSON.stringify(shape)} of ${dtype} needs ${elements * DTYPE_BYTES[dtype]} bytes, header says ${payloadBytes}`);
  }
  if (frameType !== 'tensor' && (dtype !== 'uint8' || ndim !== 1)) throw new FrameError('bad-shape', `${frameType} frames carry uint8[n]`);
  const chunkIndex = v.getUint32(28, true);
  const chunkCount = v.getUint32(32, true);
  if (chunkCount < 1 || chunkIndex >= chunkCount) throw new FrameError('bad-chunk', `chunk ${chunkIndex} of ${chunkCount}`);
  if (chunkCount > Math.max(1, payloadBytes)) throw new FrameError('bad-chunk', `${chunkCount} chunks for ${payloadBytes} bytes`);
  const chunkBytes = v.getUint32(40, true);
  if (chunkBytes !== bytes.byteLength - hb) throw new FrameError('bad-length', `chunk length field ${chunkBytes}, frame carries ${bytes.byteLength - hb}`);
  if (chunkBytes > payloadBytes) throw new FrameError('bad-length', `chunk of ${chunkBytes} bytes in a ${payloadBytes}-byte message`);
  return {
    header: {
      frameType,
      kind,
      dtype,
      shape,
      fromRank,
      jobId: v.getUint32(12, true),
      step: v.getUint32(16, true),
      pointId: v.getUint32(20, true),
      messageId: v.getUint32(24, true),
      chunkIndex,
      chunkCount,
      payloadBytes,
    },
    chunk: bytes.subarray(hb),
  };
}
