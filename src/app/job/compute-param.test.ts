// `?compute=` on the page: the UNet graph set a tab asks its engine worker for (testing), and how the
// members table names it.
import { describe, expect, it } from 'vitest';
import { computeName, engineText } from '../components/member-engine-text.js';
import { computeFromUrl, parseCompute } from './engine-handle.js';

describe('?compute=', () => {
  it('float16 and float32 are passed on; no parameter leaves the choice to the engine worker', () => {
    expect(parseCompute(computeFromUrl('?model=x&compute=float16'))).toBe('float16');
    expect(parseCompute(computeFromUrl('?compute=float32&ep=wasm'))).toBe('float32');
    expect(parseCompute(computeFromUrl('?ep=wasm'))).toBeUndefined();
  });

  it('an unknown value is refused with the value and the choices, not ignored', () => {
    expect(() => parseCompute(computeFromUrl('?compute=fp16'))).toThrow('?compute=fp16: float16 or float32');
    expect(() => parseCompute('')).toThrow(/float16 or float32/);
  });

  it('the members table says which set a ready member computes with', () => {
    expect(engineText({ phase: 'ready', provider: 'webgpu', compute: 'float16' })).toBe(`ready on WebGPU, ${computeName('float16')}`);
    expect(engineText({ phase: 'ready', provider: 'wasm', compute: 'float32' })).toBe('ready on WASM, fp32 compute');
    expect(engineText({ phase: 'ready', provider: 'wasm' })).toBe('ready on WASM'); // compute is optional in a report
  });
});
