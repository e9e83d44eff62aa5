// `npm run budget:exchange`: bytes each tab sends per denoising step, by exchange kind, for W tabs of
// F frames, next to upstream Video-Infinity's scheme (K and V at attention, no statistics) as
// published (p 8, topK 16, fp16) and at our p, topK and precision, so the scheme's own gain reads apart
// from the parameter choices. Arithmetic only (src/model/exchange-budget.ts); no tabs, no network.
//
//   npm run budget:exchange -- [--model DIR | --model preset:videocrafter2] [--size 320x512] [--tabs 2,4,8]
//     [--frames-per-tab 24] [--precision fp32|fp16] [--global-every K --steps 30 --global-phase-steps 6] [--cfg-split]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  globalRefreshShare, ourStepBudget, UPSTREAM_PUBLISHED, upstreamStepBudget, type ClipPlace, type StepBudget, type WireOptions, type WirePrecision,
} from '../src/model/exchange-budget.js';
import { loadExchangePlan, roomPlaces, type ExchangePlan } from './exchange-plan.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] ?? d : d);

export interface BudgetRow {
  W: number;
  tab: 'end' | 'interior';
  place: ClipPlace;
  ours: StepBudget;
  upstreamEqual: StepBudget;
  upstreamPublished: StepBudget;
}

/** The end tab (rank 0) and the busiest interior tab of a W-tab room (W = 2 has no interior tab). */
export function budgetRows(x: ExchangePlan, tabs: number[], framesPerTab: number, wire: WireOptions): BudgetRow[] {
  const rows: BudgetRow[] = [];
  for (const W of tabs) {
    const clipTabs = wire.cfgSplit ? W / 2 : W; // a CFG split puts each clip on two tabs
    if (!Number.isInteger(clipTabs) || clipTabs < 1) throw new Error(`--cfg-split needs an even number of tabs, got ${W}`);
    const places = roomPlaces(x, clipTabs, framesPerTab);
    const row = (tab: BudgetRow['tab'], place: ClipPlace): BudgetRow => ({
      W, tab, place,
      ours: ourStepBudget(x.plan, place, x.p, wire),
      upstreamEqual: upstreamStepBudget(x.plan, place, { p: x.p, topK: x.topK, precision: wire.precision }),
      upstreamPublished: upstreamStepBudget(x.plan, place, UPSTREAM_PUBLISHED),
    });
    rows.push(row('end', places[0]!));
    const interior = places.slice(1, -1).map((p) => row('interior', p));
    if (interior.length) rows.push(interior.reduce((a, b) => (b.ours.total > a.ours.total ? b : a)));
  }
  return rows;
}

export const mb = (b: number) => (b / 1e6).toFixed(b >= 1e8 ? 0 : b >= 1e6 ? 1 : 3);

export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padStart(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function main(): void {
  const source = opt('model', path.join(root, 'public', 'models', 'vi-shapes-tiny'));
  const [h, w] = opt('size', '320x512').split('x').map(Number);
  const x = loadExchangePlan(source, { height: h!, width: w! });
  const tabs = opt('tabs', '2,4,8').split(',').map(Number);
  const framesPerTab = Number(opt('frames-per-tab', '24'));
  const precision = opt('precision', 'fp32') as WirePrecision;
  if (precision !== 'fp32' && precision !== 'fp16') throw new Error(`--precision must be fp32 or fp16, got ${precision}`);
  const every = Number(opt('global-every', '1'));
  const steps = Number(opt('steps', '30'));
  const phase = Number(opt('global-phase-steps', '6'));
  const wire: WireOptions = { precision, globalShare: globalRefreshShare(steps, phase, every), cfgSplit: args.includes('--cfg-split') };
  const rows = budgetRows(x, tabs, framesPerTab, wire);
  const mode = [precision, every > 1 ? `global gather every ${every} steps after ${phase} of ${steps} (share ${wire.globalShare.toFixed(3)})` : 'global gather every step', wire.cfgSplit ? 'CFG split' : 'CFG batched'].join(', ');
  console.log(`Network budget: ${x.label}; p = ${x.p}, topK = ${x.topK}, ${framesPerTab} frames per tab; ${mode}. MB (1e6 bytes) sent per step by one tab, payload only.`);
  console.log('\nOurs, by exchange kind:');
  console.log(table(['W', 'tab', 'frames', 'own globals', 'conv halo', 'attn window', 'global gather', 'norm stats', ...(wire.cfgSplit ? ['CFG ε'] : []), 'total'],
    rows.map((r) => [String(r.W), r.tab, String(r.place.frames), String(r.place.ownedGlobal), mb(r.ours.convHalo), mb(r.ours.attentionHalo), mb(r.ours.globalGather), mb(r.ours.stats),
      ...(wire.cfgSplit ? [mb(r.ours.cfgPartner)] : []), mb(r.ours.total)])));
  console.log(`\nAgainst upstream's scheme (K and V at attention, 4-frame conv halos, no statistics, all-gather every step):`);
  console.log(table(['W', 'tab', 'upstream as published (p 8, topK 16, fp16)', `upstream at p ${x.p}, topK ${x.topK}, ${precision}`, 'ours', 'ours / upstream at equal p, topK, precision', 'ours / as published'],
    rows.map((r) => [String(r.W), r.tab, mb(r.upstreamPublished.total), mb(r.upstreamEqual.total), mb(r.ours.total),
      `${((100 * r.ours.total) / r.upstreamEqual.total).toFixed(1)} %`, `${((100 * r.ours.total) / r.upstreamPublished.total).toFixed(1)} %`])));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
