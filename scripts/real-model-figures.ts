// `npx tsx scripts/real-model-figures.ts PACKAGE [--frames F] [--threads T]`
// Figures of an imported full-size package (docs/real-model.md): segment and exchange-point counts,
// the bytes one rank sends and receives per step by exchange kind (middle rank of three clips, with
// Video-Infinity's window 8 / 16 global frames), and one whole-graph UNet call on onnxruntime-node
// (CPU) at the package's latent size on the smallest legal clip: session load time, run time, peak
// memory. The call's inputs are seeded noise; only the cost is measured.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { UPSTREAM_DUAL_SCOPE } from '../src/engine/dual-scope.js';
import { clipLayout } from '../src/engine/unet-call-inputs.js';
import { exchangeBytesPerCall } from '../src/model/plan-traffic.js';
import type { SegmentPlan } from '../src/model/segment-plan.js';
import { prng } from '../src/testing/prng.js';

const peakRssMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const pkg = args[0];
  if (!pkg) throw new Error('usage: npx tsx scripts/real-model-figures.ts PACKAGE [--frames F] [--threads T]');
  const opt = (k: string, d: number) => (args.includes(`--${k}`) ? Number(args[args.indexOf(`--${k}`) + 1]) : d);
  const plan: SegmentPlan = JSON.parse(readFileSync(join(pkg, 'onnx', 'segment-plan.json'), 'utf8'));
  const params = UPSTREAM_DUAL_SCOPE;
  // A clip of a multi-rank job needs max(p, halo) frames (clipLayout); that is the smallest legal clip.
  const smallest = Math.max(params.window, plan.tconvHalo);
  const F = opt('frames', smallest);
  const counts = plan.exchangePoints.reduce<Record<string, number>>((a, p) => ({ ...a, [p.kind]: (a[p.kind] ?? 0) + 1 }), {});
  console.log(`plan: batch ${plan.batch}, latent [${plan.latent.channels}, ${plan.latent.height}, ${plan.latent.width}], ${plan.segments.length} segments, ` +
    `${plan.exchangePoints.length} exchange points ${JSON.stringify(counts)}`);
  for (const frames of [...new Set([smallest, 24])]) {
    const layout = clipLayout({ start: frames, end: 2 * frames }, 3 * frames, params, plan.tconvHalo);
    const t = exchangeBytesPerCall(plan, { nSend: layout.sendLocalFrames.length, contextRows: layout.contextColumns.length });
    const total = Object.values(t).reduce((a, k) => a + k.sentBytes, 0);
    console.log(`middle rank of 3 clips of ${frames} frames (p ${params.window}, topK ${params.topK}: n_send ${layout.sendLocalFrames.length}, context ${layout.contextColumns.length}), per step:`);
    for (const [kind, k] of Object.entries(t)) console.log(`  ${kind.padEnd(9)} ${String(k.points).padStart(3)} points  sent ${mb(k.sentBytes).padStart(10)}  received ${mb(k.receivedBytes).padStart(10)}`);
    console.log(`  total sent ${mb(total)}`);
  }

  const threads = opt('threads', 2);
  const t0 = Date.now();
  const session = await ort.InferenceSession.create(join(pkg, plan.whole.file), { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 });
  const loadS = (Date.now() - t0) / 1000;
  console.log(`whole graph loaded in ${loadS.toFixed(1)} s, peak memory so far ${peakRssMiB().toFixed(0)} MiB`);
  const r = prng(1);
  const { channels: C, height: H, width: W } = plan.latent;
  const B = plan.batch;
  const ehsShape = plan.whole.inputs.find((i) => i.name === 'encoder_hidden_states')!.shape;
  const L = Number(ehsShape[1]);
  const D = Number(ehsShape[2]);
  const feeds: Record<string, ort.Tensor> = {
    sample: new ort.Tensor('float32', Float32Array.from({ length: B * C * F * H * W }, () => 2 * r() - 1), [B, C, F, H, W]),
    timestep: new ort.Tensor('float32', Float32Array.from([999]), [1]),
    encoder_hidden_states: new ort.Tensor('float32', Float32Array.from({ length: B * F * L * D }, () => 2 * r() - 1), [B * F, L, D]),
    attn_bias: new ort.Tensor('float32', new Float32Array(F * (F + Math.min(params.topK, F))), [F, F + Math.min(params.topK, F)]),
    global_frame_indices: new ort.Tensor('int64', BigInt64Array.from({ length: Math.min(params.topK, F) }, (_, k) => BigInt(k)), [Math.min(params.topK, F)]),
  };
  if (plan.whole.inputs.some((i) => i.name === 'fps')) feeds.fps = new ort.Tensor('float32', Float32Array.from([24]), [1]);
  const t1 = Date.now();
  const out = await session.run(feeds);
  const runS = (Date.now() - t1) / 1000;
  const noise = out.noise_pred!.data as Float32Array;
  let finite = 0;
  for (const v of noise) if (Number.isFinite(v)) finite++;
  console.log(`one UNet call, whole graph, B ${B} × F ${F} frames at ${8 * H}×${8 * W} px (latent ${H}×${W}), ${threads} threads: ${runS.toFixed(1)} s; ` +
    `noise_pred [${out.noise_pred!.dims}] ${finite === noise.length ? 'all finite' : `${noise.length - finite} non-finite`}; peak memory ${peakRssMiB().toFixed(0)} MiB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
