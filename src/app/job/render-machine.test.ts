import { describe, expect, it } from 'vitest';
import type { JobMember } from './job-members.js';
import { IDLE, transition, type RenderCommand, type RenderEvent, type RenderMachine } from './render-machine.js';
import type { RankView } from './render-view.js';

const ready = { phase: 'ready', backend: 'wasm', loadMs: 1 } as const;
const HOST: JobMember = { peerId: null, name: 'this tab (host)', engine: ready };
const w = (n: number): JobMember => ({ peerId: `p${n}`, name: `w${n}`, engine: ready });
const ranksOf = (members: readonly JobMember[], frames = 48): RankView[] =>
  members.map((m, rank) => ({ rank, name: m.name, range: { start: (rank * frames) / members.length, end: ((rank + 1) * frames) / members.length }, stepsDone: 0, clipReceived: false }));

/** Runs events in order; returns the final state and every command, in order. */
function run(events: readonly RenderEvent[], from: RenderMachine = IDLE): { state: RenderMachine; commands: RenderCommand[] } {
  let state = from;
  const commands: RenderCommand[] = [];
  for (const e of events) {
    const t = transition(state, e);
    state = t.state;
    commands.push(...t.commands);
  }
  return { state, commands };
}

const kinds = (cs: readonly RenderCommand[]) => cs.map((c) => c.kind);
const start = (computeHere = false): RenderEvent => ({ type: 'start', renderJobId: 7, totalFrames: 48, steps: 10, computeHere, now: 0 });
const membersReady = (members: readonly JobMember[], resumeStep: number | null = null, resumedSaved = false): RenderEvent => ({ type: 'members-ready', ready: members, leftOut: [], resumeStep, resumedSaved });
const running = (members: readonly JobMember[], renderJobId = 7): RenderEvent => ({ type: 'attempt-running', renderJobId, mode: members.some((m) => m.peerId) ? 'mesh' : 'alone', ranks: ranksOf(members) });
const stepsDone = (renderJobId: number, n: number, ranks: number): RenderEvent[] => Array.from({ length: ranks }, (_, rank) => ({ type: 'rank', renderJobId, rank, patch: { stepsDone: n } }));
const gone = (peerIds: readonly string[], connected: readonly string[], resumableStep: number | null, renderJobId = 7): RenderEvent => ({
  type: 'members-gone', renderJobId, gone: peerIds.map((p) => ({ peerId: p, name: `w${p.slice(1)}`, reason: 'connection closed' })), connected, resumableStep, freshId: 99,
});

/** A mesh render of `members` that reached step 3 on every rank. */
function meshAtStep3(members: readonly JobMember[]) {
  return run([start(members[0]?.peerId === null), membersReady(members), running(members), ...stepsDone(7, 3, members.length)]);
}

describe('render machine: Start', () => {
  it('starts the mesh with every ready member, in rank order', () => {
    const { state, commands } = run([start(), membersReady([w(1), w(2)])]);
    expect(state.view.phase).toBe('preparing');
    expect(commands).toEqual([{ kind: 'begin-attempt', renderJobId: 7, mode: 'mesh', members: [w(1), w(2)], resumeStep: null }]);
  });

  it('renders alone when no worker is ready and this tab computes', () => {
    expect(run([start(true), membersReady([HOST])]).commands).toEqual([{ kind: 'begin-attempt', renderJobId: 7, mode: 'alone', members: [HOST], resumeStep: null }]);
  });

  it('fails with what to do when nobody can render, and the caller hears it', () => {
    const { state, commands } = run([start(), { type: 'members-ready', ready: [], leftOut: ['w1: out of memory'], resumeStep: null, resumedSaved: false }]);
    expect(state.view).toMatchObject({ phase: 'failed', leftOut: ['w1: out of memory'], error: expect.stringContaining('no worker could load the model') });
    expect(commands.at(-1)).toEqual({ kind: 'settle', error: state.view.error });
    expect(run([start(), membersReady([])]).state.view.error).toMatch(/no workers are connected/);
  });

  it('a saved render resumes where it was saved, and says so', () => {
    const { state, commands } = run([start(), membersReady([w(1)], 4, true)]);
    expect(commands).toEqual([expect.objectContaining({ kind: 'begin-attempt', resumeStep: 4 })]);
    expect(state.view.restarts).toEqual(['resumed the unfinished render saved in this browser after step 4/10']);
  });

  it('shows who it waits for, and only changes when that does', () => {
    const a = run([start(), { type: 'waiting', waitingFor: ['w1 (loading the model 40%)'] }]).state;
    expect(a.view.waitingFor).toEqual(['w1 (loading the model 40%)']);
    expect(transition(a, { type: 'waiting', waitingFor: ['w1 (loading the model 40%)'] }).state).toBe(a);
  });
});

