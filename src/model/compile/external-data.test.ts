import { describe, expect, it } from 'vitest';
import { EXTERNAL_ALIGN, ExternalData } from './external-data.js';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('ExternalData', () => {
  it('stores equal bytes once, at aligned offsets, and returns the same place for them', () => {
    const x = new ExternalData('w');
    const a = x.place(bytes(100, 1));
    const b = x.place(bytes(100, 2));
    const again = x.place(bytes(100, 1));
    expect(again).toEqual(a);
    expect(a).toEqual({ location: 'w_000.bin', offset: 0, length: 100 });
    expect(b.offset % EXTERNAL_ALIGN).toBe(0);
    expect(b.offset).toBe(128);
    expect(x.requestedBytes).toBe(300);
    const [file] = x.files();
    expect(file!.bytes.length).toBe(228);
    expect([...file!.bytes.subarray(b.offset, b.offset + 100)].every((v) => v === 2)).toBe(true);
  });

  it('starts a new shard when the next tensor would pass shardBytes; a larger tensor gets a shard of its own', () => {
    const x = new ExternalData('w', 256);
    const refs = [x.place(bytes(100, 1)), x.place(bytes(100, 2)), x.place(bytes(100, 3)), x.place(bytes(1000, 4)), x.place(bytes(10, 5))];
    expect(refs.map((r) => `${r.location}@${r.offset}`)).toEqual(['w_000.bin@0', 'w_000.bin@128', 'w_001.bin@0', 'w_002.bin@0', 'w_003.bin@0']);
    expect(x.files().map((f) => f.bytes.length)).toEqual([228, 100, 1000, 10]);
    expect(x.byteLength).toBe(1338);
  });
});
