import { describe, expect, it } from 'vitest';
import type { RenderTask } from '../protocol.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';
import type { EngineHandle } from './engine-handle.js';
import { RankRunner, WORKER_GRAPHS, type RankReports } from './rank-runner.js';

const task = (jobId: number): RenderTask => ({
  kind: 'render', packageUrl: '/models/tiny/', export: { codec: 'vp8', scale: 1 },
  job: {
    jobId, totalFrames: 16, promptSchedule: { entries: [{ fromFrame: 0, prompt: 'a red circle' }] }, seed: 1, steps: 2, guidanceScale: 3,
    sampler: { kind: 'ddim', eta: 0 }, dualScope: { window: 4, topK: 2, phaseTimestep: 500, phaseBias: 0 }, fps: 8, partition: { totalFrames: 16, ranges: [{ start: 0, end: 8 }, { start: 8, end: 16 }] },
  },
});

/** An engine whose renders end only when the test says (a cancelled render ends a while after the cancel). */
function slowEngine() {
  const ends: (() => void)[] = [];
  const calls = { load: 0, render: 0, inputs: [] as { promptEmbeddings: Uint8Array }[] };
  const engine = {
    load: async () => {
      calls.load++;
      return { info: { provider: 'wasm', loadMs: 1 }, fallbackReason: undefined };
    },
    engine: {
      render: (input: { promptEmbeddings: Uint8Array }) => {
        calls.render++;
        calls.inputs.push(input);
        return new Promise((_, reject) => ends.push(() => reject(Object.assign(new Error('render cancelled'), { code: 'aborted' }))));
      },
      cancel: async () => undefined,
    },
  };
  return { handle: engine as unknown as EngineHandle, calls, endRender: () => ends.shift()?.() };
}

const mesh = { rank: 1, worldSize: 2 } as unknown as MeshCollective;
const reports: RankReports = { engine: () => undefined, checkpoint: () => undefined, step: () => undefined, clip: () => undefined };
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('a rank\'s run: the host\'s cancel stops it', () => {
  it('a cancel that arrives while the run still waits for the previous one to end stops it before it renders', async () => {
    const { handle, calls, endRender } = slowEngine();
    const job = new RankRunner(handle, WORKER_GRAPHS);
    const first = job.run(task(1), mesh, reports, { promptEmbeddings: new Uint8Array(4) });
    await settle();
    expect(job.state).toMatchObject({ phase: 'rendering', jobId: 1 });
    job.cancel('restarting without a lost member');
    const second = job.run(task(2), mesh, reports, { promptEmbeddings: new Uint8Array(4) }); // the restart's start, before the first render ended
    job.cancel('the restarted job failed too');
    endRender();
    await first;
    await settle();
    expect(calls.render).toBe(1);
    expect(job.state).toMatchObject({ phase: 'cancelled', jobId: 2, error: 'cancelled by the host: the restarted job failed too' });
    await second;
  });

  it("a worker tab's run waits for the host's prompt embeddings (its job's, its rank's) and renders with them", async () => {
    const { handle, calls, endRender } = slowEngine();
    const job = new RankRunner(handle, WORKER_GRAPHS);
    const run = job.run(task(7), mesh, reports);
    await settle();
    expect(job.state.phase).toBe('rendering'); // the engine is loaded; the run waits for its prompts
    expect(calls.render).toBe(0);
    job.acceptBlob('promptEmbeddings', 6, 1, new Uint8Array([1])); // an earlier job's
    job.acceptBlob('promptEmbeddings', 7, 0, new Uint8Array([2])); // another rank's
    await settle();
    expect(calls.render).toBe(0);
    job.acceptBlob('promptEmbeddings', 7, 1, new Uint8Array([3]));
    await settle();
    expect(calls.render).toBe(1);
    expect([...calls.inputs[0]!.promptEmbeddings]).toEqual([3]);
    job.cancel('done');
    endRender();
    await run;
  });
});
