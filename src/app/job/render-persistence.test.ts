import { describe, expect, it } from 'vitest';
import type { ModelFacts, RenderSettings } from './render-spec.js';
import { RenderPersistence, type RenderStorage } from './render-persistence.js';
import type { SavedRender } from './saved-render.js';

const facts = { manifest: { name: 'tiny', version: '1', files: {}, unet: { weights: 'w' } } } as unknown as ModelFacts;
const settings = { totalFrames: 16, steps: 10 } as unknown as RenderSettings;

/** Storage whose writes finish only when the test says. */
function slowStorage() {
  const written: number[] = [];
  const finish: (() => void)[] = [];
  let discarded = 0;
  const storage: RenderStorage = {
    save: (r: SavedRender) => new Promise<void>((resolve) => finish.push(() => (written.push(r.step), resolve()))),
    discard: async () => void discarded++,
  };
  return { storage, written, finishOne: () => finish.shift()?.(), discards: () => discarded };
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('render persistence: the copy of a render kept in this browser', () => {
  it('steps that finish while a save writes fold into the next save: only the newest is cut and written', async () => {
    const { storage, written, finishOne } = slowStorage();
    const saved: (number | undefined)[] = [];
    const p = new RenderPersistence('/models/tiny/', { saved: (s) => saved.push(s), problem: () => undefined }, storage);
    p.begin(settings, facts, 0);
    let cuts = 0;
    const state = async () => (cuts++, new Blob([new Uint8Array(8)]));
    p.save(1, state);
    await settle();
    for (const step of [2, 3, 4, 5]) p.save(step, state); // while step 1 is still writing
    p.save(4, state); // older than what is pending: ignored
    finishOne();
    await settle();
    finishOne();
    await settle();
    expect(written).toEqual([1, 5]);
    expect(saved).toEqual([1, 5]);
    expect(cuts).toBe(2); // a recut per write, not per step
  });

  it('discard drops what was not written yet, and nothing is saved after it', async () => {
    const { storage, written, finishOne, discards } = slowStorage();
    const p = new RenderPersistence('/models/tiny/', { saved: () => undefined, problem: () => undefined }, storage);
    p.begin(settings, facts, 0);
    p.save(1, async () => new Blob([new Uint8Array(8)]));
    await settle();
    p.save(2, async () => new Blob([new Uint8Array(8)]));
    p.discard();
    p.save(3, async () => new Blob([new Uint8Array(8)]));
    finishOne();
    await settle();
    await settle();
    expect(written).toEqual([1]);
    expect(discards()).toBe(1);
  });
});
