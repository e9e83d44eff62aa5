// What the host receives per denoising step so a job survives a lost tab (every rank's checkpoint,
// on its bulk link), against what each tab sends on the mesh in the same step, at VideoCrafter2's
// full size: the UNet plan of the published config (compiled from its shapes alone, no weights),
// 320×512 (latent 40×64), CFG batch 2, Video-Infinity's window 8 / 16 global frames, fp32, and a
// real DPM-Solver++ 2M checkpoint in the engine's wire form. Prints, per world size W, each tab's
// checkpoint and mesh bytes and the share, and the host's inbound total; pure arithmetic plus
// one encoded checkpoint per clip length (no tabs, no network).
//
//   npm run bench:host-inbound -- [--frames 2300] [--tabs 2,4,8]
import { UPSTREAM_DUAL_SCOPE } from '../src/engine/dual-scope.js';
import { encodeClipState, type JobParams } from '../src/engine/job-state.js';
import { partitionFrames } from '../src/engine/partition.js';
import { syntheticClipState } from '../src/engine/testing/clip-states.js';
import { clipLayout } from '../src/engine/unet-call-inputs.js';
import { compileUNet } from '../src/model/compile/compile-model.js';
import { Program } from '../src/model/compile/graph.js';
import { WholeScope } from '../src/model/compile/frame-scope.js';
import { buildUNet } from '../src/model/compile/unet.js';
import { parseUNetConfig } from '../src/model/config.js';
import { exchangeBytesPerCall } from '../src/model/plan-traffic.js';
import type { TensorEntry, TensorReader } from '../src/model/safetensors.js';
import { PUBLISHED_PRESETS } from '../src/model/testing/published-presets.js';
import { RecordingWeights } from '../src/model/testing/recording-weights.js';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1]! : d);
const TOTAL = Number(opt('frames', '2300'));
const TABS = opt('tabs', '2,4,8').split(',').map(Number);
const LATENT = { channels: 4, height: 40, width: 64 }; // 320×512 through the VAE's ×8
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** The full-size plan from the config's shapes: a reader that knows every weight's shape and never reads a value. */
function fullSizePlan() {
  const cfg = parseUNetConfig(PUBLISHED_PRESETS.videocrafter2.unetConfig);
  const rec = new RecordingWeights(() => new Float32Array(0), 'linear');
  rec.keepValues = false;
  const c = { P: new Program('record'), W: rec, batch: 2 };
  const shape = { height: LATENT.height, width: LATENT.width, textTokens: 77 };
  buildUNet(c, new WholeScope(c, 'F'), cfg, shape);
  const entries = new Map<string, TensorEntry>([...rec.shapes].map(([name, s]) => [name, { name, dtype: 'F32', shape: s, begin: 0, end: 0 } as TensorEntry]));
  const reader: TensorReader = { label: 'shapes only', entries, has: (k) => entries.has(k), entry: (k) => entries.get(k)!, float32: () => new Float32Array(0) };
  return compileUNet(cfg, reader, shape).plan;
}

function main(): void {
  const plan = fullSizePlan();
  const perFrame = LATENT.channels * LATENT.height * LATENT.width;
  const job: JobParams = {
    jobId: 1, totalFrames: TOTAL, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'x' }] }, seed: 1, steps: 30, guidanceScale: 12,
    sampler: { kind: 'dpm-solver++-2m', algorithmType: 'dpmsolver++' }, dualScope: UPSTREAM_DUAL_SCOPE, fps: 24, partition: null,
  };
  const checkpointBytes = new Map<number, number>();
  const checkpointOf = (frames: number) => {
    if (!checkpointBytes.has(frames)) checkpointBytes.set(frames, encodeClipState(syntheticClipState(job, 0, frames, 2, perFrame)).byteLength);
    return checkpointBytes.get(frames)!;
  };
  console.log(`VideoCrafter2 plan at 320×512: ${plan.segments.length} segments, ${plan.exchangePoints.length} exchange points; ${TOTAL} frames; checkpoint after step 2 of DPM-Solver++ 2M`);
  console.log('  W  frames/tab  mesh sent/tab  checkpoint/tab  share   host inbound (all tabs)  / busiest tab\'s mesh');
  for (const W of TABS) {
    const minClip = Math.max(UPSTREAM_DUAL_SCOPE.window, plan.tconvHalo);
    const ranges = partitionFrames(TOTAL, W, minClip).ranges;
    const perRank = ranges.map((r) => {
      const layout = clipLayout(r, TOTAL, UPSTREAM_DUAL_SCOPE, plan.tconvHalo);
      const t = exchangeBytesPerCall(plan, { nSend: layout.sendLocalFrames.length, contextRows: layout.contextColumns.length });
      return { mesh: Object.values(t).reduce((a, k) => a + k.sentBytes, 0), checkpoint: checkpointOf(r.end - r.start), frames: r.end - r.start };
    });
    const busiest = Math.max(...perRank.map((r) => r.mesh));
    const inbound = perRank.reduce((a, r) => a + r.checkpoint, 0);
    const mid = perRank[Math.floor(W / 2)]!;
    const share = (100 * mid.checkpoint) / mid.mesh;
    console.log(`  ${String(W).padStart(1)}  ${String(mid.frames).padStart(10)}  ${mb(mid.mesh).padStart(13)}  ${mb(mid.checkpoint).padStart(14)}  ${share.toFixed(1).padStart(4)} %  ${mb(inbound).padStart(23)}  ${((100 * inbound) / busiest).toFixed(1).padStart(5)} %`);
  }
}

main();
