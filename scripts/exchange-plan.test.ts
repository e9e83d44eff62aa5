import { describe, expect, it } from 'vitest';
import { EXCHANGE_OPTION_DEFAULTS } from '../src/engine/clip-exchange-mode.js';
import { jobSteps, loadExchangePlan, modePattern, roomPlaces, roomRoles } from './exchange-plan.js';

const tiny = loadExchangePlan(new URL('../public/models/vi-shapes-tiny', import.meta.url).pathname);

describe('bench:exchange modes and rooms', () => {
  it('maps the dashboard names to the engine rules and option defaults', () => {
    expect(modePattern('exact')).toMatchObject({ rule: 'exact', precision: 'fp32', cfgSplit: false });
    expect(modePattern('exact-fp16')).toMatchObject({ rule: 'exact', precision: 'fp16' });
    expect(modePattern('sparse-global')).toMatchObject({ rule: 'sparse-global', precision: 'fp32', globalEvery: EXCHANGE_OPTION_DEFAULTS.globalEvery });
    expect(modePattern('sparse-global-fp16')).toMatchObject({ rule: 'sparse-global', precision: 'fp16' });
    expect(modePattern('stale')).toMatchObject({ rule: 'stale', warmupSteps: EXCHANGE_OPTION_DEFAULTS.warmupSteps, staleStats: EXCHANGE_OPTION_DEFAULTS.staleStats });
    expect(modePattern('cfg-split')).toMatchObject({ rule: 'exact', precision: 'fp32', cfgSplit: true });
    expect(modePattern('cfg-split+sparse-global-fp16')).toMatchObject({ rule: 'sparse-global', precision: 'fp16', cfgSplit: true });
    expect(() => modePattern('fast')).toThrow(/unknown exchange mode/);
    expect(() => modePattern('cfg-split+nope')).toThrow(/unknown exchange mode/);
  });

  it("a job's local phase starts at the first DDIM timestep below T_phase", () => {
    const j = jobSteps(tiny, 30);
    expect(j.timesteps).toHaveLength(30);
    expect(j.firstLocalStep).toBeGreaterThan(0);
    expect(j.timesteps[j.firstLocalStep]!).toBeLessThan(tiny.phaseTimestep);
    expect(j.timesteps[j.firstLocalStep - 1]!).toBeGreaterThanOrEqual(tiny.phaseTimestep);
  });

  it('a CFG split puts each clip of 2F frames on two tabs of opposite branches, exchanging within the branch', () => {
    const roles = roomRoles(tiny, 4, 16, true);
    const clips = roomPlaces(tiny, 2, 32);
    expect(roles.map((r) => r.place)).toEqual([clips[0], clips[0], clips[1], clips[1]]);
    expect(roles.map((r) => r.group)).toEqual([[0, 2], [1, 3], [0, 2], [1, 3]]);
    expect(roles.map((r) => r.partner)).toEqual([1, 0, 3, 2]);
    // Without a split: one clip of F frames per tab, no groups (negative control for the layout above).
    const plain = roomRoles(tiny, 4, 16, false);
    expect(plain.map((r) => r.place)).toEqual(roomPlaces(tiny, 4, 16));
    expect(plain.every((r) => r.group === undefined && r.partner === undefined)).toBe(true);
    expect(() => roomRoles(tiny, 3, 16, true)).toThrow(/even number/);
  });
});
