/**
 * The host's unfinished render, kept in this browser after every step so that a reloaded or crashed
 * host tab can resume it (a job survives losing a tab, the host's included). One record
 * (idb-keyval, database 'vi-renders', store 'saved', key 'unfinished'): the settings, the model it was
 * made with, and the whole video's checkpoint after its last finished step (the engine's clip-state
 * wire form, as a Blob). Written by HostRenderJob, removed when the video is done or the user cancels.
 * What comes back from storage is checked like any other input (`parseSavedRender`).
 */
import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import type { ModelManifest } from '../../model/manifest.js';
import { EXCHANGE_CHOICES, SAMPLER_NAMES, type RenderSettings } from './render-spec.js';

export const SAVED_RENDER_SCHEMA = 1;
const KEY = 'unfinished';

export interface SavedRender {
  readonly schema: typeof SAVED_RENDER_SCHEMA;
  /** Date.now() of the save. */
  readonly savedAt: number;
  readonly packageUrl: string;
  /** The model it was rendered with (modelIdentity): resuming with another would mix two models. */
  readonly model: string;
  readonly settings: RenderSettings;
  /** Steps finished; `state` is the video after them. */
  readonly step: number;
  readonly state: Blob;
}

/** Which model a render was made with: name, version and the UNet weights' hash. */
export function modelIdentity(manifest: ModelManifest): string {
  return `${manifest.name}@${manifest.version}#${manifest.files[manifest.unet.weights]?.sha256.slice(0, 16) ?? '?'}`;
}

let store: UseStore | undefined;
const renders = (): UseStore => (store ??= createStore('vi-renders', 'saved'));

export async function saveUnfinishedRender(r: SavedRender): Promise<void> {
  await set(KEY, r, renders());
}

/** The saved render, or null when there is none or it is unreadable (then it is removed). */
export async function loadUnfinishedRender(): Promise<SavedRender | null> {
  const raw = await get<unknown>(KEY, renders());
  if (raw === undefined) return null;
  const r = parseSavedRender(raw);
  if (!r) await discardUnfinishedRender();
  return r;
}

export async function discardUnfinishedRender(): Promise<void> {
  await del(KEY, renders());
}

const isInt = (v: unknown, min: number, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isStr = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;

/** A stored value as a SavedRender, or null if any field is missing or out of range. */
export function parseSavedRender(raw: unknown): SavedRender | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const s = r.settings as Record<string, unknown> | null;
  const ok =
    r.schema === SAVED_RENDER_SCHEMA && typeof r.savedAt === 'number' && isStr(r.packageUrl, 1024) && isStr(r.model, 512) && r.state instanceof Blob &&
    typeof s === 'object' && s !== null && isInt(s.totalFrames, 1, 100_000) && isInt(s.steps, 1, 1000) && isInt(r.step, 1, s.steps as number) &&
    typeof s.guidanceScale === 'number' && Number.isFinite(s.guidanceScale) && isInt(s.seed, 0, 0xffffffff) && (SAMPLER_NAMES as readonly unknown[]).includes(s.sampler) &&
    isInt(s.exportScale, 1, 16) && (s.exchange === undefined || EXCHANGE_CHOICES.some((c) => c.name === s.exchange)) && (s.cfgSplit === undefined || typeof s.cfgSplit === 'boolean') && Array.isArray(s.schedule) && s.schedule.length >= 1 && s.schedule.length <= 256 &&
    s.schedule.every((e: unknown) => typeof e === 'object' && e !== null && isInt((e as Record<string, unknown>).fromFrame, 0, 100_000) && isStr((e as Record<string, unknown>).prompt, 1024));
  return ok ? (raw as SavedRender) : null;
}
