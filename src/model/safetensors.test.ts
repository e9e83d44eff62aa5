import { describe, expect, it } from 'vitest';
import { SafetensorsFile, writeSafetensors } from './safetensors.js';

describe('safetensors', () => {
  const bytes = writeSafetensors({
    b: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    a: { dtype: 'I64', shape: [2], data: BigInt64Array.from([7n, -8n]) },
    c: { dtype: 'F64', shape: [1], data: Float64Array.from([0.1]) },
  }, { format: 'pt' });

  it('round-trips F32, I64 and F64 with metadata, data 8-byte aligned', () => {
    const f = SafetensorsFile.parse(bytes, 't');
    expect([...f.float32('b')]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...f.int64('a')]).toEqual([7n, -8n]);
    expect(f.float64('c')[0]).toBe(0.1);
    expect(f.metadata.format).toBe('pt');
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
  });
  it('converts F16 and BF16 to float32', () => {
    const header = JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, g: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] } });
    const out = new Uint8Array(8 + header.length + 6);
    new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
    out.set(new TextEncoder().encode(header), 8);
    const dv = new DataView(out.buffer, 8 + header.length);
    dv.setUint16(0, 0x3c00, true); // 1.0
    dv.setUint16(2, 0xc000, true); // -2.0
    dv.setUint16(4, 0x3fc0, true); // 1.5 in bf16
    const f = SafetensorsFile.parse(out);
    expect([...f.float32('h')]).toEqual([1, -2]);
    expect([...f.float32('g')]).toEqual([1.5]);
  });
  it('rejects corrupt files with a message naming the problem', () => {
    expect(() => SafetensorsFile.parse(bytes.subarray(0, 5), 'x')).toThrow(/too short/);
    expect(() => SafetensorsFile.parse(bytes.subarray(0, bytes.length - 4), 'x')).toThrow(/run past the data section/);
    const bad = bytes.slice();
    bad[9] = 0x7b; // break the JSON
    bad[10] = 0x7b;
    expect(() => SafetensorsFile.parse(bad, 'x')).toThrow(/header is not valid JSON/);
  });
});
