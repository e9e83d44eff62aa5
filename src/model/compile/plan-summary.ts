// A stable text summary of a SegmentPlan for "process replay" (a refactor must not change it):
// segments with their inputs, outputs and op counts, and the exchange points. Tests diff it against
// a committed file, so any refactor that changes the compiled program shows up in review.
import type { SegmentPlan } from '../segment-plan.js';

const shape = (s: (number | string)[]) => `[${s.join(',')}]`;

export function planSummary(plan: SegmentPlan): string {
  const lines: string[] = [];
  lines.push(`segment plan v${plan.version}: batch ${plan.batch}, latent ${shape([plan.latent.channels, plan.latent.height, plan.latent.width])}, tconv halo ${plan.tconvHalo}`);
  lines.push(`call inputs: ${plan.callInputs.map((c) => `${c.name}${shape(c.shape)}`).join(' ')}`);
  lines.push(`whole graph: ${plan.whole.inputs.map((c) => c.name).join(',')} -> ${plan.whole.outputs.map((c) => c.name).join(',')}; ops ${JSON.stringify(plan.whole.opCounts)}`);
  lines.push(`exchange points (${plan.exchangePoints.length}):`);
  for (const p of plan.exchangePoints) lines.push(`  ${p.kind.padEnd(9)} ${p.id}`);
  lines.push(`segments (${plan.segments.length}):`);
  for (const s of plan.segments) {
    const ins = s.inputs.map((i) => `${i.name}${shape(i.shape)}<${i.source.kind === 'tensor' ? `s${i.source.segment}` : i.source.kind}`);
    const outs = s.outputs.map((o) => `${o.name}${shape(o.shape)}>${o.role === 'keep' ? `s${o.consumers.join('/s')}` : o.role}`);
    const ops = Object.values(s.opCounts).reduce((a, b) => a + b, 0);
    lines.push(`  #${s.index} ops ${ops}`);
    lines.push(`    in  ${ins.join(' ')}`);
    lines.push(`    out ${outs.join(' ')}`);
    if (s.exchangesAfter.length) lines.push(`    then ${s.exchangesAfter.join(' + ')}`);
  }
  return lines.join('\n') + '\n';
}
