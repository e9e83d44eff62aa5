// Figures of the VAE decoder at full size with random weights (docs/real-model.md, "The VAE decoder"):
// compile time, weight bytes, the preview fit, and one decoder run on onnxruntime-node CPU.
//
//   npx tsx scripts/vae-figures.ts [--out DIR] [--height 40 --width 64] [--frames 1]
//
// The VAE is SD's AutoencoderKL config as the VideoCrafter2 port publishes it (4 levels [128, 256,
// 512, 512], 2 layers per block, 32 groups, 4 latent channels), decoder weights only, seeded
// (src/model/testing/seeded-weights.ts), written as a published folder under DIR (default a temp dir,
// removed at the end). Random weights: timings and sizes hold for the real VAE, the preview fit's R² does not.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { parseVaeConfig } from '../src/model/config.js';
import { buildVaeDecoder } from '../src/model/compile/blocks/vae-decoder.js';
import { writeCheckpoint } from '../src/model/compile/checkpoint-writer.js';
import { Program } from '../src/model/compile/graph.js';
import { compileVae } from '../src/model/compile/vae.js';
import { RecordingWeights } from '../src/model/testing/recording-weights.js';
import { seededTensor } from '../src/model/testing/seeded-weights.js';
import { SessionRunner, type OrtModule } from '../src/engine/session-runner.js';
import { VaeDecoder } from '../src/engine/vae-decode.js';
import { readFile } from 'node:fs/promises';

/** SD's AutoencoderKL config (the VideoCrafter2 port's vae/config.json keys). */
const SD_VAE = {
  _class_name: 'AutoencoderKL', act_fn: 'silu', block_out_channels: [128, 256, 512, 512],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  in_channels: 3, latent_channels: 4, layers_per_block: 2, norm_num_groups: 32, out_channels: 3, sample_size: 512,
  scaling_factor: 0.18215, up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
};

const { values: args } = parseArgs({ options: { out: { type: 'string' }, height: { type: 'string', default: '40' }, width: { type: 'string', default: '64' }, frames: { type: 'string', default: '1' } } });
const height = Number(args.height);
const width = Number(args.width);
const frames = Number(args.frames);
const root = args.out ?? mkdtempSync(join(tmpdir(), 'vi-vae-figures-'));
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
try {
  const cfg = parseVaeConfig(SD_VAE);
  const rec = new RecordingWeights((key, shape) => seededTensor(1, key, shape), 'linear');
  rec.keepValues = false;
  buildVaeDecoder({ P: new Program('record'), W: rec, batch: 1 }, cfg, height, width);
  const src = join(root, 'vae');
  writeCheckpoint(src, 'diffusion_pytorch_model', [...rec.shapes].map(([name, shape]) => ({ name, shape, values: () => rec.values(name) })));
  writeFileSync(join(src, 'config.json'), JSON.stringify(SD_VAE));
  const params = [...rec.shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  console.log(`SD AutoencoderKL decoder: ${rec.shapes.size} tensors, ${(params / 1e6).toFixed(2)} M parameters; latent ${height}×${width} -> ${8 * height}×${8 * width}`);

  const pkg = join(root, 'pkg');
  const t0 = performance.now();
  const compiled = await compileVae(src, pkg, { height, width, log: (l) => console.log(`  ${l}`) });
  console.log(`compileVae: ${((performance.now() - t0) / 1000).toFixed(1)} s; bytes_per_frame estimate ${mb(compiled.vae.bytes_per_frame)}; peak RSS so far ${mb(process.resourceUsage().maxRSS * 1024)}`);

  const runner = new SessionRunner(ort as unknown as OrtModule, { executionProviders: ['cpu'] });
  const decoder = await VaeDecoder.load(runner, compiled.vae, { channels: 4, height, width }, async (p) => new Uint8Array(await readFile(join(pkg, p))));
  const z = Float32Array.from({ length: frames * 4 * height * width }, (_, i) => Math.sin(i * 0.37));
  const t1 = performance.now();
  const rgb = await decoder.decode(z, frames);
  console.log(`decode ${frames} frame(s) on onnxruntime-node CPU: ${((performance.now() - t1) / 1000).toFixed(1)} s -> ${rgb.width}×${rgb.height}; peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`);
} finally {
  if (!args.out) rmSync(root, { recursive: true, force: true });
}
