import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest, runtimeFiles } from '../model/manifest.js';
import { denoiseWhole } from './denoise.js';
import { EMBEDDED_DUAL_SCOPE } from './dual-scope.js';
import { loadEngineModel } from './engine-model.js';
import type { JobParams } from './job-state.js';
import { SessionRunner, type OrtModule } from './session-runner.js';
import { fileReader, openTinyEngine, tinyPackageDir } from './testing/tiny-engine.js';
import { checkCoversSchedule, encodeSchedulePrompts, parsePromptEmbeddings, promptsToEncode, serializePromptEmbeddings } from './prompt-embeddings.js';

const L = 3;
const D = 5;
const schedule = { entries: [{ fromFrame: 0, prompt: 'a red circle' }, { fromFrame: 8, prompt: 'a blue square' }, { fromFrame: 16, prompt: 'a red circle' }] };
/** A deterministic fake encoder: the prompt's length and character codes spread over [L, D]. */
const encode = async (p: string) => Float32Array.from({ length: L * D }, (_, i) => p.length + (p.charCodeAt(i % Math.max(p.length, 1)) || 0) / 7 + i / 100);

describe('prompt embeddings', () => {
  it('encodes "" and each distinct prompt once, in order', async () => {
    let calls = 0;
    const e = await encodeSchedulePrompts(async (p) => (calls++, encode(p)), schedule, L, D);
    expect(promptsToEncode(schedule)).toEqual(['', 'a red circle', 'a blue square']);
    expect([...e.byPrompt.keys()]).toEqual(['', 'a red circle', 'a blue square']);
    expect(calls).toBe(3);
  });

  it('survives the wire form bit for bit, including an unaligned blob and unicode prompts', async () => {
    const s = { entries: [{ fromFrame: 0, prompt: 'ümlaut ✓ 猫 "quoted"' }] };
    const e = await encodeSchedulePrompts(encode, s, L, D);
    const wire = serializePromptEmbeddings(e);
    const shifted = new Uint8Array(wire.byteLength + 1);
    shifted.set(wire, 1);
    const back = parsePromptEmbeddings(shifted.subarray(1), { length: L, width: D });
    expect([...back.byPrompt.keys()]).toEqual([...e.byPrompt.keys()]);
    for (const [p, v] of e.byPrompt) expect(Buffer.from(back.byPrompt.get(p)!.buffer, back.byPrompt.get(p)!.byteOffset, v.byteLength)).toEqual(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    checkCoversSchedule(back, s, L, D);
  });

  it('refuses malformed, truncated, mismatched or non-finite blobs with the reason', async () => {
    const e = await encodeSchedulePrompts(encode, schedule, L, D);
    const wire = serializePromptEmbeddings(e);
    expect(() => parsePromptEmbeddings(wire.subarray(0, 8))).toThrow(/shorter than/);
    expect(() => parsePromptEmbeddings(wire.subarray(0, wire.byteLength - 4))).toThrow(/bytes, expected/);
    expect(() => parsePromptEmbeddings(wire, { length: L, width: D + 1 })).toThrow(/this model's text encoder gives \[3, 6\]/);
    const magic = wire.slice();
    magic[0] = 0;
    expect(() => parsePromptEmbeddings(magic)).toThrow(/magic/);
    const nan = wire.slice();
    new DataView(nan.buffer).setFloat32(nan.byteLength - 4, Number.NaN, true);
    expect(() => parsePromptEmbeddings(nan)).toThrow(/non-finite/);
    const header = new TextEncoder().encode(JSON.stringify({ length: L, width: D, prompts: ['a', 'a'] }));
    const dup = new Uint8Array(12 + 16 + 2 * L * D * 4);
    new DataView(dup.buffer).setUint32(0, 0x45504956, true);
    new DataView(dup.buffer).setUint32(4, 1, true);
    new DataView(dup.buffer).setUint32(8, header.byteLength, true);
    dup.set(header, 12);
    expect(() => parsePromptEmbeddings(dup)).toThrow(/twice/);
  });

  it('checks that a set covers the schedule (a missing prompt is named)', async () => {
    const e = await encodeSchedulePrompts(encode, { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, L, D);
    expect(() => checkCoversSchedule(e, schedule, L, D)).toThrow(/"a blue square"/);
    expect(() => checkCoversSchedule(e, { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, L + 1, D)).toThrow(/\[3, 5\]/);
  });
});

describe('a rank without the text encoder renders from the host\'s embeddings', () => {
  const job = (): JobParams => ({
    jobId: 3, totalFrames: 8, seed: 11, steps: 1, guidanceScale: 7.5, fps: 8, partition: null,
    promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }, { fromFrame: 4, prompt: 'a blue square' }] },
    sampler: { kind: 'ddim', eta: 0 }, dualScope: EMBEDDED_DUAL_SCOPE,
  });

  it('gives the same latents bit for bit as encoding in the rank, and refuses a set that misses a prompt', async () => {
    const full = await openTinyEngine(ort as unknown as OrtModule, ['whole']);
    const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
    // A compute-only tab reads only the package's compute part: no tokenizer, no text encoder.
    const manifest = parseManifest(JSON.parse(readFileSync(join(tinyPackageDir(), 'manifest.json'), 'utf8')));
    const computeFiles = new Set(['manifest.json', ...runtimeFiles(manifest, 'compute')]);
    const textFiles = runtimeFiles(manifest, 'text-encoder');
    expect(textFiles).toEqual(expect.arrayContaining([manifest.tokenizer.file, manifest.text_encoder.onnx]));
    expect(textFiles.some((f) => computeFiles.has(f))).toBe(false);
    const read = fileReader(tinyPackageDir());
    const computeOnly = await loadEngineModel(runner, async (path) => {
      if (!computeFiles.has(path)) throw new Error(`a compute-only load read '${path}'`);
      return read(path);
    }, { graphs: ['whole'], textEncoder: false });
    expect(computeOnly.encodePrompt).toBeNull();
    const { max_length: L, hidden_size: D } = full.manifest.text_encoder;
    const j = job();
    // What the host does: encode once, send the wire form; the rank parses it against its model.
    const wire = serializePromptEmbeddings(await encodeSchedulePrompts(full.encodePrompt!, j.promptSchedule, L, D));
    const given = parsePromptEmbeddings(wire, { length: L, width: D });
    const here = await denoiseWhole(full, j);
    const fromHost = await denoiseWhole(computeOnly, j, { promptEmbeddings: given });
    expect(fromHost.latents).toEqual(here.latents);
    // Negative controls: no embeddings at all, one prompt missing, and another prompt's embedding.
    await expect(denoiseWhole(computeOnly, j)).rejects.toThrow(/loaded without its text encoder/);
    const partial = new Map(given.byPrompt);
    partial.delete('a blue square');
    await expect(denoiseWhole(computeOnly, j, { promptEmbeddings: { ...given, byPrompt: partial } })).rejects.toThrow(/"a blue square"/);
    const swapped = new Map(given.byPrompt).set('a blue square', given.byPrompt.get('a red circle')!);
    const wrong = await denoiseWhole(computeOnly, j, { promptEmbeddings: { ...given, byPrompt: swapped } });
    expect(wrong.latents).not.toEqual(here.latents);
  });
});
