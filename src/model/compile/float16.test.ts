// float32 → float16 rounding (weights stored in half precision) and the float16-compute pass's
// precision rule, checked on small graphs run by onnxruntime-node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FLOAT16_MAX, float16Bits, float16Value } from '../float16.js';
import { toFloat16 } from './float16.js';
import { toFloat16Compute } from './float16-compute.js';
import { Program } from './graph.js';
import { groupNormPerFrame } from './blocks/nn.js';
import { parseManifest } from '../manifest.js';
import { DEFAULT_NUMERICS, weight } from './numerics.js';
import { serializeGraph } from './onnx-writer.js';
import type { Weights } from './weights.js';

describe('float16Bits', () => {
  it('rounds to the nearest float16, ties to even, as ONNX Runtime Cast does', async () => {
    // Values at and between float16 neighbours, subnormals, the range ends, and random ones.
    const xs = [0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 65504, 65519, -65519, 6e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-5, 0.1, 1 / 3, Math.PI, Infinity, -Infinity];
    for (let i = 0; i < 200; i++) xs.push((Math.sin(i * 12.9898) * 43758.5453) % 1000);
    const P = new Program('cast');
    const x = P.callInput('x', 'float32', [xs.length]);
    P.output(P.op('Cast', [x], { to: { i: 10 } }, 'y', [xs.length]), 'result');
    // (an output of dtype float16 only for this check; compiled graphs keep float32 I/O)
    const s = await ort.InferenceSession.create(serializeGraph(P.segments[0]!.graph));
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from(xs), [xs.length]) });
    const want = new Uint16Array((out.y!.data as Uint16Array).buffer.slice(0));
    expect(xs.map(float16Bits)).toEqual([...want]);
    expect(float16Value(float16Bits(1 / 3))).toBeCloseTo(1 / 3, 3);
    // Negative control: a converter that truncates the mantissa instead of rounding disagrees with ORT.
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    const truncating = (v: number) => ((f[0] = v), (u[0]! &= ~0x1fff), float16Bits(f[0]!));
    expect(xs.map(truncating)).not.toEqual([...want]);
  });

  it('refuses a weight outside float16 range, naming it', () => {
    expect(() => toFloat16(Float32Array.from([1, FLOAT16_MAX * 2]), 'down.weight')).toThrow(/'down.weight': value 131008 at index 1 is outside float16's range/);
    expect(toFloat16(Float32Array.from([FLOAT16_MAX, -FLOAT16_MAX]), 'w')).toEqual(Uint16Array.from([0x7bff, 0xfbff]));
  });
});

describe('float16-compute pass', () => {
  /** GroupNorm(conv(x)) on activations of a few hundred: squared deviations pass float16's 65504. */
  function graph(scale = 1) {
    const P = new Program('gn');
    const c = { P, W: { take: (_k: string, s: readonly number[]) => new Float32Array(s.reduce((a, b) => a * b, 1)).fill(1) } as unknown as Weights, batch: 1, numerics: { ...DEFAULT_NUMERICS, precision: 'float16' as const } };
    const x = P.callInput('x', 'float32', [2, 4, 4, 4]);
    const w = Float32Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? (i === 0 ? scale : 1) : 0.1));
    const h = P.op('Conv', [x, weight(c, 'conv.weight', [4, 4, 1, 1], w)], { kernel_shape: { ints: [1, 1] } }, 'h', [2, 4, 4, 4]);
    P.output(groupNormPerFrame(c, h, 'norm', 4, 2, 1e-5, 4, 4), 'result');
    return P.segments[0]!.graph;
  }
  const x = Float32Array.from({ length: 128 }, (_, i) => 300 * Math.sin(i * 0.7) + 20);
  async function run(g: ReturnType<typeof graph>): Promise<Float32Array> {
    const s = await ort.InferenceSession.create(serializeGraph(g));
    const out = await s.run({ x: new ort.Tensor('float32', x, [2, 4, 4, 4]) });
    return out[g.outputs[0]!.name]!.data as Float32Array;
  }
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

  it('keeps graph I/O float32, the Conv in float16 on the float16 weight, the statistics in float32', async () => {
    const f16 = toFloat16Compute(graph());
    expect(f16.inputs.map((i) => i.dtype)).toEqual(['float32']);
    expect(f16.outputs.map((o) => o.dtype)).toEqual(['float32']);
    expect(f16.nodes.find((n) => n.opType === 'Conv')!.inputs[1]).toBe('conv.weight'); // the float16 initializer, no Cast
    const diff = maxDiff(await run(graph()), await run(f16));
    console.log(`GroupNorm(conv(x)), |x| up to 320: float16 compute vs float32 max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-2);
    expect(diff).toBeGreaterThan(0); // the float16 graph really computes differently
  });

  it('negative control: a 2% error in one weight breaks the tolerance', async () => {
    const diff = maxDiff(await run(graph()), await run(toFloat16Compute(graph(1.02))));
    console.log(`conv weight × 1.02: max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeGreaterThan(1e-2);
  });
});

describe('manifest precision fields', () => {
  const base = () => JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'public', 'models', 'vi-shapes-tiny', 'manifest.json'), 'utf8'));

  it('accepts float32 (absent) and float16, and rejects anything else by name', () => {
    expect(parseManifest(base()).unet.precision).toBeUndefined();
    const m = base();
    m.unet.precision = 'float16';
    expect(parseManifest(m).unet.precision).toBe('float16');
    m.unet.precision = 'bfloat16';
    expect(() => parseManifest(m)).toThrow(/unet.precision "bfloat16" is not one of float32, float16/);
  });

  it('rejects a float16-compute set without float16 weights, or one whose files are not listed', () => {
    const m = base();
    m.unet.float16_compute = { onnx_whole: 'onnx/unet_f16.onnx', segment_plan: 'onnx/segment-plan-f16.json' };
    expect(() => parseManifest(m)).toThrow(/float16_compute needs unet.precision "float16"/);
    m.unet.precision = 'float16';
    expect(() => parseManifest(m)).toThrow(/'onnx\/unet_f16.onnx' is referenced but not listed in files/);
  });
});
