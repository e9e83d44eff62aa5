import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from './manifest.js';
import { summarizePackage } from './package-summary.js';

const embedded = parseManifest(JSON.parse(readFileSync('public/models/vi-shapes-tiny/manifest.json', 'utf8')));

describe('package summary', () => {
  it('the embedded package: 32×32 frames; the compute part and the text encoder split its runtime files', () => {
    const s = summarizePackage(embedded);
    expect(s).toMatchObject({ name: embedded.name, width: 32, height: 32, frameRate: embedded.frame_rate });
    const sizeOf = (re: RegExp) => Object.entries(embedded.files).filter(([p]) => re.test(p)).reduce((n, [, e]) => n + e.bytes, 0);
    expect(s.bytes['text-encoder']).toBe(sizeOf(/^(tokenizer\.json|text_encoder\/config\.json|onnx\/text_encoder.*)$/));
    // The compute part: every UNet graph and shard but the batch-1 whole graph (no tab runs it).
    expect(s.bytes.compute).toBe(sizeOf(/^(onnx\/(unet(?!_b1\.onnx)|segment).*|unet\/config\.json|scheduler\/.*)$/));
    expect(s.bytes.compute).toBeGreaterThan(10 * s.bytes['text-encoder']);
  });

  it('a non-square latent gives non-square frames', () => {
    const wide = { ...embedded, latent: { ...embedded.latent, width: 16, height: 10 } };
    expect(summarizePackage(wide)).toMatchObject({ width: 64, height: 40 });
  });
});
