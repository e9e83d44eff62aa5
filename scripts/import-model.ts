// `npm run import-model -- --unet DIR [--text-encoder DIR --tokenizer DIR --vae DIR --scheduler DIR] --out public/models/NAME`
// `npm run import-model -- PIPELINE_DIR --out public/models/NAME`       (a diffusers pipeline folder with model_index.json)
// Options: --height H --width W (video pixels; default 320×512 for the VideoCrafter2 port), --batch B (CFG batch, 2),
// --precision fp16 (UNet weight shards in half precision, docs/model-package.md §fp16).
// Reads the diffusers layout as published (config.json + safetensors, single or sharded) and writes the
// package: the UNet compiled to ONNX (src/model/compile/import-model.ts, docs/real-model.md), and with the
// text encoder, tokenizer, VAE and scheduler also those and manifest.json (import-pipeline.ts): a package
// the dashboard can render. Prints the time and the process's peak resident memory.
import { readFileSync } from 'node:fs';
import { type ImportSources, pipelineSources } from '../src/model/compile/import-model.js';
import { importPipeline } from '../src/model/compile/import-pipeline.js';
import { DEFAULT_NUMERICS } from '../src/model/compile/numerics.js';

const USAGE = 'usage: npm run import-model -- (PIPELINE_DIR | --unet DIR [--text-encoder DIR] [--tokenizer DIR] [--vae DIR] [--scheduler DIR]) ' +
  '--out public/models/NAME [--height H --width W] [--batch B] [--precision fp32|fp16]';

/** Peak resident set size of this process (Linux VmHWM), in bytes; null elsewhere. */
function peakRss(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function main(argv: string[]): Promise<number> {
  const opts: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (!k.startsWith('--')) positional.push(k);
    else if (argv[i + 1] !== undefined) opts[k.slice(2)] = argv[++i]!;
    else {
      console.error(`'${k}' needs a value\n${USAGE}`);
      return 2;
    }
  }
  const known = ['unet', 'text-encoder', 'tokenizer', 'vae', 'scheduler', 'out', 'height', 'width', 'batch', 'precision'];
  const unknown = Object.keys(opts).filter((k) => !known.includes(k));
  if (unknown.length || !opts.out || positional.length > 1 || (positional.length === 1) === (opts.unet !== undefined)) {
    console.error(unknown.length ? `unknown option(s) ${unknown.map((k) => `--${k}`).join(', ')}\n${USAGE}` : USAGE);
    return 2;
  }
  const int = (k: string) => (opts[k] === undefined ? undefined : Number.parseInt(opts[k]!, 10));
  if (opts.precision !== undefined && opts.precision !== 'fp32' && opts.precision !== 'fp16') {
    console.error(`--precision must be fp32 or fp16, got '${opts.precision}'\n${USAGE}`);
    return 2;
  }
  const numerics = { ...DEFAULT_NUMERICS, precision: opts.precision === 'fp16' ? ('float16' as const) : ('float32' as const) };
  const t0 = Date.now();
  try {
    const src: ImportSources = positional.length
      ? { ...pipelineSources(positional[0]!), ...(opts.unet ? { unet: opts.unet } : {}) }
      : { unet: opts.unet!, textEncoder: opts['text-encoder'], tokenizer: opts.tokenizer, vae: opts.vae, scheduler: opts.scheduler };
    const { record: rec, manifest, missing } = await importPipeline(src, { out: opts.out, height: int('height'), width: int('width'), batch: int('batch'), numerics, log: (l) => console.log(l) });
    const onnxBytes = Object.entries(manifest?.files ?? rec.files).filter(([p]) => p.startsWith('onnx/')).reduce((a, [, e]) => a + e.bytes, 0);
    const peak = peakRss();
    console.log(`${opts.out}: ${rec.unet.class}, ${rec.unet.segments} segments, ${rec.unet.exchange_points} exchange points, onnx ${(onnxBytes / 1e9).toFixed(3)} GB; ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s, peak memory ${peak === null ? 'unknown' : `${(peak / 2 ** 20).toFixed(0)} MiB`}`);
    console.log(manifest ? `renderable: ${opts.out}/manifest.json (version ${manifest.version})` : `UNet only, no manifest.json: give the ${missing.join(', ')} to make it renderable`);
    return 0;
  } catch (e) {
    console.error(`import-model: ${(e as Error).message}`);
    return 1;
  }
}

process.exit(await main(process.argv.slice(2)));
