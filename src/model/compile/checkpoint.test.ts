// Reading checkpoints as published: single and sharded safetensors, pickle refused with the command
// that converts it, and every missing, unexpected or mis-shaped weight named in the error.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseUNetConfig } from '../config.js';
import { seededTensor } from '../testing/seeded-weights.js';
import { openCheckpoint } from './checkpoint-reader.js';
import { type TensorSpec, writeCheckpoint } from './checkpoint-writer.js';
import { compileUNet } from './compile-model.js';
import { importModel } from './import-model.js';

const golden = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'training', 'golden', 'unet3d-narrow', 'unet_calls.json'), 'utf8')) as {
  unet_config: Record<string, unknown>;
  weights: [string, number[]][];
};
const STEM = 'diffusion_pytorch_model';
const SHAPE = { height: 8, width: 16, textTokens: 4 };
const specs = (drop?: string, reshape?: { key: string; shape: number[] }): TensorSpec[] =>
  golden.weights.filter(([k]) => k !== drop).map(([name, shape]) => {
    const s = reshape?.key === name ? reshape.shape : shape;
    return { name, shape: s, values: () => seededTensor(1, name, s) };
  });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vi-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const folder = (name: string) => join(dir, name);

describe('openCheckpoint', () => {
  it('reads a sharded checkpoint (index + shards) as one, and it compiles', () => {
    const files = writeCheckpoint(folder('sharded'), STEM, specs(), 256 * 1024);
    expect(files.length).toBeGreaterThan(4);
    const w = openCheckpoint(folder('sharded'));
    expect(w.entries.size).toBe(golden.weights.length);
    const unet = compileUNet(parseUNetConfig(golden.unet_config), w, SHAPE);
    expect(unet.plan.segments.length).toBeGreaterThan(1);
  });

  it('names a weight the index lists but no shard holds, and one a shard holds but the index does not list', () => {
    writeCheckpoint(folder('bad-index'), STEM, specs(), 256 * 1024);
    const indexPath = join(folder('bad-index'), `${STEM}.safetensors.index.json`);
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    const first = Object.keys(index.weight_map)[0]!;
    const shard = index.weight_map[first];
    writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: { ...index.weight_map, 'ghost.weight': shard } }));
    expect(() => openCheckpoint(folder('bad-index'))).toThrow(/weight_map lists 'ghost\.weight'/);
    delete index.weight_map[first];
    writeFileSync(indexPath, JSON.stringify(index));
    expect(() => openCheckpoint(folder('bad-index'))).toThrow(new RegExp(`weight '${first.replace(/\./g, '\\.')}' is in .* but not in the index`));
  });

  it('refuses a pickle checkpoint and prints the exact conversion command', () => {
    writeFileSync(join(dir, `${STEM}.bin`), 'pickle');
    expect(() => openCheckpoint(dir)).toThrow(/pickle checkpoint.*\n  python3 -c "import torch; from safetensors\.torch import save_file;.*diffusion_pytorch_model\.bin.*diffusion_pytorch_model\.safetensors/s);
    rmSync(join(dir, `${STEM}.bin`));
    writeFileSync(join(dir, `${STEM}.bin.index.json`), '{}');
    expect(() => openCheckpoint(dir)).toThrow(/diffusion_pytorch_model\.bin\.index\.json.*python3 -c .*safetensors\.index\.json/s);
    rmSync(join(dir, `${STEM}.bin.index.json`));
  });
});

describe('weights that do not match the config are errors that name them', () => {
  const cfg = parseUNetConfig(golden.unet_config);
  it('missing', () => {
    writeCheckpoint(folder('missing'), STEM, specs('mid_block.temp_convs.1.conv3.3.weight'));
    expect(() => compileUNet(cfg, openCheckpoint(folder('missing')), SHAPE)).toThrow(/missing weight 'mid_block\.temp_convs\.1\.conv3\.3\.weight' \(expected shape \[32,32,3,1,1\]\)/);
  });
  it('mis-shaped', () => {
    writeCheckpoint(folder('shape'), STEM, specs(undefined, { key: 'conv_in.weight', shape: [16, 4, 1, 1] }));
    expect(() => compileUNet(cfg, openCheckpoint(folder('shape')), SHAPE)).toThrow(/weight 'conv_in\.weight' has shape \[16,4,1,1\], the config implies \[16,4,3,3\]/);
  });
  it('a spatial projection may be Linear or 1×1 conv, nothing else', () => {
    writeCheckpoint(folder('proj'), STEM, specs(undefined, { key: 'down_blocks.0.attentions.0.proj_in.weight', shape: [16, 16, 1, 1] }));
    expect(() => compileUNet(cfg, openCheckpoint(folder('proj')), SHAPE)).not.toThrow();
    writeCheckpoint(folder('proj-bad'), STEM, specs(undefined, { key: 'down_blocks.0.attentions.0.proj_in.weight', shape: [16, 16, 3, 3] }));
    expect(() => compileUNet(cfg, openCheckpoint(folder('proj-bad')), SHAPE)).toThrow(/proj_in\.weight' has shape \[16,16,3,3\], the config implies \[16,16\] or \[16,16,1,1\]/);
  });
  it('unexpected: VideoCrafter2 fps layers under a config without fps conditioning, with the fix in the message', () => {
    writeCheckpoint(folder('fps'), STEM, specs());
    const plain = parseUNetConfig({ ...golden.unet_config, _class_name: 'UNet3DConditionModel', fps_cond: false });
    expect(() => compileUNet(plain, openCheckpoint(folder('fps')), SHAPE)).toThrow(/4 unknown weight\(s\) not used by the config: 'fps_embedding\.linear_1\.weight' \[64,16\].*"fps_cond": true/);
  });
  it('the importer checks the video size against the UNet depth before reading weights', () => {
    writeFileSync(join(folder('fps'), 'config.json'), JSON.stringify(golden.unet_config));
    expect(() => importModel({ unet: folder('fps') }, { out: folder('out'), height: 100, width: 128 })).toThrow(/height 100 px: must be a positive multiple of 64/);
  });
});
