/** What GPU this tab would compute on: WebGPU adapter info, shader-f16, limits; or why it falls back to WASM. */
import type { AdapterReport } from '../protocol.js';
import { CHROMIUM_MAX_ARRAY_BUFFER, type MemoryLimits } from '../../model/memory-plan.js';
import { WASM_LIMITS } from '../../model/memory-plan-limits.js';

/** The limits that decide partition sizes (a tensor over `maxBufferSize` fails on the GPU). */
const LIMIT_NAMES = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'] as const;

export async function probeAdapter(): Promise<AdapterReport> {
  if (!isSecureContext) return { backend: 'wasm', reason: 'not a secure context: WebGPU needs HTTPS (or localhost)' };
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { backend: 'wasm', reason: 'this browser exposes no WebGPU (navigator.gpu is missing)' };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { backend: 'wasm', reason: `requestAdapter failed: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!adapter) return { backend: 'wasm', reason: 'no WebGPU adapter (requestAdapter returned null)' };
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const limits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) limits[name] = Number(adapter.limits[name]);
  return {
    backend: 'webgpu',
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    shaderF16: adapter.features.has('shader-f16'),
    limits,
  };
}

/** One line naming the adapter for tables. */
export function adapterName(a: AdapterReport): string {
  if (a.backend === 'wasm') return 'no WebGPU: WASM';
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown adapter';
  return a.isFallbackAdapter ? `${name} (software fallback)` : name;
}

/**
 * The memory limits a member's engine works under, from its probe: the adapter's buffer and binding
 * maxima on WebGPU (ORT-web requests the adapter's own), the wasm32 heap without WebGPU. A WebGPU
 * adapter reports no memory size, so the device budget does not bind here.
 */
export function memoryLimits(a: AdapterReport | undefined): MemoryLimits {
  if (!a || a.backend === 'wasm') return WASM_LIMITS;
  const limit = (k: string) => {
    const v = a.limits?.[k];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
  };
  return {
    name: adapterName(a), backend: 'webgpu', source: 'the adapter probe',
    maxBufferSize: limit('maxBufferSize'), maxStorageBufferBindingSize: limit('maxStorageBufferBindingSize'), arrayBufferBytes: CHROMIUM_MAX_ARRAY_BUFFER,
  };
}
