import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { attentionLowering, clipDims, evalDim, GiB, largestClip, MemoryPlanError, modelBytes, segmentMemory, type ModelBytes } from './memory-plan.js';
import { NAMED_LIMITS, parseLimits, WASM_LIMITS } from './memory-plan-limits.js';
import { validateSegmentPlan, type SegmentPlan } from './segment-plan.js';

const root = path.resolve(import.meta.dirname, '../..');
const tinyPlan = validateSegmentPlan(JSON.parse(readFileSync(path.join(root, 'public/models/vi-shapes-tiny/onnx/segment-plan.json'), 'utf8')) as SegmentPlan);
const tinyModel: ModelBytes = { weightBytes: 9.6e6, largestShardBytes: 9.6e6 };

/**
 * A VideoCrafter2-shaped plan at 320×512 (latent 40×64, H·W = 2560 at level 0): one spatial
 * transformer segment (self + cross attention, GEGLU) after a GroupNorm exchange over 320 channels
 * in 32 groups, then one temporal attention (5 heads of 64, as VC2's level 0).
 */
function vc2ShapedPlan(): SegmentPlan {
  const B = 2;
  const hw = 2560;
  const C = 320;
  const t = (name: string, shape: (number | string)[]) => ({ name, dtype: 'float32' as const, shape });
  return {
    format: 'vi-segment-plan', version: 1, batch: B, latent: { channels: 4, height: 40, width: 64 }, tconvHalo: 4, layout: 'test',
    callInputs: [t('sample', [B, 4, 'F', 40, 64]), t('encoder_hidden_states', ['2*F', 77, 1024]), t('attn_bias', ['F', 'F+S_ctx'])],
    exchangePoints: [
      { id: 'l0.norm', kind: 'stats', groups: 32, channels: C, countPerFrame: (hw * C) / 32, send: 'l0.norm/stats', receive: 'l0.norm/mean_var' },
      { id: 'l0.tattn', kind: 'attention', channels: C, tokens: B * hw, heads: 5, headDim: 64, send: 'l0.tattn/send', receive: 'l0.tattn/context' },
    ],
    segments: [
      { index: 0, file: 'onnx/s0.onnx', inputs: [{ ...t('sample', [B, 4, 'F', 40, 64]), source: { kind: 'call' } }],
        outputs: [{ ...t('l0.norm/stats', [B, 32, 2]), role: 'send', point: 'l0.norm' }, { ...t('l0/x', [B, C, 'F', hw]), role: 'keep', consumers: [1, 2] }],
        exchangesAfter: ['l0.norm'], opCounts: { Conv: 1 } },
      { index: 1, file: 'onnx/s1.onnx',
        inputs: [{ ...t('l0.norm/mean_var', [B, 32, 2]), source: { kind: 'exchange', point: 'l0.norm' } }, { ...t('l0/x', [B, C, 'F', hw]), source: { kind: 'tensor', segment: 0 } },
          { ...t('encoder_hidden_states', ['2*F', 77, 1024]), source: { kind: 'call' } }],
        outputs: [{ ...t('l0.tattn/send', [B * hw, 'n_send', C]), role: 'send', point: 'l0.tattn' }, { ...t('l0.tattn/input', [B * hw, 'F', C]), role: 'keep', consumers: [2] }],
        exchangesAfter: ['l0.tattn'], opCounts: { Softmax: 2, Erf: 1, MatMul: 8 } },
      { index: 2, file: 'onnx/s2.onnx',
        inputs: [{ ...t('l0.tattn/context', [B * hw, 'S_ctx', C]), source: { kind: 'exchange', point: 'l0.tattn' } }, { ...t('l0.tattn/input', [B * hw, 'F', C]), source: { kind: 'tensor', segment: 1 } },
          { ...t('l0/x', [B, C, 'F', hw]), source: { kind: 'tensor', segment: 0 } }, { ...t('attn_bias', ['F', 'F+S_ctx']), source: { kind: 'call' } }],
        outputs: [{ ...t('noise_pred', [B, 4, 'F', 40, 64]), role: 'result' }], exchangesAfter: [], opCounts: { Softmax: 1 } },
    ],
    whole: { file: 'onnx/unet.onnx', inputs: [], outputs: [], opCounts: {} },
    weights: [{ file: 'onnx/unet_weights_000.bin', location: 'unet_weights_000.bin' }],
  };
}
/** VC2's fp32 UNet: 5.65 GB in shards of ≤ 1 GiB. */
const vc2Model: ModelBytes = { weightBytes: 5.65e9, largestShardBytes: 1023 * 2 ** 20 };
const UPSTREAM = { window: 8, topK: 16 };

