// `npm run make-test-model -- --preset videocrafter2|zeroscope|videocrafter2-narrow --random --out DIR [--seed S] [--shard-bytes N]`
// Writes a random-weight pipeline folder in the published diffusers layout (src/model/testing/test-pipeline.ts):
// the full-size UNet of VideoCrafter2's port or ZeroScope v2 (key lists checked against upstream diffusers
// by src/model/compile/unet3d-parity.test.ts), or `videocrafter2-narrow`, a whole pipeline of a few MB
// (UNet, CLIP text encoder, tokenizer, VAE) for tests. Not part of `npm test`.
import { TEST_PIPELINE_PRESETS, type TestPipelinePreset, writeTestPipeline } from '../src/model/testing/test-pipeline.js';

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
  const preset = opts.preset as TestPipelinePreset;
  if (!TEST_PIPELINE_PRESETS.includes(preset) || !opts.random || !opts.out) {
    console.error(`usage: npm run make-test-model -- --preset ${TEST_PIPELINE_PRESETS.join('|')} --random --out DIR [--seed S] [--shard-bytes N]`);
    return 2;
  }
  const t0 = Date.now();
  const s = writeTestPipeline(opts.out, preset, Number(opts.seed ?? 15), opts['shard-bytes'] ? Number(opts['shard-bytes']) : undefined);
  console.log(`${preset} (${s.repo}): ${s.unetTensors} UNet tensors, ${(s.unetParameters / 1e9).toFixed(3)} G parameters, ${(4 * s.unetParameters / 1e9).toFixed(2)} GB fp32 ` +
    `in ${s.unetFiles.join(', ')}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

process.exit(main(process.argv.slice(2)));
