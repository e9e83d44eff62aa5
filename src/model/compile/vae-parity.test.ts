// Parity with the upstream VAE: diffusers v0.29.1 AutoencoderKL.decode on a narrow random config
// (SD's block types, 4 levels so ×8, widths [8, 16, 16, 16], 4 groups, scaling factor 0.13025, a 4×6
// latent). The goldens (training/golden/vae-narrow, training/write_vae_goldens.py) hold the config, the
// key list, the latents and the decoded samples; the weights are regenerated from their seed. The VAE
// folder is written as published and compiled by compileVae, as a user's would be.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVaeConfig } from '../config.js';
import { f32, maxAbsDiff } from '../testing/host-tensor.js';
import { RecordingWeights } from '../testing/recording-weights.js';
import { type NarrowVaeOptions, vaeGolden, vaeGoldenMeta as meta, writeNarrowVae } from '../testing/vae-narrow.js';
import { VAE_DECODER_IO, buildVaeDecoder } from './blocks/vae-decoder.js';
import { Program } from './graph.js';
import { type CompiledVae, VAE_FILES, compileVae } from './vae.js';

const TOL = 1e-4;
const latents = vaeGolden('latents');
const want = vaeGolden('sample');

let root: string;
let counter = 0;

/** Writes the narrow VAE folder (with changes) and compiles it into a fresh package directory. */
async function compileNarrow(opts: NarrowVaeOptions = {}): Promise<{ pkg: string; compiled: CompiledVae }> {
  const dir = join(root, `case-${counter++}`);
  writeNarrowVae(join(dir, 'vae'), opts);
  const pkg = join(dir, 'pkg');
  const compiled = await compileVae(join(dir, 'vae'), pkg, { height: meta.height, width: meta.width });
  return { pkg, compiled };
}