describe('evalDim', () => {
  it('reads the plan dims', () => {
    const env = { F: 8, S_ctx: 32, n_send: 8, G: 8 };
    expect(evalDim(5, env)).toBe(5);
    expect(evalDim('2*F', env)).toBe(16);
    expect(evalDim('F+S_ctx', env)).toBe(40);
    expect(evalDim('F + 8', env)).toBe(16);
    expect(evalDim('2*(F-1)+n_send', env)).toBe(22);
  });
  it('names what it cannot read', () => {
    expect(() => evalDim('F+Q', { F: 1 })).toThrow(/unknown 'Q'/);
    expect(() => evalDim('F/2', { F: 1 })).toThrow(MemoryPlanError);
    expect(() => evalDim('(F', { F: 1 })).toThrow(/misses '\)'/);
  });
});

describe('memory plan of the embedded model', () => {
  it('sizes a temporal attention from its exchange point: [B·H·W, heads, F, F + S_ctx] floats', () => {
    const dims = clipDims(64, 4, 8);
    const seg2 = segmentMemory(tinyPlan, dims)[2]!;
    const p = tinyPlan.exchangePoints.find((x) => x.id === 'transformer_in.transformer_blocks.0.attn1')!;
    expect(p.kind).toBe('attention');
    const logits = 128 * 8 * 64 * (64 + 16) * 4; // tokens 2·8·8, 8 heads
    expect(seg2.largestBuffer).toBe(logits);
    expect(seg2.largestWhat).toMatch(/temporal attention .*attn1 logits/);
    expect(seg2.peakBytes).toBeGreaterThan(2 * logits);
  });

  it('the largest clip fits and one frame more does not, for every named limit set', () => {
    for (const limits of Object.values(NAMED_LIMITS)) {
      const fit = largestClip(tinyPlan, tinyModel, limits, { minFrames: 4, window: 4, topK: 8 });
      expect(fit.fits, limits.name).toBe(true);
      if (!fit.fits) continue;
      expect(fit.capped).toBe(false);
      const next = segmentMemory(tinyPlan, clipDims(fit.maxFrames + 1, 4, 8));
      const at = fit.at;
      const biggest = (s: typeof at) => Math.max(...s.map((x) => x.largestBuffer));
      const peak = (s: typeof at) => Math.max(...s.map((x) => x.peakBytes));
      const over = (s: typeof at) =>
        limits.backend === 'wasm'
          ? tinyModel.weightBytes + peak(s) > limits.heapBytes! || biggest(s) > limits.arrayBufferBytes!
          : biggest(s) > Math.min(limits.maxBufferSize!, limits.maxStorageBufferBindingSize!) || (limits.deviceBytes !== undefined && tinyModel.weightBytes + peak(s) > limits.deviceBytes);
      expect(over(at), `${limits.name} at ${fit.maxFrames}`).toBe(false);
      expect(over(next), `${limits.name} at ${fit.maxFrames + 1}`).toBe(true);
    }
  });

  it('a wider context (window, global frames) leaves a shorter clip', () => {
    const a = largestClip(tinyPlan, tinyModel, NAMED_LIMITS.swiftshader!, { minFrames: 4, window: 4, topK: 8 });
    const b = largestClip(tinyPlan, tinyModel, NAMED_LIMITS.swiftshader!, { minFrames: 8, window: 8, topK: 64 });
    expect(a.fits && b.fits && b.maxFrames < a.maxFrames).toBe(true);
  });

  it('weights come from the shards the plan lists, sized by the caller', () => {
    expect(modelBytes(tinyPlan, () => 100)).toEqual({ weightBytes: 100 * tinyPlan.weights!.length, largestShardBytes: 100 });
    expect(() => modelBytes(tinyPlan, () => undefined)).toThrow(/unet_weights_000.bin' has no size/);
  });
});

describe('memory plan of a VideoCrafter2-shaped plan at 320×512', () => {
  const plan = vc2ShapedPlan();

  it("a spatial self-attention's logits are 2·F·5·2560² floats (2.1 GB at F = 8)", () => {
    const segs = segmentMemory(plan, clipDims(8, 8, 16));
    expect(segs[1]!.largestBuffer).toBe(2 * 8 * 5 * 2560 * 2560 * 4);
    expect(segs[1]!.largestWhat).toMatch(/spatial self-attention logits \(2560 tokens, 5 heads\)/);
    // Segment 2 holds l0/x kept for it; segment 1 holds it as an input, not as a kept tensor.
    expect(segs[1]!.keptBytes).toBe(0);
    // Temporal logits at 8 frames (5120·5·8·40 floats) are smaller than the received context itself.
    expect(5120 * 5 * 8 * (8 + 32) * 4).toBeLessThan(5120 * 32 * 320 * 4);
    expect(segs[2]).toMatchObject({ largestBuffer: 5120 * 32 * 320 * 4, largestWhat: 'l0.tattn/context' });
    expect(segs[2]!.keptBytes).toBe(0);
  });

  it('SwiftShader (1 GiB bindings) cannot run the smallest clip, and says which limit', () => {
    const fit = largestClip(plan, vc2Model, NAMED_LIMITS.swiftshader!, { minFrames: 8, ...UPSTREAM });
    expect(fit.fits).toBe(false);
    if (fit.fits) return;
    expect(fit.limit).toBe('maxStorageBufferBindingSize');
    expect(fit.neededBytes).toBe(2 * 8 * 5 * 2560 * 2560 * 4);
    expect(fit.limitBytes).toBe(GiB);
    expect(fit.reason).toMatch(/^cannot run the smallest clip \(8 frames\): segment 1's spatial self-attention logits .* 1\.95 GiB, over maxStorageBufferBindingSize 1\.00 GiB/);
  });

  it('WASM cannot hold the fp32 weights at all', () => {
    const fit = largestClip(plan, vc2Model, WASM_LIMITS, { minFrames: 8, ...UPSTREAM });
    expect(fit.fits).toBe(false);
    if (fit.fits) return;
    expect(fit.limit).toBe('wasm32 heap');
    expect(fit.reason).toMatch(/^cannot hold the model at all: the weights take 5\.26 GiB, over wasm32 heap 4\.00 GiB/);
  });

  it('a 24 GiB discrete GPU (2 GiB bindings) runs 8 frames and is stopped at 9 by the binding size', () => {
    const fit = largestClip(plan, vc2Model, NAMED_LIMITS['discrete-24g']!, { minFrames: 8, ...UPSTREAM });
    expect(fit).toMatchObject({ fits: true, maxFrames: 8 });
    if (fit.fits) expect(fit.limitedBy).toMatch(/^maxStorageBufferBindingSize .* at 9 frames/);
  });

  it('an attention lowering it does not model is an error, not an underestimate', () => {
    const other = { ...plan, numerics: { precision: 'float32', attention: 'chunked' } } as SegmentPlan;
    expect(attentionLowering(other)).toBe('chunked');
    expect(attentionLowering(plan)).toBe('explicit');
    expect(() => segmentMemory(other, clipDims(8, 8, 16))).toThrow(/attention lowering 'chunked' is not modelled/);
  });
});

describe('limit files', () => {
  it('accepts MemoryLimits fields and refuses a bad one', () => {
    expect(parseLimits({ backend: 'webgpu', maxBufferSize: 2 ** 31 }, 'f.json')).toMatchObject({ name: 'f.json', backend: 'webgpu', maxBufferSize: 2 ** 31 });
    expect(() => parseLimits({ backend: 'webgl' }, 'f.json')).toThrow(/backend must be/);
    expect(() => parseLimits({ backend: 'wasm', heapBytes: -1 }, 'f.json')).toThrow(/heapBytes must be/);
  });
});
