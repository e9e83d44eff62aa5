// `npm run compile-model -- public/models/<id> [--batch 2] [--height H --width W] [--version X] [--precision fp16]`
// Reads the package's configs and safetensors, writes onnx/* and manifest.json (docs/model-package.md).
import { compileModelPackage } from './compile-model.js';

function main(argv: string[]): number {
  const args = [...argv];
  const dir = args.shift();
  if (!dir || dir.startsWith('--')) {
    console.error('usage: npm run compile-model -- <package dir> [--batch N] [--height H] [--width W] [--version X] [--precision fp32|fp16] [--temporal-block N] [--query-chunk N]');
    return 2;
  }
  const opts: Record<string, string> = {};
  while (args.length) {
    const k = args.shift()!;
    const v = args.shift();
    if (!k.startsWith('--') || v === undefined) {
      console.error(`bad argument '${k}'`);
      return 2;
    }
    opts[k.slice(2)] = v;
  }
  const int = (k: string) => (opts[k] === undefined ? undefined : Number.parseInt(opts[k], 10));
  const precisions = { fp32: 'float32', fp16: 'float16' } as const;
  const precision = opts.precision === undefined ? undefined : precisions[opts.precision as keyof typeof precisions];
  if (opts.precision !== undefined && !precision) {
    console.error(`--precision must be fp32 or fp16, got '${opts.precision}'`);
    return 2;
  }
  try {
    const m = compileModelPackage(dir, {
      batch: int('batch'), height: int('height'), width: int('width'), version: opts.version, precision,
      attention: { temporalBlock: int('temporal-block'), queryChunk: int('query-chunk') }, log: (l) => console.log(l),
    });
    const total = Object.entries(m.files).filter(([p]) => p.startsWith('onnx/')).reduce((a, [, e]) => a + e.bytes, 0);
    console.log(`${m.name} ${m.version}: ${m.unet.segments} segments, ${m.unet.exchange_points} exchange points, onnx ${(total / 1e6).toFixed(2)} MB`);
    return 0;
  } catch (e) {
    console.error(`compile-model: ${(e as Error).message}`);
    return 1;
  }
}

process.exit(main(process.argv.slice(2)));
