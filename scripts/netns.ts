// A small switched network for benchmarks: one network namespace per tab, each joined to a hub
// namespace (a Linux bridge, where the signaling server listens) by a veth pair, with a `tc tbf`
// rate limit on both ends (each tab gets its own full-duplex link of that rate, like machines on a
// switch). Needs root and iproute2. This kernel has no `netem`, so no delay is added: the links are
// rate-limited only, with the kernel's own sub-millisecond latency.
//
// Everything is named after the run (`vix<id>-…`, `vx<id>…`), created step by step and removed in
// reverse on `down()`; `down()` removes only what `up()` created, so a set-up that fails half way
// is undone too. `removeStale()` deletes namespaces of runs whose process is gone (a run killed hard).
import { execFileSync } from 'node:child_process';

export interface LinkShape {
  /** tc rate, e.g. '1gbit'. */
  rate: string;
  /** Bucket size: at 1 Gbit/s the kernel needs ≥ rate / HZ; 256 KiB covers HZ ≥ 100 with room. */
  burst: string;
  /** Longest a packet may wait in the bucket's queue before it is dropped. */
  latency: string;
}

export const GIGABIT: LinkShape = { rate: '1gbit', burst: '256kb', latency: '20ms' };

export interface NetnsLayout {
  hub: string;
  /** One namespace per tab. */
  tabs: string[];
  serverIp: string;
  tabIps: string[];
  /** Each step: the command that creates something, and the one that removes it (or null: removed with an earlier one). */
  steps: { up: string[]; down: string[] | null }[];
}

const PREFIX = 'vix';

/** The commands for `tabs` namespaces behind one hub, run id `id` (a short base-36 string). */
export function netnsLayout(id: string, tabs: number, shape: LinkShape | null): NetnsLayout {
  if (!/^[0-9a-z]{1,6}$/.test(id)) throw new Error(`netns run id must be 1-6 characters [0-9a-z], got ${JSON.stringify(id)}`);
  if (!Number.isInteger(tabs) || tabs < 1 || tabs > 200) throw new Error(`netns: tabs must be an integer in [1, 200], got ${tabs}`);
  const hub = `${PREFIX}${id}-hub`;
  const serverIp = '10.77.0.1';
  const steps: NetnsLayout['steps'] = [];
  const ip = (...a: string[]) => ['ip', ...a];
  steps.push({ up: ip('netns', 'add', hub), down: ip('netns', 'del', hub) });
  steps.push({ up: ip('-n', hub, 'link', 'set', 'lo', 'up'), down: null });
  steps.push({ up: ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge'), down: null });
  steps.push({ up: ip('-n', hub, 'addr', 'add', `${serverIp}/16`, 'dev', 'br0'), down: null });
  steps.push({ up: ip('-n', hub, 'link', 'set', 'br0', 'up'), down: null });
  const names: string[] = [];
  const ips: string[] = [];
  for (let i = 0; i < tabs; i++) {
    const ns = `${PREFIX}${id}-t${i}`;
    const hubEnd = `vx${id}h${i}`; // ≤ 15 characters (IFNAMSIZ)
    const tabEnd = `vx${id}t${i}`;
    const addr = `10.77.1.${i + 1}`;
    names.push(ns);
    ips.push(addr);
    steps.push({ up: ip('netns', 'add', ns), down: ip('netns', 'del', ns) });
    steps.push({ up: ip('-n', ns, 'link', 'set', 'lo', 'up'), down: null });
    steps.push({ up: ip('-n', hub, 'link', 'add', hubEnd, 'type', 'veth', 'peer', 'name', tabEnd, 'netns', ns), down: null }); // goes with either namespace
    steps.push({ up: ip('-n', hub, 'link', 'set', hubEnd, 'master', 'br0'), down: null });
    steps.push({ up: ip('-n', hub, 'link', 'set', hubEnd, 'up'), down: null });
    steps.push({ up: ip('-n', ns, 'addr', 'add', `${addr}/16`, 'dev', tabEnd), down: null });
    steps.push({ up: ip('-n', ns, 'link', 'set', tabEnd, 'up'), down: null });
    // Chromium gathers WebRTC host candidates only on the interface of the default route (without
    // media permissions): with no default route a tab offers none and no peer connection forms.
    steps.push({ up: ip('-n', ns, 'route', 'add', 'default', 'via', serverIp, 'dev', tabEnd), down: null });
    if (shape) {
      const tbf = ['root', 'tbf', 'rate', shape.rate, 'burst', shape.burst, 'latency', shape.latency];
      steps.push({ up: ['tc', '-n', hub, 'qdisc', 'add', 'dev', hubEnd, ...tbf], down: null }); // to the tab
      steps.push({ up: ['tc', '-n', ns, 'qdisc', 'add', 'dev', tabEnd, ...tbf], down: null }); // from the tab
    }
  }
  return { hub, tabs: names, serverIp, tabIps: ips, steps };
}

export type Exec = (argv: string[]) => void;

const realExec: Exec = (argv) => void execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });

/** Creates the layout on `up()` and removes exactly what it created on `down()` (idempotent). */
export class NetnsNetwork {
  private readonly created: string[][] = [];

  constructor(readonly layout: NetnsLayout, private readonly exec: Exec = realExec) {}

  up(): void {
    for (const s of this.layout.steps) {
      try {
        this.exec(s.up);
      } catch (e) {
        const err = (e as { stderr?: Buffer }).stderr?.toString().trim();
        this.down();
        throw new Error(`netns set-up failed at \`${s.up.join(' ')}\`${err ? `: ${err}` : ''} (everything created so far was removed)`);
      }
      if (s.down) this.created.push(s.down);
    }
  }

  /** Removes what `up()` created, last first; every removal is tried even if one fails. Returns the failures. */
  down(): string[] {
    const failed: string[] = [];
    while (this.created.length) {
      const d = this.created.pop()!;
      try {
        this.exec(d);
      } catch {
        failed.push(d.join(' '));
      }
    }
    return failed;
  }

  /** argv that runs `argv` inside namespace `ns`. */
  static inside(ns: string, argv: string[]): string[] {
    return ['ip', 'netns', 'exec', ns, ...argv];
  }
}

/** A run id for this process (its pid in base 36), so a later run can tell a dead run's leftovers. */
export function runIdOf(pid = process.pid): string {
  return pid.toString(36);
}

/** Deletes `vix<id>-…` namespaces whose run (pid = parseInt(id, 36)) is no longer alive. Returns their names. */
export function removeStale(list: () => string[] = listNetns, alive: (pid: number) => boolean = isAlive, exec: Exec = realExec): string[] {
  const removed: string[] = [];
  for (const ns of list()) {
    const m = new RegExp(`^${PREFIX}([0-9a-z]{1,6})-(hub|t\\d+)$`).exec(ns);
    if (!m || alive(parseInt(m[1]!, 36))) continue;
    try {
      exec(['ip', 'netns', 'del', ns]);
      removed.push(ns);
    } catch {
      // already gone
    }
  }
  return removed;
}

function listNetns(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
