import { describe, expect, it, vi } from 'vitest';
import { decodeClipState, encodeClipState } from '../../engine/job-state.js';
import { syntheticClipState } from '../../engine/testing/clip-states.js';
import type { BulkTag } from '../../net/bulk-link.js';
import type { RenderTask, StartMessage } from '../protocol.js';
import type { HostService } from '../services/host-service.js';
import { inProcessKeepers } from './checkpoint-keeper.js';
import type { JobMember } from './job-members.js';
import type { HostBlobs, RankRunner } from './rank-runner.js';
import { RenderAttempt, THIS_TAB, type RenderPlan } from './render-attempt.js';
import { IDLE, transition, type RenderEvent, type RenderMachine } from './render-machine.js';
import type { RenderPersistence } from './render-persistence.js';
import { buildRenderTask, type ModelFacts } from './render-spec.js';

const facts = {
  manifest: { defaults: { local_window_p: 4, global_top_k: 4, phase_t: 800, phase_bias: 10 }, frame_rate: 8, latent: { channels: 2, height: 2, width: 2 } },
  minClipFrames: 4,
} as unknown as ModelFacts;
const promptEmbeddings = Uint8Array.of(9, 8, 7);
const plan: RenderPlan = {
  facts, codec: 'vp8', choice: 'even', promptEmbeddings,
  settings: { schedule: [{ fromFrame: 0, prompt: 'a red circle' }], totalFrames: 16, steps: 4, guidanceScale: 3, seed: 5, sampler: 'dpm++2m', exportScale: 1 },
};
const PER_FRAME = 8;
const ready = { phase: 'ready', backend: 'wasm', loadMs: 1 } as const;
const worker = (n: number): JobMember => ({ peerId: `p${n}`, name: `w${n}`, engine: ready });

/** An attempt wired to the real render machine, a fake host and runner, and the in-process checkpoint keeper. */
function harness(mode: 'mesh' | 'alone', members: readonly JobMember[], renderPlan: RenderPlan = plan) {
  const cfgSplit = renderPlan.settings.cfgSplit === true;
  let state: RenderMachine = transition(IDLE, { type: 'start', renderJobId: 7, totalFrames: 16, steps: 4, computeHere: mode === 'alone', cfgSplit, now: 0 }).state;
  const events: RenderEvent[] = [];
  const started: StartMessage['task'][] = [];
  const blobs: { peerId: string; tag: BulkTag; bytes: Uint8Array }[] = [];
  const host = {
    startJob: vi.fn(async (task: StartMessage['task']) => (started.push(task), { meshJobId: 3, kind: 'render', roster: [], claimed: [0, 1], status: 'running' })),
    sendBlob: vi.fn(async (peerId: string, tag: BulkTag, bytes: Uint8Array) => void blobs.push({ peerId, tag, bytes })),
    mesh: null,
    finishJob: vi.fn(),
    cancel: vi.fn(),
    noteRefused: vi.fn(),
  };
  const runs: { task: RenderTask; mesh: unknown; given: HostBlobs }[] = [];
  const runner = { run: vi.fn(async (task: RenderTask, mesh: unknown, _r: unknown, given: HostBlobs) => void runs.push({ task, mesh, given })), cancel: vi.fn() };
  const keepers = inProcessKeepers();
  const attempt = new RenderAttempt(
    {
      host: host as unknown as HostService, runner: runner as unknown as RankRunner, readiness: {} as never, persistence: { save: vi.fn() } as unknown as RenderPersistence,
      keepers: () => keepers, packageUrl: '/models/tiny/',
      dispatch: (e) => (events.push(e), (state = transition(state, e).state)), view: () => state.view,
    },
    7, mode, members, renderPlan,
  );
  return { attempt, events, started, blobs, runs, keepers, host, view: () => state.view };
}

