import { describe, expect, it } from 'vitest';
import { chooseBackend, describeFallback } from './backend-choice.js';

const swiftshader = { backend: 'webgpu' as const, vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true };
const realGpu = { backend: 'webgpu' as const, vendor: 'nvidia', isFallbackAdapter: false };

describe('backend choice', () => {
  it('?ep pins; a software fallback adapter goes to WASM; a real GPU or none keeps the default order', () => {
    expect(chooseBackend(['webgpu'], swiftshader)).toEqual({ executionProviders: ['webgpu'] });
    expect(chooseBackend(['wasm'], realGpu)).toEqual({ executionProviders: ['wasm'], skippedWebGpu: 'pinned' });
    expect(chooseBackend(undefined, swiftshader)).toEqual({ executionProviders: ['wasm'], skippedWebGpu: 'software-adapter' });
    expect(chooseBackend(undefined, realGpu)).toEqual({});
    expect(chooseBackend(undefined, { backend: 'wasm', reason: 'no adapter' })).toEqual({});
  });

  it('states plainly why a tab computes on WASM', () => {
    const wasm = (failed: { provider: string; message: string }[] = []) => ({ provider: 'wasm', failedProviders: failed });
    expect(describeFallback({ provider: 'webgpu', failedProviders: [] }, {}, realGpu)).toBeUndefined();
    expect(describeFallback(wasm(), { skippedWebGpu: 'pinned' }, undefined)).toMatch(/as the page asked/);
    expect(describeFallback(wasm(), { skippedWebGpu: 'software-adapter' }, swiftshader)).toMatch(/software fallback, slower than WASM/);
    expect(describeFallback(wasm([{ provider: 'webgpu', message: 'device lost' }]), {}, realGpu)).toMatch(/no WebGPU.*webgpu: device lost/);
    expect(describeFallback(wasm(), {}, { backend: 'wasm', reason: 'not a secure context' })).toMatch(/no WebGPU.*not a secure context/);
  });
});
