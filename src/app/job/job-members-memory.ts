/**
 * How many frames each member can hold: the package's memory plan (src/model/memory-plan.ts) under
 * the member's probed adapter limits, computed before it loads. The members table shows it, the
 * partition caps each clip at it, and a member that cannot hold the model at all is left out with
 * the plan's one-line reason.
 */
import { parseManifest, type ModelManifest } from '../../model/manifest.js';
import { formatBytes, largestClip, modelBytes, type ClipFit, type ModelBytes } from '../../model/memory-plan.js';
import { validateSegmentPlan, type SegmentPlan } from '../../model/segment-plan.js';
import type { AdapterReport } from '../protocol.js';
import { memoryLimits } from '../services/adapter-probe.js';
import type { JobMember } from './job-members.js';
import { shortestClip } from '../../engine/partition.js';

/** What the memory plan needs of a package. */
export interface PackageMemory {
  readonly plan: SegmentPlan;
  readonly model: ModelBytes;
  /** The smallest legal clip of a multi-member job: max(p, halo). */
  readonly minFrames: number;
  readonly window: number;
  readonly topK: number;
}

export function packageMemory(manifest: ModelManifest, plan: SegmentPlan): PackageMemory {
  const d = manifest.defaults;
  return {
    plan, model: modelBytes(plan, (p) => manifest.files[p]?.bytes),
    minFrames: shortestClip(d.local_window_p, plan.tconvHalo), window: d.local_window_p, topK: d.global_top_k,
  };
}

const fetched = new Map<string, Promise<PackageMemory>>();

/** The package's manifest and segment plan (small JSON files), once per package URL. */
export function fetchPackageMemory(packageUrl: string): Promise<PackageMemory> {
  const known = fetched.get(packageUrl);
  if (known) return known;
  const base = new URL(packageUrl.endsWith('/') ? packageUrl : `${packageUrl}/`, globalThis.location?.href);
  const get = async (p: string): Promise<unknown> => {
    const r = await fetch(new URL(p, base));
    if (!r.ok) throw new Error(`GET ${new URL(p, base).pathname}: HTTP ${r.status}`);
    return r.json();
  };
  const p = (async () => {
    const manifest = parseManifest(await get('manifest.json'));
    return packageMemory(manifest, validateSegmentPlan((await get(manifest.unet.segment_plan)) as SegmentPlan));
  })();
  p.catch(() => fetched.delete(packageUrl)); // a failed fetch is tried again next time
  fetched.set(packageUrl, p);
  return p;
}

/** The largest clip a member with this adapter can run (undefined adapter: not probed yet, WASM assumed). */
export function memberClip(pm: PackageMemory, adapter: AdapterReport | undefined): ClipFit {
  return largestClip(pm.plan, pm.model, memoryLimits(adapter), { minFrames: pm.minFrames, window: pm.window, topK: pm.topK });
}

/** The partition's capacity for a member: its largest clip, or Infinity when the search reached its cap. */
export function clipCapacity(fit: ClipFit): number | undefined {
  if (!fit.fits) return undefined;
  return fit.capped ? Infinity : fit.maxFrames;
}

/** For the members table: "≤ 701 frames" with the binding limit as a title, or the one-line reason. */
export function clipText(fit: ClipFit): { text: string; title: string } {
  if (!fit.fits) return { text: `cannot run: ${fit.limit} (needs ${formatBytes(fit.neededBytes)})`, title: fit.reason };
  return { text: fit.capped ? `≥ ${fit.maxFrames} frames` : `≤ ${fit.maxFrames} frames`, title: `largest clip per tab; then ${fit.limitedBy}` };
}

/** A member's memory facts for the partition: its capacity, or why it cannot run the model. */
export function memberMemory(pm: PackageMemory | undefined, adapter: AdapterReport | undefined): Pick<JobMember, 'maxClipFrames' | 'cannotHold'> {
  if (!pm) return {};
  const fit = memberClip(pm, adapter);
  const cap = clipCapacity(fit);
  if (!fit.fits) return { cannotHold: fit.reason };
  return cap === undefined || cap === Infinity ? {} : { maxClipFrames: cap };
}
