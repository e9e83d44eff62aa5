// Named memory limit sets for `npm run plan-check -- --limits NAME` and the product's defaults, in
// one place, each with the source of its numbers. A tab's real limits come from its own adapter
// (src/app/services/adapter-probe.ts `memoryLimits`).
import { CHROMIUM_MAX_ARRAY_BUFFER, GiB, MemoryPlanError, type MemoryLimits } from './memory-plan.js';

const MiB = 2 ** 20;

/** wasm32: ORT-web's linear memory cannot pass 4 GiB; Chromium ArrayBuffers stop at 0x7fe00000. */
export const WASM_LIMITS: MemoryLimits = Object.freeze({
  name: 'wasm', backend: 'wasm',
  source: 'wasm32 linear memory 4 GiB; Chromium ArrayBuffer 0x7fe00000 (ORT docs, tutorials/web/large-models.md)',
  heapBytes: 4 * GiB, arrayBufferBytes: CHROMIUM_MAX_ARRAY_BUFFER,
});

export const NAMED_LIMITS: Readonly<Record<string, MemoryLimits>> = Object.freeze({
  wasm: WASM_LIMITS,
  // Measured on this machine (no GPU): Chromium 156 headless, --enable-unsafe-webgpu, the
  // SwiftShader fallback adapter reports maxBufferSize = maxStorageBufferBindingSize = 1 GiB and no
  // shader-f16 (`npm run bench:load-real` prints them). ORT-web requests the adapter's maxima.
  swiftshader: Object.freeze({
    name: 'swiftshader', backend: 'webgpu',
    source: 'measured: Chromium 156 headless --enable-unsafe-webgpu, SwiftShader adapter (maxBufferSize and maxStorageBufferBindingSize 1 GiB)',
    maxBufferSize: GiB, maxStorageBufferBindingSize: GiB, arrayBufferBytes: CHROMIUM_MAX_ARRAY_BUFFER,
  }),
  // A discrete GPU as Chrome exposes it: maxBufferSize up to 4 GiB when requested, storage bindings
  // capped at 2 GiB − 4 (i32 range; ../shared/reference/real-scale.md §4, gpuweb #6338, wgpu #8105),
  // and an 8 GiB card's memory for this tab.
  'discrete-8g': Object.freeze({
    name: 'discrete-8g', backend: 'webgpu',
    source: 'typical discrete GPU in Chrome: maxBufferSize 4 GiB, maxStorageBufferBindingSize 2 GiB − 4 (real-scale.md §4), 8 GiB device memory',
    maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 2 * GiB - 4, deviceBytes: 8 * GiB, arrayBufferBytes: CHROMIUM_MAX_ARRAY_BUFFER,
  }),
  // A high-end discrete GPU (24 GiB, e.g. an RTX 3090/4090) under the same Chrome caps.
  'discrete-24g': Object.freeze({
    name: 'discrete-24g', backend: 'webgpu',
    source: 'high-end discrete GPU in Chrome: maxBufferSize 4 GiB, maxStorageBufferBindingSize 2 GiB − 4 (real-scale.md §4), 24 GiB device memory',
    maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 2 * GiB - 4, deviceBytes: 24 * GiB, arrayBufferBytes: CHROMIUM_MAX_ARRAY_BUFFER,
  }),
  // The WebGPU spec's defaults: what a device gets when it asks for nothing more.
  'webgpu-default': Object.freeze({
    name: 'webgpu-default', backend: 'webgpu',
    source: 'WebGPU spec default limits: maxBufferSize 256 MiB, maxStorageBufferBindingSize 128 MiB',
    maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB, arrayBufferBytes: CHROMIUM_MAX_ARRAY_BUFFER,
  }),
});

/** A named set, or a JSON object of MemoryLimits fields (a file's contents). */
export function parseLimits(json: unknown, label: string): MemoryLimits {
  const o = json as Partial<MemoryLimits> | null;
  if (typeof o !== 'object' || o === null) throw new MemoryPlanError(`${label}: limits must be a JSON object`);
  if (o.backend !== 'webgpu' && o.backend !== 'wasm') throw new MemoryPlanError(`${label}: backend must be 'webgpu' or 'wasm', got ${JSON.stringify(o.backend)}`);
  for (const k of ['maxBufferSize', 'maxStorageBufferBindingSize', 'deviceBytes', 'heapBytes', 'arrayBufferBytes'] as const) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new MemoryPlanError(`${label}: ${k} must be a number of bytes > 0, got ${JSON.stringify(v)}`);
  }
  return { name: typeof o.name === 'string' ? o.name : label, source: typeof o.source === 'string' ? o.source : label, ...o } as MemoryLimits;
}
