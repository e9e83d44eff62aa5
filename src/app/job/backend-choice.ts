/**
 * Which ONNX Runtime backend a tab asks for, and the plain words the UI shows when it is WASM.
 *
 * `?ep=wasm|webgpu` on the page pins the provider. Otherwise WebGPU is tried first, except on a
 * software fallback adapter (SwiftShader on GPU-less machines): there one 16-frame step of the
 * segmented UNet took 112 s against 2.3 s on WASM (e2e/job-render.spec.ts, 2 shared cores), and
 * since tabs now load and time the model as soon as they join, a software adapter would keep the
 * CPU busy for minutes before anyone pressed Start.
 */
import type { AdapterReport } from '../protocol.js';
import type { LoadModelOut } from '../../engine/worker/protocol.js';

export interface BackendChoice {
  /** Providers to try in order; undefined = the engine's default (['webgpu', 'wasm']). */
  readonly executionProviders?: readonly string[];
  /** Why WebGPU was not even tried, when it was not. */
  readonly skippedWebGpu?: 'pinned' | 'software-adapter';
}

export function chooseBackend(pinned: readonly string[] | undefined, adapter: AdapterReport | undefined): BackendChoice {
  if (pinned) return { executionProviders: pinned, ...(!pinned.includes('webgpu') && { skippedWebGpu: 'pinned' as const }) };
  if (adapter?.backend === 'webgpu' && adapter.isFallbackAdapter) return { executionProviders: ['wasm'], skippedWebGpu: 'software-adapter' };
  return {};
}

/** Why this tab computes on WASM, stated plainly; undefined when it computes on WebGPU. */
export function describeFallback(info: Pick<LoadModelOut, 'provider' | 'failedProviders'>, choice: BackendChoice, adapter: AdapterReport | undefined): string | undefined {
  if (info.provider !== 'wasm') return undefined;
  if (choice.skippedWebGpu === 'pinned') return 'computing on WASM (CPU), as the page asked (?ep=wasm)';
  if (choice.skippedWebGpu === 'software-adapter') return 'computing on WASM (CPU): the only WebGPU adapter is a software fallback, slower than WASM (?ep=webgpu uses it anyway)';
  if (info.failedProviders.length) return `no WebGPU: computing on WASM (CPU), much slower (${info.failedProviders.map((f) => `${f.provider}: ${f.message}`).join('; ')})`;
  return `no WebGPU: computing on WASM (CPU), much slower${adapter?.reason ? ` (${adapter.reason})` : ''}`;
}
