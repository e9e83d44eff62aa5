/** A member's engine in words, the same in the host's member table, job panel and worker tab. */
import type { MemberEngine } from '../services/member-engine-report.js';

/** UNet frames per second at the model's resolution. */
export function fmtSpeed(framesPerSecond: number): string {
  return `${framesPerSecond >= 10 ? framesPerSecond.toFixed(0) : framesPerSecond.toFixed(1)} frames/s`;
}

export function backendName(provider: string | undefined): string {
  return provider === 'webgpu' ? 'WebGPU' : provider === 'wasm' ? 'WASM' : (provider ?? '?');
}

/** The UNet graph set in two words: 'fp16 compute' or 'fp32 compute'. */
export function computeName(compute: 'float32' | 'float16'): string {
  return compute === 'float16' ? 'fp16 compute' : 'fp32 compute';
}

/** "loading model… 40%", "measuring speed…", "ready on WASM", "failed: …"; undefined before any report. */
export function engineText(e: MemberEngine | undefined): string | undefined {
  if (!e) return undefined;
  switch (e.phase) {
    case 'loading':
      return `loading model…${e.totalBytes ? ` ${Math.floor((100 * (e.loadedBytes ?? 0)) / e.totalBytes)}%` : ''}`;
    case 'measuring':
      return `measuring speed${e.provider ? ` on ${backendName(e.provider)}` : ''}…`;
    case 'ready':
      return `ready on ${backendName(e.provider)}${e.compute ? `, ${computeName(e.compute)}` : ''}`;
    case 'failed':
      return `failed: ${e.error ?? 'the model did not load'}`;
  }
}

/** "12.3 frames/s (8-frame clip, 650 ms)". */
export function speedText(e: MemberEngine | undefined): string | undefined {
  const s = e?.speed;
  return s ? `${fmtSpeed(s.framesPerSecond)} (${s.frames}-frame clip, ${s.unetMs.toFixed(0)} ms)` : undefined;
}
