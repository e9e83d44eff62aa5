// `npx tsx scripts/fp16-cpu-kernels.ts [PACKAGE]` (default public/models/vi-shapes-tiny)
// Which ops of the float16-compute UNet graph ONNX Runtime's CPU EP (onnxruntime-node) has no float16
// kernel for: compiles a copy of the package with --precision fp16, lets ORT write the session's graph
// (optimisation disabled, so only its required float16 transformer runs) and counts the Casts it
// inserted and the ops they feed. docs/model-package.md §fp16.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { compileModelPackage } from '../src/model/compile/compile-model.js';
import type { SegmentPlan } from '../src/model/segment-plan.js';

interface Node { op_type: string; name: string; input: string[]; output: string[] }

async function main(): Promise<void> {
  const src = process.argv[2] ?? join(import.meta.dirname, '..', 'public', 'models', 'vi-shapes-tiny');
  const root = mkdtempSync(join(tmpdir(), 'vi-fp16-kernels-'));
  try {
    const dir = join(root, basename(src));
    cpSync(src, dir, { recursive: true });
    compileModelPackage(dir, { precision: 'float16' });
    const plan: SegmentPlan = JSON.parse(readFileSync(join(dir, 'onnx', 'segment-plan-f16.json'), 'utf8'));
    const externalData = (plan.weights ?? []).map((w) => ({ path: w.location, data: new Uint8Array(readFileSync(join(dir, w.file))) }));
    const written = join(root, 'session.onnx');
    await ort.InferenceSession.create(new Uint8Array(readFileSync(join(dir, plan.whole.file))), {
      executionProviders: ['cpu'], graphOptimizationLevel: 'disabled', optimizedModelFilePath: written, externalData,
    });
    const T = protobuf.parse(readFileSync(join(import.meta.dirname, '..', 'src', 'model', 'compile', 'onnx.proto'), 'utf8'), { keepCase: true }).root.lookupType('onnx.ModelProto');
    const nodes = (T.toObject(T.decode(readFileSync(written)), { defaults: true }) as { graph: { node: Node[] } }).graph.node;
    // Our compiler names nodes `<Op>_<k>`; any other Cast was inserted by ORT.
    const inserted = new Set(nodes.filter((n) => n.op_type === 'Cast' && !/^Cast_\d+$/.test(n.name)).flatMap((n) => n.output));
    const fed: Record<string, number> = {};
    for (const n of nodes) if (n.op_type !== 'Cast' && n.input.some((i) => inserted.has(i))) fed[n.op_type] = (fed[n.op_type] ?? 0) + 1;
    const ours = plan.whole.opCounts;
    console.log(`${plan.whole.file} (${basename(src)}), onnxruntime-node ${ort.env.versions.common} CPU EP: ${Object.values(ours).reduce((a, b) => a + b, 0)} nodes, ${ours.Cast ?? 0} Casts of ours`);
    console.log(`ORT inserted ${inserted.size} Casts; the ops they feed (run in float32 on CPU): ${JSON.stringify(fed)}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
