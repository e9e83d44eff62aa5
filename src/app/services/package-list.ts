/**
 * The model packages this server serves (`GET /api/models`), each summarised from its own
 * manifest.json (small): name, frame size, and what each role downloads. A package whose manifest
 * does not load or parse is listed with the reason instead of hiding the others.
 */
import { parseManifest } from '../../model/manifest.js';
import { summarizePackage, type PackageSummary } from '../../model/package-summary.js';

export type ListedPackage = { readonly url: string } & ({ readonly summary: PackageSummary } | { readonly error: string });

export async function fetchPackageList(): Promise<ListedPackage[]> {
  const r = await fetch('/api/models');
  if (!r.ok) throw new Error(`GET /api/models: HTTP ${r.status}`);
  const body = (await r.json()) as { packages?: unknown };
  const entries = Array.isArray(body.packages) ? body.packages : [];
  const urls = entries.flatMap((e) => (typeof e?.url === 'string' && /^\/models\/[A-Za-z0-9._-]+\/$/.test(e.url) ? [e.url as string] : []));
  return Promise.all(urls.map(async (url): Promise<ListedPackage> => {
    try {
      const m = await fetch(`${url}manifest.json`);
      if (!m.ok) throw new Error(`manifest.json: HTTP ${m.status}`);
      return { url, summary: summarizePackage(parseManifest(await m.json())) };
    } catch (e) {
      return { url, error: e instanceof Error ? e.message : String(e) };
    }
  }));
}
