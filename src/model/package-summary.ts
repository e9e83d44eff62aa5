// What the dashboard shows of a model package before anything big is downloaded: its video size
// and how many bytes each role fetches (every computing tab the compute part; the host also the
// text encoder). Read from manifest.json alone; runs in Node and the browser.
import { runtimeFiles, type ModelManifest, type PackagePart } from './manifest.js';

export interface PackageSummary {
  readonly name: string;
  readonly version: string;
  /** Frame size of the rendered video in pixels (before any export upscaling). */
  readonly width: number;
  readonly height: number;
  readonly frameRate: number;
  /** Bytes each part downloads (runtimeFiles); the host computing fetches both. */
  readonly bytes: Readonly<Record<PackagePart, number>>;
}

/** Pixels per latent cell along each side: the pixel_shuffle factor, or the VAE's upsampling. */
export function pixelsPerLatent(manifest: ModelManifest): number {
  const d = manifest.latent.decode;
  return d.kind === 'pixel_shuffle' ? d.factor : manifest.vae!.upscale; // parseManifest requires vae with kind 'vae'
}

export function summarizePackage(manifest: ModelManifest): PackageSummary {
  const bytesOf = (part: PackagePart) => runtimeFiles(manifest, part).reduce((n, f) => n + manifest.files[f]!.bytes, 0);
  const f = pixelsPerLatent(manifest);
  return {
    name: manifest.name,
    version: manifest.version,
    width: manifest.latent.width * f,
    height: manifest.latent.height * f,
    frameRate: manifest.frame_rate,
    bytes: { compute: bytesOf('compute'), 'text-encoder': bytesOf('text-encoder') },
  };
}