describe('render machine: a member lost mid-job', () => {
  it('lost before its clip arrived: stop everywhere, restart on the others from the latest common checkpoint', () => {
    const { state: at3 } = meshAtStep3([w(1), w(2), w(3)]);
    const { state, commands } = run([gone(['p2'], ['p1', 'p3'], 3)], at3);
    expect(kinds(commands)).toEqual(['disarm-loss-timer', 'stop-attempt', 'begin-attempt']);
    expect(commands[1]).toMatchObject({ how: 'cancel', reason: 'lost w2: restarting on the others' });
    expect(commands[2]).toEqual({ kind: 'begin-attempt', renderJobId: 99, mode: 'mesh', members: [w(1), w(3)], resumeStep: 3 });
    expect(state.view).toMatchObject({ phase: 'running', renderJobId: 99, ranks: [], stepStats: [] });
    expect(state.view.restarts).toEqual(['w2 (connection closed) lost at step 3/10; resumed after step 3 on 2 members']);
  });

  it('restarts from step 0 when no step had every rank\'s checkpoint', () => {
    const { state: at3 } = meshAtStep3([w(1), w(2)]);
    for (const step of [null, 0]) {
      const { state, commands } = run([gone(['p1'], ['p2'], step)], at3);
      expect(commands.at(-1)).toMatchObject({ kind: 'begin-attempt', members: [w(2)], resumeStep: null });
      expect(state.view.restarts?.at(-1)).toMatch(/restarted from step 0 on 1 member$/);
    }
  });

  it('a worker whose link closed meanwhile is left out of the restart too', () => {
    const { state: at3 } = meshAtStep3([w(1), w(2), w(3)]);
    expect(run([gone(['p2'], ['p1'], 3)], at3).commands.at(-1)).toMatchObject({ members: [w(1)] });
  });

  it('with no worker left, this tab renders the rest alone; without this tab, the job fails', () => {
    const withHost = meshAtStep3([HOST, w(1)]).state;
    expect(run([gone(['p1'], [], 3)], withHost).commands.at(-1)).toEqual({ kind: 'begin-attempt', renderJobId: 99, mode: 'alone', members: [HOST], resumeStep: 3 });
    const { state, commands } = run([gone(['p1'], [], 3)], meshAtStep3([w(1)]).state);
    expect(state.view).toMatchObject({ phase: 'failed', error: 'lost w1 (connection closed) at step 3/10: no member left to render' });
    expect(kinds(commands)).toEqual(['disarm-loss-timer', 'stop-attempt', 'settle']);
  });

  it('lost after its clip arrived: it is needed no more, the job goes on', () => {
    const at3 = meshAtStep3([w(1), w(2)]).state;
    const withClip = run([{ type: 'clip', renderJobId: 7, rank: 1 }], at3).state;
    const { state, commands } = run([gone(['p2'], ['p1'], 3)], withClip);
    expect(commands).toEqual([]);
    expect(state.view.renderJobId).toBe(7);
  });

  it('a loss-like failure with every link still open waits for the links to say who; then restarts', () => {
    const at3 = meshAtStep3([w(1), w(2)]).state;
    const failed = run([{ type: 'attempt-failed', renderJobId: 7, error: 'rank 0: lost rank 1', code: 'peer-lost', anyoneGone: false }], at3);
    expect(failed.state.view).toMatchObject({ phase: 'running', awaitingLoss: 'rank 0: lost rank 1' });
    expect(kinds(failed.commands)).toEqual(['arm-loss-timer']);
    const restarted = run([gone(['p2'], ['p1'], 3)], failed.state);
    expect(kinds(restarted.commands)).toEqual(['disarm-loss-timer', 'stop-attempt', 'begin-attempt']);
    expect(restarted.state.view.awaitingLoss).toBeUndefined();
  });

  it('…or fails when nobody\'s link closes in time', () => {
    const at3 = meshAtStep3([w(1), w(2)]).state;
    const { state, commands } = run([{ type: 'attempt-failed', renderJobId: 7, error: 'rank 0: timeout', code: 'timeout', anyoneGone: false }, { type: 'loss-timeout' }], at3);
    expect(state.view).toMatchObject({ phase: 'failed', error: "rank 0: timeout (no member's control link closed in time)" });
    expect(commands.at(-2)).toMatchObject({ kind: 'stop-attempt', how: 'fail' });
  });

  it('any other failure fails the job at once and stops it everywhere', () => {
    const at3 = meshAtStep3([HOST, w(1)]).state;
    const { state, commands } = run([{ type: 'attempt-failed', renderJobId: 7, error: 'w1: out of memory', code: 'engine', anyoneGone: false }], at3);
    expect(state.view).toMatchObject({ phase: 'failed', error: 'w1: out of memory' });
    expect(commands).toEqual([
      { kind: 'disarm-loss-timer' },
      { kind: 'stop-attempt', how: 'fail', reason: 'w1: out of memory', mode: 'mesh', hostComputes: true },
      { kind: 'settle', error: 'w1: out of memory' },
    ]);
  });
});

