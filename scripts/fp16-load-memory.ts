// `npx tsx scripts/fp16-load-memory.ts [--mib 512]`
// What ONNX Runtime (onnxruntime-node, CPU EP) holds in memory for float16 weights that the graph
// upcasts (numerics.ts `weight`: a float16 initializer + Cast to float32), against float32 weights.
// Builds a chain of MatMuls whose weights total --mib MiB in float32, in both storages, with the
// compiler's own graph and external-data writers, then loads each in a fresh process with graph
// optimisation 'all' (ORT's default) and 'disabled', and prints the resident memory above the empty
// process after session creation, after one run, and at peak (Linux VmRSS / VmHWM). The caller's
// copy of the shards is dropped after session creation. docs/model-package.md §fp16.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ExternalData } from '../src/model/compile/external-data.js';
import { Program } from '../src/model/compile/graph.js';
import { DEFAULT_NUMERICS, weight } from '../src/model/compile/numerics.js';
import { serializeGraph } from '../src/model/compile/onnx-writer.js';
import type { Weights } from '../src/model/compile/weights.js';

const D = 2048; // each weight [D, D]: 16 MiB in float32
const status = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;

function build(dir: string, precision: 'float32' | 'float16', layers: number): void {
  const P = new Program('chain');
  const c = { P, W: {} as Weights, batch: 1, numerics: { ...DEFAULT_NUMERICS, precision } };
  let x = P.callInput('x', 'float32', [1, D]);
  for (let l = 0; l < layers; l++) {
    // Small values so the chain stays finite; each weight distinct (external data deduplicates equal tensors).
    const w = { length: D * D, load: () => Float32Array.from({ length: D * D }, (_, i) => (((i * 2654435761 + l * 97) % 1000) / 1000 - 0.5) / D) };
    x = P.op('MatMul', [x, weight(c, `w${l}`, [D, D], w)], {}, undefined, [1, D]);
  }
  P.output(x, 'result');
  const ext = new ExternalData('weights', 2 ** 30, dir);
  writeFileSync(join(dir, 'model.onnx'), serializeGraph(P.segments[0]!.graph, 'fp16 load-memory probe', ext));
  ext.close();
  writeFileSync(join(dir, 'shards.json'), JSON.stringify(ext.shardList()));
}

/** Child: load one model and report memory. */
async function measure(dir: string, level: 'all' | 'disabled'): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  const empty = status('VmRSS'); // before any model bytes are read
  const shards: { location: string }[] = JSON.parse(readFileSync(join(dir, 'shards.json'), 'utf8'));
  const externalData = shards.map((s) => ({ path: s.location, data: new Uint8Array(readFileSync(join(dir, s.location))) }));
  const bytes = externalData.reduce((a, e) => a + e.data.byteLength, 0);
  const base = status('VmRSS');
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(join(dir, 'model.onnx'))), {
    executionProviders: ['cpu'], graphOptimizationLevel: level, externalData,
  });
  externalData.length = 0; // the caller's copy is no longer needed; let GC take it
  (globalThis as { gc?: () => void }).gc?.();
  const afterCreate = status('VmRSS');
  await session.run({ x: new ort.Tensor('float32', new Float32Array(D).fill(1), [1, D]) });
  const afterRun = status('VmRSS');
  console.log(JSON.stringify({ shardMiB: bytes / 2 ** 20, emptyMiB: empty, baseMiB: base, afterCreateMiB: afterCreate, afterRunMiB: afterRun, peakMiB: status('VmHWM') }));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return measure(args[1]!, args[2] as 'all' | 'disabled');
  const mib = args.includes('--mib') ? Number(args[args.indexOf('--mib') + 1]) : 512;
  const layers = Math.max(1, Math.round((mib * 2 ** 20) / (4 * D * D)));
  const root = mkdtempSync(join(tmpdir(), 'vi-fp16-mem-'));
  try {
    console.log(`${layers} MatMul weights [${D}, ${D}], ${(layers * 4 * D * D) / 2 ** 20} MiB in float32; onnxruntime-node ${ort.env.versions.common}, CPU EP`);
    for (const precision of ['float32', 'float16'] as const) {
      const dir = join(root, precision);
      execFileSync('mkdir', ['-p', dir]);
      build(dir, precision, layers);
      for (const level of ['all', 'disabled'] as const) {
        const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', process.argv[1]!, '--child', dir, level], { encoding: 'utf8' });
        const r = JSON.parse(out.trim().split('\n').at(-1)!);
        const f = (x: number) => `${x.toFixed(0)} MiB`;
        // Above the process before it read any model byte: what the session (and any copy still alive) holds.
        console.log(`${precision} weights, optimisation ${level}: shards ${f(r.shardMiB)}; above the empty process: ` +
          `after session creation +${f(r.afterCreateMiB - r.emptyMiB)}, after one run +${f(r.afterRunMiB - r.emptyMiB)}, peak +${f(r.peakMiB - r.emptyMiB)}`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
