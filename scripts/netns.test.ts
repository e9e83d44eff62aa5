import { describe, expect, it } from 'vitest';
import { GIGABIT, netnsLayout, NetnsNetwork, removeStale } from './netns.js';

describe('bench network namespaces (set-up and tear-down logic, no root needed)', () => {
  it('names fit the kernel limits and every tab gets a shaped link both ways', () => {
    const l = netnsLayout('2lw3m', 5, GIGABIT);
    expect(l.tabs).toHaveLength(5);
    expect(new Set(l.tabIps).size).toBe(5);
    const ifNames = l.steps.flatMap((s) => s.up).filter((a) => /^vx/.test(a));
    expect(ifNames.length).toBeGreaterThan(0);
    for (const n of ifNames) expect(n.length).toBeLessThanOrEqual(15);
    const tbf = l.steps.filter((s) => s.up[0] === 'tc');
    expect(tbf).toHaveLength(2 * 5);
    for (const s of tbf) expect(s.up).toEqual(expect.arrayContaining(['tbf', 'rate', '1gbit']));
    expect(netnsLayout('a', 2, null).steps.some((s) => s.up[0] === 'tc')).toBe(false);
    expect(() => netnsLayout('BAD!', 2, null)).toThrow(/run id/);
    expect(() => netnsLayout('a', 0, null)).toThrow(/tabs/);
  });

  it('down() removes every namespace up() made, last first, and nothing else', () => {
    const ran: string[] = [];
    const net = new NetnsNetwork(netnsLayout('r1', 3, GIGABIT), (a) => void ran.push(a.join(' ')));
    net.up();
    const made = ran.filter((c) => c.startsWith('ip netns add')).map((c) => c.split(' ')[3]);
    ran.length = 0;
    expect(net.down()).toEqual([]);
    expect(ran).toEqual(made.reverse().map((ns) => `ip netns del ${ns}`));
    ran.length = 0;
    net.down(); // twice: nothing left to do
    expect(ran).toEqual([]);
  });

  it('a set-up that fails half way removes what it had made and says where it failed', () => {
    const ran: string[] = [];
    const exec = (a: string[]) => {
      const c = a.join(' ');
      if (c.includes('vxr2h1 master')) throw Object.assign(new Error('boom'), { stderr: Buffer.from('RTNETLINK answers: No such device') });
      ran.push(c);
    };
    const net = new NetnsNetwork(netnsLayout('r2', 3, GIGABIT), exec);
    expect(() => net.up()).toThrow(/set-up failed at `ip -n vixr2-hub link set vxr2h1 master br0`: RTNETLINK answers: No such device/);
    const dels = ran.filter((c) => c.startsWith('ip netns del'));
    expect(dels).toEqual(['ip netns del vixr2-t1', 'ip netns del vixr2-t0', 'ip netns del vixr2-hub']);
  });

  it('removeStale deletes only namespaces of runs that are gone', () => {
    const deleted: string[] = [];
    const alive = (pid: number) => pid === parseInt('abc', 36);
    const got = removeStale(() => ['vixabc-hub', 'vixabc-t0', 'vixzz-hub', 'vixzz-t3', 'other-ns', 'vixzz-x'], alive, (a) => void deleted.push(a[3]!));
    expect(got).toEqual(['vixzz-hub', 'vixzz-t3']);
    expect(deleted).toEqual(got);
  });
});