/** Runs the compiled decoder of `pkg` on the golden latents. */
async function decode(pkg: string, compiled: CompiledVae): Promise<Float32Array> {
  const externalData = compiled.vae.external_data.map((p) => ({ path: p.slice(p.lastIndexOf('/') + 1), data: new Uint8Array(readFileSync(join(pkg, p))) }));
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(join(pkg, VAE_FILES.onnx))), { executionProviders: ['cpu'], intraOpNumThreads: 1, externalData });
  const out = await session.run({ [VAE_DECODER_IO.input]: new ort.Tensor('float32', latents.data as Float32Array, latents.dims) });
  const sample = out[VAE_DECODER_IO.output]!;
  expect([...sample.dims]).toEqual([...want.dims]);
  return sample.data as Float32Array;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vi-vae-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('narrow AutoencoderKL decoder vs upstream diffusers', () => {
  it('asks for exactly the decoder keys and shapes of upstream AutoencoderKL', () => {
    const cfg = parseVaeConfig(meta.vae_config);
    expect(cfg.scalingFactor).toBe(0.13025);
    expect(cfg.upscale).toBe(8);
    const rec = new RecordingWeights(() => new Float32Array(0), 'linear');
    buildVaeDecoder({ P: new Program('record'), W: rec, batch: 1 }, cfg, meta.height, meta.width);
    const ours = [...rec.shapes].map(([k, s]) => `${k} [${s}]`).sort();
    const upstream = meta.weights.filter(([k]) => !/^(encoder\.|quant_conv\.)/.test(k)).map(([k, s]) => `${k} [${s}]`).sort();
    expect(ours).toEqual(upstream);
    console.log(`upstream diffusers ${meta.source.diffusers}: ${upstream.length} decoder weights matched (${meta.weights.length - upstream.length} encoder weights not compiled)`);
  });

  it(`decodes ${meta.frames} non-square frames within ${TOL} (1/scaling_factor inside the graph)`, async () => {
    const { pkg, compiled } = await compileNarrow();
    expect(compiled.decode).toEqual({ kind: 'vae', scaling_factor: 0.13025 });
    expect(compiled.vae.upscale).toBe(8);
    expect(compiled.vae.external_data).toEqual(['onnx/vae_decoder_weights_000.bin']);
    const diff = maxAbsDiff(f32(await decode(pkg, compiled), [...want.dims]), want);
    console.log(`VAE decode vs upstream: max abs diff ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(TOL);
  });

  it("reads the deprecated attention names (query/key/value/proj_attn) as diffusers' loader does, with the same result", async () => {
    const old = { to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' } as Record<string, string>;
    const rename = (k: string) => k.replace(/^(decoder\.mid_block\.attentions\.0)\.(to_q|to_k|to_v|to_out\.0)\./, (_, p: string, n: string) => `${p}.${old[n]}.`);
    const { pkg, compiled } = await compileNarrow({ rename });
    const diff = maxAbsDiff(f32(await decode(pkg, compiled), [...want.dims]), want);
    expect(diff).toBeLessThanOrEqual(TOL);
  });

  it('accepts a decoder-only checkpoint (no encoder keys)', async () => {
    const { pkg, compiled } = await compileNarrow({ rename: (k) => (/^(encoder\.|quant_conv\.)/.test(k) ? null : k) });
    expect(maxAbsDiff(f32(await decode(pkg, compiled), [...want.dims]), want)).toBeLessThanOrEqual(TOL);
  });

  it('refuses bad checkpoints and configs with errors that name the key', async () => {
    await expect(compileNarrow({ rename: (k) => (k === 'decoder.conv_out.bias' ? null : k) })).rejects.toThrow(/missing weight 'decoder\.conv_out\.bias'/);
    await expect(compileNarrow({ extra: [['decoder.stray.weight', [2, 2]]] })).rejects.toThrow(/unknown weight.*'decoder\.stray\.weight'/);
    await expect(compileNarrow({ extra: [['decoder.mid_block.attentions.0.query.weight', [16, 16]]] }))
      .rejects.toThrow(/'decoder\.mid_block\.attentions\.0\.to_q\.weight' and 'decoder\.mid_block\.attentions\.0\.query\.weight' are the same weight/);
    await expect(compileNarrow({ config: { shift_factor: 0.1 } })).rejects.toThrow(/'shift_factor' = 0.1 must be null/);
    await expect(compileNarrow({ config: { layers_per_block: 2 } })).rejects.toThrow(/missing weight 'decoder\.up_blocks\.0\.resnets\.2\.norm1\.weight'/);
  });

  it('reads older configs with defaults and refuses what the decoder cannot honour', () => {
    // SD's vae/config.json as diffusers 0.6 saved it: no scaling_factor, no use_post_quant_conv.
    const old = {
      _class_name: 'AutoencoderKL', _diffusers_version: '0.6.0', act_fn: 'silu', block_out_channels: [128, 256, 512, 512],
      down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'], in_channels: 3,
      latent_channels: 4, layers_per_block: 2, norm_num_groups: 32, out_channels: 3, sample_size: 512,
      up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
    };
    expect(parseVaeConfig(old)).toMatchObject({ scalingFactor: 0.18215, usePostQuantConv: true, midBlockAddAttention: true, upscale: 8, latentChannels: 4 });
    expect(() => parseVaeConfig({ ...old, _class_name: 'AutoencoderTiny' })).toThrow(/'_class_name' = "AutoencoderTiny" must be AutoencoderKL/);
    expect(() => parseVaeConfig({ ...old, out_channels: 4 })).toThrow(/'out_channels' = 4 must be 3/);
    expect(() => parseVaeConfig({ ...old, up_block_types: ['UpDecoderBlock2D'] })).toThrow(/'up_block_types'.*one entry per block_out_channels entry \(4\)/);
    expect(() => parseVaeConfig({ ...old, latents_mean: [0, 0, 0, 0] })).toThrow(/'latents_mean'.*must be null/);
    expect(() => parseVaeConfig({ ...old, norm_num_groups: 48 })).toThrow(/'norm_num_groups' = 48 must divide every block_out_channels entry \(128\)/);
    expect(() => parseVaeConfig({ ...old, spatial_norm: true })).toThrow(/unknown key\(s\) 'spatial_norm'/);
  });

  it('negative control: one weight off by 3e-4 (decoder.conv_out.bias[0]) breaks the tolerance', async () => {
    const { pkg, compiled } = await compileNarrow({ perturb: { key: 'decoder.conv_out.bias', delta: 3e-4 } });
    const diff = maxAbsDiff(f32(await decode(pkg, compiled), [...want.dims]), want);
    console.log(`perturbed VAE vs upstream: max abs diff ${diff.toExponential(2)} (must exceed ${TOL})`);
    expect(diff).toBeGreaterThan(TOL);
  });

  it('negative control: the default scaling factor (0.18215) instead of the config\'s breaks the tolerance', async () => {
    const { pkg, compiled } = await compileNarrow({ config: { scaling_factor: 0.18215 } });
    const diff = maxAbsDiff(f32(await decode(pkg, compiled), [...want.dims]), want);
    expect(diff).toBeGreaterThan(TOL);
  });
});
