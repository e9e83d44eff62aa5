// `npm run plan-check -- --model DIR [--limits NAME|FILE] [--frames F] [--window P --top-k K]`
// The memory plan of a package offline (src/model/memory-plan.ts): per segment the largest single
// buffer and the estimated live bytes at a clip of F frames (default: the smallest legal clip), then
// for each limit set (named in src/model/memory-plan-limits.ts, or a JSON file of MemoryLimits fields;
// default: all named sets) the largest clip per tab that fits, or the one limit that stops the model.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { clipDims, formatBytes, largestClip, modelBytes, segmentMemory, type MemoryLimits } from '../src/model/memory-plan.js';
import { NAMED_LIMITS, parseLimits } from '../src/model/memory-plan-limits.js';
import { validateSegmentPlan, type SegmentPlan } from '../src/model/segment-plan.js';

function args(argv: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (!k.startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument '${k}'`);
    o[k.slice(2)] = argv[++i]!;
  }
  return o;
}

function limitSets(spec: string | undefined): MemoryLimits[] {
  if (spec === undefined) return Object.values(NAMED_LIMITS);
  return spec.split(',').map((s) => {
    const named = NAMED_LIMITS[s];
    if (named) return named;
    if (existsSync(s)) return parseLimits(JSON.parse(readFileSync(s, 'utf8')), s);
    throw new Error(`--limits ${s}: neither a named set (${Object.keys(NAMED_LIMITS).join(', ')}) nor a file`);
  });
}

function main(): number {
  const o = args(process.argv.slice(2));
  const dir = o.model;
  if (!dir) {
    console.error('usage: npm run plan-check -- --model DIR [--limits NAME|FILE[,…]] [--frames F] [--window P] [--top-k K]');
    return 2;
  }
  const plan = validateSegmentPlan(JSON.parse(readFileSync(join(dir, 'onnx', 'segment-plan.json'), 'utf8')) as SegmentPlan);
  // Video-Infinity's dual-scope settings by default: window p = 8, 16 global frames.
  const window = Number(o.window ?? 8);
  const topK = Number(o['top-k'] ?? 16);
  const minFrames = Math.max(window, plan.tconvHalo);
  const frames = Number(o.frames ?? minFrames);
  const model = modelBytes(plan, (p) => (existsSync(join(dir, p)) ? statSync(join(dir, p)).size : undefined));
  console.log(`${dir}: ${plan.segments.length} segments, batch ${plan.batch}, latent [${plan.latent.channels}, ${plan.latent.height}, ${plan.latent.width}]; ` +
    `weights ${formatBytes(model.weightBytes)} (largest shard ${formatBytes(model.largestShardBytes)}); window ${window}, top-k ${topK}, smallest legal clip ${minFrames} frames`);
  const segs = segmentMemory(plan, clipDims(frames, window, topK));
  console.log(`\nper segment at F = ${frames} (fp32; live = kept + inputs/outputs + 2 × largest internal buffer):`);
  console.log('  seg  largest buffer  live (est.)  largest is');
  for (const s of segs) console.log(`  ${String(s.index).padStart(3)}  ${formatBytes(s.largestBuffer).padStart(14)}  ${formatBytes(s.peakBytes).padStart(11)}  ${s.largestWhat}`);
  const top = segs.reduce((a, b) => (b.largestBuffer > a.largestBuffer ? b : a));
  console.log(`  largest buffer: segment ${top.index}, ${formatBytes(top.largestBuffer)} (${top.largestWhat}); largest live set ${formatBytes(Math.max(...segs.map((s) => s.peakBytes)))}`);
  console.log('\nlargest clip per tab:');
  for (const limits of limitSets(o.limits)) {
    const fit = largestClip(plan, model, limits, { minFrames, window, topK });
    const verdict = fit.fits ? `${fit.maxFrames}${fit.capped ? '+' : ''} frames (then ${fit.limitedBy})` : `none: ${fit.reason}`;
    console.log(`  ${limits.name.padEnd(15)} ${verdict}\n  ${''.padEnd(15)} [${limits.source}]`);
  }
  return 0;
}

try {
  process.exit(main());
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