describe('render machine: late messages, cancel, the end', () => {
  it('reports of a replaced attempt change nothing', () => {
    const restarted = run([gone(['p2'], ['p1'], 3)], meshAtStep3([w(1), w(2)]).state).state;
    const late: RenderEvent[] = [
      { type: 'rank', renderJobId: 7, rank: 0, patch: { stepsDone: 9 } },
      { type: 'clip', renderJobId: 7, rank: 0 },
      { type: 'attempt-failed', renderJobId: 7, error: 'cancelled', code: 'peer-lost', anyoneGone: false },
      gone(['p1'], [], 3, 7),
      { type: 'attempt-running', renderJobId: 7, mode: 'mesh', ranks: ranksOf([w(1), w(2)]) },
    ];
    for (const e of late) expect(transition(restarted, e)).toEqual({ state: restarted, commands: [] });
  });

  it('every clip in: mux; the video: done, the saved copy removed, speeds noted, the caller told', () => {
    const at3 = meshAtStep3([w(1), w(2)]).state;
    const one = run([{ type: 'clip', renderJobId: 7, rank: 0 }], at3);
    expect(one.commands).toEqual([]);
    const both = run([{ type: 'clip', renderJobId: 7, rank: 1 }], one.state);
    expect(both.state.view.phase).toBe('muxing');
    expect(kinds(both.commands)).toEqual(['mux']);
    const video = { url: 'blob:x', fileName: 'v.mp4', mimeType: 'video/mp4', frames: 48, width: 64, height: 64, bytes: 10, codecString: 'avc1' };
    const done = run([{ type: 'video', video, now: 500 }], both.state);
    expect(done.state.view).toMatchObject({ phase: 'done', video, etaMs: 0, elapsedMs: 500 });
    expect(kinds(done.commands)).toEqual(['discard-saved', 'end-mesh-job', 'note-speeds', 'settle']);
    expect(done.commands.at(-1)).toEqual({ kind: 'settle' });
  });

  it('alone: the one clip muxes, no mesh job to end', () => {
    const alone = run([start(true), membersReady([HOST]), running([HOST]), { type: 'clip', renderJobId: 7, rank: 0 }]);
    expect(kinds(alone.commands)).toEqual(['begin-attempt', 'mux']);
    const video = { url: 'blob:x', fileName: 'v.mp4', mimeType: 'video/mp4', frames: 48, width: 64, height: 64, bytes: 10, codecString: 'avc1' };
    expect(kinds(run([{ type: 'video', video, now: 1 }], alone.state).commands)).toEqual(['discard-saved', 'settle']);
  });

  it('cancel stops the attempt, forgets the saved copy and tells the caller; cancel when idle does nothing', () => {
    const { state, commands } = run([{ type: 'cancel', reason: 'cancelled on the host' }], meshAtStep3([w(1)]).state);
    expect(state.view).toMatchObject({ phase: 'cancelled', error: 'cancelled on the host' });
    expect(commands).toEqual([
      { kind: 'discard-saved' },
      { kind: 'disarm-loss-timer' },
      { kind: 'stop-attempt', how: 'cancel', reason: 'cancelled on the host', mode: 'mesh', hostComputes: false },
      { kind: 'settle', error: 'cancelled: cancelled on the host' },
    ]);
    expect(transition(IDLE, { type: 'cancel', reason: 'x' })).toEqual({ state: IDLE, commands: [] });
    expect(transition(state, { type: 'fail', error: 'late', now: 1 }).state).toBe(state); // a finished job stays as it ended
  });

  it('checkpoint problems are kept, the last five', () => {
    const events: RenderEvent[] = Array.from({ length: 7 }, (_, i) => ({ type: 'problem', problem: `p${i}` }));
    expect(run(events, meshAtStep3([w(1)]).state).state.view.checkpointProblems).toEqual(['p2', 'p3', 'p4', 'p5', 'p6']);
  });
});

