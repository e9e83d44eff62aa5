/**
 * The text embeddings of one job's prompts, encoded once by the host and handed to every rank, so
 * that a tab that only computes never downloads or runs the text encoder (for OpenCLIP-H that is
 * ~1.4 GB in fp32 per tab, for a few hundred KB of embeddings per prompt).
 *
 * One embedding per distinct prompt of the schedule plus the CFG uncond prompt "", each [L, D]
 * float32 row-major (the text encoder's last_hidden_state for that prompt). The wire form is
 * little-endian: "VIPE", version u32, header bytes u32, JSON header {length, width, prompts},
 * zero padding to 4 bytes, then the embeddings in header order. Everything read is untrusted.
 * Imports only errors.ts and prompt-schedule.ts.
 */

import { EngineError } from './errors.js';
import { distinctPrompts, UNCOND_PROMPT, type PromptSchedule } from './prompt-schedule.js';

export interface PromptEmbeddings {
  /** L: tokens per prompt. */
  readonly length: number;
  /** D: hidden size. */
  readonly width: number;
  /** prompt → [L, D] float32. */
  readonly byPrompt: ReadonlyMap<string, Float32Array>;
}

export type PromptEncoder = (prompt: string) => Promise<Float32Array>;

const MAGIC = 0x45504956; // "VIPE" read as a little-endian u32
const VERSION = 1;
/** More prompts than any schedule editor produces; bounds what an untrusted header may ask for. */
export const MAX_PROMPTS = 4096;

/** The prompts a job needs embedded: "" (uncond) first, then the schedule's distinct prompts. */
export function promptsToEncode(schedule: PromptSchedule): string[] {
  return [...new Set([UNCOND_PROMPT, ...distinctPrompts(schedule)])];
}

/** Encodes each prompt the schedule needs, one encoder call per distinct prompt. */
export async function encodeSchedulePrompts(encode: PromptEncoder, schedule: PromptSchedule, length: number, width: number): Promise<PromptEmbeddings> {
  const byPrompt = new Map<string, Float32Array>();
  for (const p of promptsToEncode(schedule)) {
    const e = await encode(p);
    if (e.length !== length * width) throw new EngineError('shape-mismatch', `text encoder: "${p}" gave ${e.length} values, expected ${length}·${width}`);
    byPrompt.set(p, e);
  }
  return { length, width, byPrompt };
}

/** Throws unless `embeddings` holds every prompt `schedule` needs, at [length, width]. */
export function checkCoversSchedule(embeddings: PromptEmbeddings, schedule: PromptSchedule, length: number, width: number): void {
  if (embeddings.length !== length || embeddings.width !== width)
    throw new EngineError('shape-mismatch', `prompt embeddings are [${embeddings.length}, ${embeddings.width}]; this model's text encoder gives [${length}, ${width}]`);
  const missing = promptsToEncode(schedule).filter((p) => !embeddings.byPrompt.has(p));
  if (missing.length) throw new EngineError('invalid-argument', `prompt embeddings lack ${missing.map((p) => JSON.stringify(p)).join(', ')}`);
}

export function serializePromptEmbeddings(e: PromptEmbeddings): Uint8Array {
  const prompts = [...e.byPrompt.keys()];
  const header = new TextEncoder().encode(JSON.stringify({ length: e.length, width: e.width, prompts }));
  const dataStart = align4(12 + header.byteLength);
  const per = e.length * e.width;
  const out = new Uint8Array(dataStart + prompts.length * per * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.byteLength, true);
  out.set(header, 12);
  const values = new Float32Array(out.buffer, dataStart);
  prompts.forEach((p, k) => values.set(e.byPrompt.get(p)!, k * per));
  return out;
}

/** Parses the wire form, checking every field; `expect` is the model's [L, D] when known. */
export function parsePromptEmbeddings(bytes: Uint8Array, expect?: { readonly length: number; readonly width: number }): PromptEmbeddings {
  const bad = (what: string): never => {
    throw new EngineError('invalid-argument', `prompt embeddings: ${what}`);
  };
  if (bytes.byteLength < 12) bad(`${bytes.byteLength} bytes, shorter than the 12-byte preamble`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) bad('not a prompt-embeddings blob (magic)');
  if (view.getUint32(4, true) !== VERSION) bad(`version ${view.getUint32(4, true)}, expected ${VERSION}`);
  const headerBytes = view.getUint32(8, true);
  if (12 + headerBytes > bytes.byteLength) bad(`header of ${headerBytes} bytes runs past the blob (${bytes.byteLength})`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + headerBytes)));
  } catch (e) {
    bad(`header is not JSON (${(e as Error).message})`);
  }
  const h = header as { length?: unknown; width?: unknown; prompts?: unknown };
  const dim = (v: unknown, name: string) => (Number.isSafeInteger(v) && (v as number) > 0 && (v as number) <= 1 << 16 ? (v as number) : bad(`'${name}' ${JSON.stringify(v)} is not a positive integer ≤ 65536`));
  const length = dim(h?.length, 'length');
  const width = dim(h?.width, 'width');
  if (expect && (length !== expect.length || width !== expect.width)) bad(`[${length}, ${width}], but this model's text encoder gives [${expect.length}, ${expect.width}]`);
  const prompts = h.prompts;
  if (!Array.isArray(prompts) || prompts.length === 0 || prompts.length > MAX_PROMPTS || !prompts.every((p) => typeof p === 'string'))
    bad(`'prompts' must be 1…${MAX_PROMPTS} strings`);
  const list = prompts as string[];
  if (new Set(list).size !== list.length) bad('a prompt appears twice');
  const dataStart = align4(12 + headerBytes);
  const per = length * width;
  const expected = dataStart + list.length * per * 4;
  if (bytes.byteLength !== expected) bad(`${bytes.byteLength} bytes, expected ${expected} for ${list.length} prompts of [${length}, ${width}]`);
  // Copy out: the blob may sit at an unaligned offset of a larger buffer.
  const values = new Float32Array(bytes.slice(dataStart).buffer);
  const byPrompt = new Map<string, Float32Array>();
  list.forEach((p, k) => {
    const row = values.subarray(k * per, (k + 1) * per);
    if (!row.every(Number.isFinite)) bad(`the embedding of ${JSON.stringify(p)} holds a non-finite value`);
    byPrompt.set(p, row);
  });
  return { length, width, byPrompt };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
