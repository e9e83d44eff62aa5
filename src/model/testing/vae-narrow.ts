// The narrow AutoencoderKL of training/golden/vae-narrow (written by training/write_vae_goldens.py
// from diffusers v0.29.1): its goldens, and its published folder (config.json + seeded safetensors)
// written to disk so that tests compile it the way a user's VAE is compiled.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeCheckpoint } from '../compile/checkpoint-writer.js';
import { SafetensorsFile } from '../safetensors.js';
import { f32, type HostTensor } from './host-tensor.js';
import { seededTensor } from './seeded-weights.js';

export const VAE_GOLDEN_DIR = join(resolve(import.meta.dirname, '..', '..', '..'), 'training', 'golden', 'vae-narrow');

export interface VaeGoldenMeta {
  source: Record<string, string>;
  vae_config: Record<string, unknown>;
  weight_seed: number;
  weights: [string, number[]][];
  frames: number;
  height: number;
  width: number;
}

export const vaeGoldenMeta: VaeGoldenMeta = JSON.parse(readFileSync(join(VAE_GOLDEN_DIR, 'vae_decode.json'), 'utf8'));
const tensors = SafetensorsFile.parse(new Uint8Array(readFileSync(join(VAE_GOLDEN_DIR, 'vae_decode.safetensors'))), 'vae_decode.safetensors');

/** 'latents' [N, C, h, w], 'sample' [N, 3, 8h, 8w] (float), 'rgb' [N, 3, 8h, 8w] (bytes as floats). */
export function vaeGolden(name: 'latents' | 'sample' | 'rgb'): HostTensor {
  return f32(tensors.float32(name), [...tensors.entry(name).shape]);
}

export interface NarrowVaeOptions {
  /** Add `delta` to the first value of weight `key`. */
  perturb?: { key: string; delta: number };
  /** Rename checkpoint keys (e.g. to the deprecated attention names); a key mapped to null is dropped. */
  rename?: (key: string) => string | null;
  /** Extra tensors to write (seeded like the others). */
  extra?: [string, number[]][];
  /** Config keys to override. */
  config?: Record<string, unknown>;
}

/** Writes the narrow VAE as a published folder (config.json + diffusion_pytorch_model.safetensors) at `dir`. */
export function writeNarrowVae(dir: string, opts: NarrowVaeOptions = {}): void {
  const meta = vaeGoldenMeta;
  const specs = [...meta.weights, ...(opts.extra ?? [])].flatMap(([key, shape]) => {
    const name = opts.rename ? opts.rename(key) : key;
    if (name === null) return [];
    return [{
      name, shape, values: () => {
        const v = seededTensor(meta.weight_seed, key, shape);
        if (opts.perturb?.key === key) v[0]! += opts.perturb.delta;
        return v;
      },
    }];
  });
  writeCheckpoint(dir, 'diffusion_pytorch_model', specs);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...meta.vae_config, ...(opts.config ?? {}) }));
}
