// safetensors reader and writer (https://github.com/huggingface/safetensors: u64 little-endian header
// length, JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then the data).
// Runs in Node and in the browser (no Node imports). Every structural problem is a SafetensorsError
// that names the file and the tensor.

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32';

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range inside the data section. */
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {
  readonly code = 'bad-safetensors';
}

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024; // the format's own limit

/**
 * Random access to a file's bytes. A checkpoint can be several GB, beyond what one buffer (or Node's
 * readFileSync, 2 GiB) holds, so the reader asks for one tensor's bytes at a time.
 */
export interface ByteSource {
  readonly byteLength: number;
  /** `length` bytes from `offset` (a view or a fresh copy; the caller does not write to it). */
  read(offset: number, length: number): Uint8Array;
}

/** What the compiler reads weights from: one safetensors file, or the shards of a sharded checkpoint. */
export interface TensorReader {
  readonly label: string;
  readonly entries: ReadonlyMap<string, TensorEntry>;
  has(name: string): boolean;
  entry(name: string): TensorEntry;
  float32(name: string): Float32Array;
}

/** `name`'s entry in a reader's table; a clear error naming the reader when it has none. */
export function entryIn(reader: Pick<TensorReader, 'label' | 'entries'>, name: string): TensorEntry {
  const e = reader.entries.get(name);
  if (!e) throw new SafetensorsError(`${reader.label}: no tensor '${name}'`);
  return e;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return { byteLength: bytes.byteLength, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class SafetensorsFile implements TensorReader {
  private constructor(
    readonly label: string,
    readonly entries: ReadonlyMap<string, TensorEntry>,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly source: ByteSource,
    /** Where the data section starts in the source. */
    private readonly dataStart: number,
  ) {}

  /** Parse and validate: header JSON, dtypes, offsets inside the file, sizes matching shapes, no overlaps. */
  static parse(bytes: Uint8Array, label = 'safetensors'): SafetensorsFile {
    return SafetensorsFile.open(bytesSource(bytes), label);
  }

  /** As parse, reading only the header now and each tensor's bytes when it is asked for. */
  static open(source: ByteSource, label = 'safetensors'): SafetensorsFile {
    const fail = (msg: string): never => {
      throw new SafetensorsError(`${label}: ${msg}`);
    };
    const size = source.byteLength;
    if (size < 8) fail(`file is ${size} bytes, too short for a safetensors header`);
    const lenBytes = source.read(0, 8);
    const headerLen = Number(new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true));
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      fail(`header length ${headerLen} does not fit in a file of ${size} bytes (corrupt or truncated)`);
    }
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(source.read(8, headerLen)));
    } catch (e) {
      return fail(`header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
    const dataLength = size - 8 - headerLen;
    const entries = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = raw as Record<string, string>;
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e.dtype !== 'string' || !(e.dtype in BYTES)) fail(`tensor '${name}': unsupported dtype ${JSON.stringify(e.dtype)}`);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        fail(`tensor '${name}': bad shape ${JSON.stringify(e.shape)}`);
      }
      const off = e.data_offsets as unknown;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) || off[0] > off[1]) {
        fail(`tensor '${name}': bad data_offsets ${JSON.stringify(off)}`);
      }
      const [begin, end] = off as [number, number];
      if (end > dataLength) fail(`tensor '${name}': data_offsets [${begin}, ${end}] run past the data section (${dataLength} bytes); file truncated?`);
      const dtype = e.dtype as SafetensorsDType;
      const shape = e.shape as number[];
      const expect = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
      if (end - begin !== expect) fail(`tensor '${name}': ${end - begin} bytes for ${dtype}[${shape}] (expected ${expect})`);
      entries.set(name, { name, dtype, shape, begin, end });
    }
    const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin);
    for (let k = 1; k < sorted.length; k++) {
      if (sorted[k].begin < sorted[k - 1].end) fail(`tensors '${sorted[k - 1].name}' and '${sorted[k].name}' overlap`);
    }
    return new SafetensorsFile(label, entries, metadata, source, 8 + headerLen);
  }

  /** The raw bytes of a tensor, as a DataView. */
  private view(e: TensorEntry): DataView {
    const b = this.source.read(this.dataStart + e.begin, e.end - e.begin);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): TensorEntry {
    return entryIn(this, name);
  }

  /** The tensor converted to float32 (from F32, F16, BF16 or F64). */
  float32(name: string): Float32Array {
    const e = this.entry(name);
    const n = e.shape.reduce((a, b) => a * b, 1);
    const dv = this.view(e);
    if (e.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
      // One copy instead of a per-element loop: a full-size UNet has 1.4 G of these.
      return new Float32Array(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength).slice().buffer);
    }
    const out = new Float32Array(n);
    switch (e.dtype) {
      case 'F32':
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
        break;
      case 'F64':
        for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
        break;
      case 'F16':
        for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
        break;
      case 'BF16': {
        const tmp = new DataView(new ArrayBuffer(4));
        for (let i = 0; i < n; i++) {
          tmp.setUint32(0, dv.getUint16(2 * i, true) << 16, true);
          out[i] = tmp.getFloat32(0, true);
        }
        break;
      }
      default:
        throw new SafetensorsError(`${this.label}: tensor '${name}' is ${e.dtype}, not a float tensor`);
    }
    return out;
  }

  float64(name: string): Float64Array {
    const e = this.entry(name);
    if (e.dtype === 'F64') {
      const n = (e.end - e.begin) / 8;
      const dv = this.view(e);
      return Float64Array.from({ length: n }, (_, i) => dv.getFloat64(8 * i, true));
    }
    return Float64Array.from(this.float32(name));
  }

  int64(name: string): BigInt64Array {
    const e = this.entry(name);
    const dv = this.view(e);
    if (e.dtype === 'I64') return BigInt64Array.from({ length: (e.end - e.begin) / 8 }, (_, i) => dv.getBigInt64(8 * i, true));
    if (e.dtype === 'I32') return BigInt64Array.from({ length: (e.end - e.begin) / 4 }, (_, i) => BigInt(dv.getInt32(4 * i, true)));
    throw new SafetensorsError(`${this.label}: tensor '${name}' is ${e.dtype}, not an integer tensor`);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export interface TensorToWrite {
  dtype: 'F32' | 'F64' | 'I64';
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array;
}

/** Write a safetensors file (tests make their random-weight models with this). Keys are sorted, as upstream. */
export function writeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new SafetensorsError(`writeSafetensors: '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' '; // keep the data section 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.byteLength;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}