describe('one render attempt', () => {
  it('a first mesh attempt shares the frames, shows its ranks, starts the members\' job and knows its id', async () => {
    const h = harness('mesh', [worker(0), worker(1)]);
    await h.attempt.start(null);
    expect(h.view()).toMatchObject({ phase: 'running', mode: 'mesh', partitionBy: 'even' });
    expect(h.view().ranks.map((r) => [r.name, r.range])).toEqual([['w0', { start: 0, end: 8 }], ['w1', { start: 8, end: 16 }]]);
    expect(h.started).toHaveLength(1);
    expect(h.started[0]).toMatchObject({ kind: 'render', job: { jobId: 7, totalFrames: 16, partition: { ranges: [{ start: 0, end: 8 }, { start: 8, end: 16 }] } } });
    expect(h.attempt.jobId).toBe(3);
    // each worker gets the job's prompt embeddings, and nothing to resume
    expect(h.blobs.map((b) => [b.peerId, b.tag, [...b.bytes]])).toEqual([
      ['p0', { kind: 'promptEmbeddings', jobId: 7, step: 0, rank: 0 }, [9, 8, 7]],
      ['p1', { kind: 'promptEmbeddings', jobId: 7, step: 0, rank: 1 }, [9, 8, 7]],
    ]);
  });

  it('a restart re-cuts the common checkpoints for its own partition and sends each worker its state', async () => {
    const h = harness('mesh', [worker(0), worker(1)]);
    const task = buildRenderTask(1, '/models/tiny/', facts, plan.settings, 'vp8', 1); // the same video, one rank, after step 2
    const keeper = h.keepers.open(task.job, task.job.partition.ranges, PER_FRAME);
    await keeper.add(0, 2, encodeClipState(syntheticClipState(task.job, 0, 16, 2, PER_FRAME)));
    await h.attempt.start({ keeper, step: 2 });
    expect(h.started[0]).toMatchObject({ resumeFromStep: 2 });
    const resumes = h.blobs.filter((b) => b.tag.kind === 'resume');
    expect(resumes.map((b) => [b.peerId, b.tag])).toEqual([
      ['p0', { kind: 'resume', jobId: 7, step: 2, rank: 0 }],
      ['p1', { kind: 'resume', jobId: 7, step: 2, rank: 1 }],
    ]);
    expect(resumes.map((b) => decodeClipState(b.bytes, task.job, PER_FRAME).range)).toEqual([{ start: 0, end: 8 }, { start: 8, end: 16 }]);
    expect(h.view().ranks.every((r) => r.stepsDone === 2)).toBe(true);
    expect(h.attempt.resumePoint()?.step).toBe(2); // a second loss before the next step resumes here too
  });

  it('alone: this tab runs the whole video as rank 0 of no mesh, from the resume state when there is one', async () => {
    const h = harness('alone', [{ peerId: null, name: THIS_TAB, engine: ready }]);
    await h.attempt.start(null);
    expect(h.view()).toMatchObject({ phase: 'running', mode: 'alone', ranks: [{ rank: 0, name: THIS_TAB, range: { start: 0, end: 16 } }] });
    await h.attempt.ownRun;
    expect(h.runs).toHaveLength(1);
    expect(h.runs[0]).toMatchObject({ mesh: null, task: { job: { totalFrames: 16, partition: { ranges: [{ start: 0, end: 16 }] } } } });
    expect(h.runs[0]!.given.resume).toBeUndefined();
    expect([...h.runs[0]!.given.promptEmbeddings!]).toEqual([9, 8, 7]);
  });

  it('an attempt the job no longer wants (cancelled while it started) starts nothing', async () => {
    const h = harness('mesh', [worker(0), worker(1)]);
    const task = buildRenderTask(1, '/models/tiny/', facts, plan.settings, 'vp8', 1);
    const keeper = h.keepers.open(task.job, task.job.partition.ranges, PER_FRAME);
    await keeper.add(0, 2, encodeClipState(syntheticClipState(task.job, 0, 16, 2, PER_FRAME)));
    const starting = h.attempt.start({ keeper, step: 2 });
    h.events.length = 0;
    // the user cancels while the worker re-cuts
    (h.attempt as unknown as { deps: { dispatch: (e: RenderEvent) => void } }).deps.dispatch({ type: 'cancel', reason: 'stop' });
    await starting;
    expect(h.started).toEqual([]);
    expect(h.blobs).toEqual([]);
  });
});

describe('a guidance-split attempt', () => {
  const splitPlan: RenderPlan = { ...plan, settings: { ...plan.settings, cfgSplit: true } };

  it('gives each pair of ranks one clip, and each rank its clip\'s resume state', async () => {
    const h = harness('mesh', [worker(0), worker(1), worker(2), worker(3)], splitPlan);
    const task = buildRenderTask(1, '/models/tiny/', facts, splitPlan.settings, 'vp8', 1); // the same video on one pair, after step 2
    const keeper = h.keepers.open(task.job, task.job.partition.ranges, PER_FRAME);
    await keeper.add(0, 2, encodeClipState(syntheticClipState(task.job, 0, 16, 2, PER_FRAME)));
    await h.attempt.start({ keeper, step: 2 });
    expect(h.started[0]).toMatchObject({ job: { cfgSplit: true, partition: { ranges: [{ start: 0, end: 8 }, { start: 8, end: 16 }] } } });
    expect(h.view().ranks.map((r) => r.range)).toEqual([{ start: 0, end: 8 }, { start: 0, end: 8 }, { start: 8, end: 16 }, { start: 8, end: 16 }]);
    const resumes = h.blobs.filter((b) => b.tag.kind === 'resume');
    expect(resumes.map((b) => [b.tag.rank, decodeClipState(b.bytes, task.job, PER_FRAME).range.start])).toEqual([[0, 0], [1, 0], [2, 8], [3, 8]]);
  });

  it('keeps checkpoints from the uncond rank of each pair only, one slot per clip', async () => {
    const h = harness('mesh', [worker(0), worker(1), worker(2), worker(3)], splitPlan);
    await h.attempt.start(null);
    const job = h.started[0]!.kind === 'render' ? h.started[0]!.job : null;
    const state = (start: number) => encodeClipState(syntheticClipState(job!, start, start + 8, 1, PER_FRAME));
    h.attempt.onReport('p1', { type: 'checkpoint', renderJobId: 7, rank: 1, nextStep: 1, bytes: state(0) } as never);
    h.attempt.onReport('p3', { type: 'checkpoint', renderJobId: 7, rank: 3, nextStep: 1, bytes: state(8) } as never);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.attempt.resumePoint()).toBeNull(); // the cond ranks' checkpoints are not kept
    h.attempt.onReport('p0', { type: 'checkpoint', renderJobId: 7, rank: 0, nextStep: 1, bytes: state(0) } as never);
    h.attempt.onReport('p2', { type: 'checkpoint', renderJobId: 7, rank: 2, nextStep: 1, bytes: state(8) } as never);
    await vi.waitFor(() => expect(h.attempt.resumePoint()?.step).toBe(1));
  });
});