describe('render machine: a guidance split computes on pairs', () => {
  const splitStart = (computeHere = false): RenderEvent => ({ type: 'start', renderJobId: 7, totalFrames: 48, steps: 10, computeHere, cfgSplit: true, now: 0 });

  it('uses the even prefix of the ready members and says who idles', () => {
    const { state, commands } = run([splitStart(true), membersReady([HOST, w(1), w(2)])]);
    expect(commands).toEqual([{ kind: 'begin-attempt', renderJobId: 7, mode: 'mesh', members: [HOST, w(1)], resumeStep: null }]);
    expect(state.view.leftOut).toEqual(['w2: idle (a guidance split computes on pairs of tabs)']);
    // Control: without the split every ready member computes.
    expect(run([start(true), membersReady([HOST, w(1), w(2)])]).commands[0]).toMatchObject({ members: [HOST, w(1), w(2)] });
  });

  it('never renders alone: one computing tab is a clear failure', () => {
    const { state } = run([splitStart(true), membersReady([HOST])]);
    expect(state.view).toMatchObject({ phase: 'failed', error: 'a guidance split runs each clip on two tabs; 1 can compute' });
  });

  it('after a loss, restarts on the pairs that are left; a lone survivor fails the job', () => {
    const at3 = run([splitStart(), membersReady([w(1), w(2), w(3), w(4)]), running([w(1), w(2), w(3), w(4)]), ...stepsDone(7, 3, 4)]).state;
    const { state, commands } = run([gone(['p2'], ['p1', 'p3', 'p4'], 3)], at3);
    expect(commands[2]).toEqual({ kind: 'begin-attempt', renderJobId: 99, mode: 'mesh', members: [w(1), w(3)], resumeStep: 3 });
    expect(state.view.restarts).toEqual(['w2 (connection closed) lost at step 3/10; resumed after step 3 on 2 members (w4 idle: a guidance split computes on pairs)']);
    expect(state.cfgSplit).toBe(true);
    const pair = run([splitStart(), membersReady([w(1), w(2)]), running([w(1), w(2)]), ...stepsDone(7, 3, 2)]).state;
    expect(run([gone(['p2'], ['p1'], 3)], pair).state.view).toMatchObject({ phase: 'failed', error: 'lost w2 (connection closed) at step 3/10: a guidance split runs each clip on two tabs; 1 can compute' });
  });
});
