// A whole pipeline (the narrow VideoCrafter2-shaped one, random weights) imports into a package the
// engine accepts; a pipeline missing a part imports its UNet but writes no manifest and says what
// is missing; parts that do not fit each other are refused by name.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest, runtimeFiles } from '../manifest.js';
import { writeTestPipeline } from '../testing/test-pipeline.js';
import { pipelineSources } from './import-model.js';
import { importPipeline } from './import-pipeline.js';

const root = mkdtempSync(join(tmpdir(), 'vi-import-pipeline-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const src = join(root, 'src');
writeTestPipeline(src, 'videocrafter2-narrow');

describe('importing a whole pipeline', () => {
  it('writes a manifest the engine accepts: VAE decode, CLIP BPE tokenizer, text encoder weights as external data, non-square latent', async () => {
    const out = join(root, 'pkg');
    const { manifest } = await importPipeline(pipelineSources(src), { out, height: 64, width: 128 });
    const m = parseManifest(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')));
    expect(m).toEqual(manifest);
    expect(m.latent).toMatchObject({ channels: 4, height: 8, width: 16, decode: { kind: 'vae' } });
    expect(m.vae!.upscale).toBe(8);
    expect(m.tokenizer.type).toBe('clip-bpe');
    expect(m.text_encoder.external_data!.length).toBeGreaterThan(0);
    expect(m.defaults).toMatchObject({ local_window_p: 8, global_top_k: 16, phase_t: 800, guidance: 12, steps: 30, sampler: 'sde-dpm++' });
    // Every file it lists is there with its size; the text-encoder part is exactly the tokenizer and the text encoder's files.
    for (const [p, e] of Object.entries(m.files)) expect(readFileSync(join(out, p)).byteLength, p).toBe(e.bytes);
    expect(runtimeFiles(m, 'text-encoder').every((p) => /^(tokenizer\/|text_encoder\/|onnx\/text_encoder)/.test(p))).toBe(true);
    expect(runtimeFiles(m, 'compute')).toEqual(expect.arrayContaining(['onnx/vae_decoder.onnx', 'onnx/segment-plan.json']));
  });

  it('without a VAE the UNet is imported but there is no manifest, and the reason names the part', async () => {
    const out = join(root, 'no-vae');
    const r = await importPipeline({ ...pipelineSources(src), vae: undefined }, { out, height: 64, width: 128 });
    expect(r.manifest).toBeNull();
    expect(r.missing).toEqual(['VAE']);
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    expect(existsSync(join(out, 'onnx', 'segment-plan.json'))).toBe(true);
  });

  it('refuses a text encoder narrower than the UNet\'s cross-attention', async () => {
    const other = join(root, 'wide-unet');
    writeTestPipeline(other, 'videocrafter2-narrow');
    const cfgPath = join(other, 'unet', 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), cross_attention_dim: 1024 }));
    await expect(importPipeline(pipelineSources(other), { out: join(root, 'bad'), height: 64, width: 128 })).rejects.toThrow(/hidden_size 64 != UNet cross_attention_dim 1024/);
  });
});
