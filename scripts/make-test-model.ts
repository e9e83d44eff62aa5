// `npm run make-test-model -- --preset videocrafter2|zeroscope --random --out DIR [--seed S] [--shard-bytes N]`
// Writes a random-weight pipeline folder in the published diffusers layout: model_index.json,
// unet/config.json + unet/diffusion_pytorch_model.safetensors (or shards + index with --shard-bytes),
// scheduler/scheduler_config.json. The key list is what the compiler asks for (checked against
// upstream diffusers by src/model/compile/unet3d-parity.test.ts), the values are seeded
// (src/model/testing/seeded-weights.ts), and tensors are made and written one at a time, so a
// full-size UNet (1.4 G parameters, 5.6 GB) needs little memory. Not part of `npm test`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUNetConfig } from '../src/model/config.js';
import { writeCheckpoint } from '../src/model/compile/checkpoint-writer.js';
import { WholeScope } from '../src/model/compile/frame-scope.js';
import { Program } from '../src/model/compile/graph.js';
import { buildUNet } from '../src/model/compile/unet.js';
import { PUBLISHED_PRESETS } from '../src/model/testing/published-presets.js';
import { RecordingWeights } from '../src/model/testing/recording-weights.js';
import { seededTensor } from '../src/model/testing/seeded-weights.js';

function main(argv: string[]): number {
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--random') opts.random = 'yes';
    else if (k.startsWith('--') && argv[i + 1] !== undefined) opts[k.slice(2)] = argv[++i]!;
    else {
      console.error(`bad argument '${k}'`);
      return 2;
    }
  }
  const preset = PUBLISHED_PRESETS[opts.preset as keyof typeof PUBLISHED_PRESETS];
  if (!preset || !opts.random || !opts.out) {
    console.error('usage: npm run make-test-model -- --preset videocrafter2|zeroscope --random --out DIR [--seed S] [--shard-bytes N]');
    return 2;
  }
  const seed = Number(opts.seed ?? 15);
  const out = opts.out;
  const t0 = Date.now();
  const cfg = parseUNetConfig(preset.unetConfig);
  // The compiler's own block code names every weight; the latent size does not change any shape.
  const rec = new RecordingWeights((key, shape) => seededTensor(seed, key, shape), 'linear');
  rec.keepValues = false;
  const c = { P: new Program('record'), W: rec, batch: 2 };
  buildUNet(c, new WholeScope(c, 'F'), cfg, { height: 8, width: 8, textTokens: 77 });
  const tensors = [...rec.shapes].map(([name, shape]) => ({ name, shape, values: () => rec.values(name) }));
  const params = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);

  mkdirSync(join(out, 'scheduler'), { recursive: true });
  writeFileSync(join(out, 'model_index.json'), JSON.stringify(preset.modelIndex, null, 2) + '\n');
  writeFileSync(join(out, 'scheduler', 'scheduler_config.json'), preset.schedulerText + '\n');
  const unetDir = join(out, 'unet');
  mkdirSync(unetDir, { recursive: true });
  writeFileSync(join(unetDir, 'config.json'), JSON.stringify(preset.unetConfig, null, 2) + '\n');
  const files = writeCheckpoint(unetDir, 'diffusion_pytorch_model', tensors, opts['shard-bytes'] ? Number(opts['shard-bytes']) : undefined);
  console.log(`${opts.preset} (${preset.repo}): ${tensors.length} tensors, ${(params / 1e9).toFixed(3)} G parameters, ${(4 * params / 1e9).toFixed(2)} GB fp32 ` +
    `in ${files.join(', ')}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

process.exit(main(process.argv.slice(2)));
