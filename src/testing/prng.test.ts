// The shared test PRNG: its stream is pinned (random test weights, inputs and contract payloads
// depend on it), and only test code imports it.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32, prng } from './prng.js';

const SRC = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('src/testing/prng', () => {
  it('gives the mulberry32 stream the tests were written against', () => {
    const w0 = mulberry32(0);
    expect([w0(), w0()]).toEqual([1144304738, 1416247]);
    const w = mulberry32(1234);
    expect([w(), w(), w()]).toEqual([314799534, 3021131492, 3877737075]);
    const f = prng(1234);
    expect([f(), f(), f()]).toEqual([314799534 / 2 ** 32, 3021131492 / 2 ** 32, 3877737075 / 2 ** 32]);
  });

  it('is imported only by tests and test support (testing/ folders, the collective contract suite)', () => {
    const importers = sources(SRC)
      .filter((f) => /from\s+['"][^'"]*testing\/prng(\.js)?['"]/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f).split('\\').join('/'));
    expect(importers.length).toBeGreaterThan(0);
    for (const f of importers) expect(f, `${f} imports src/testing/prng.ts`).toMatch(/\.test\.ts$|(^|\/)testing\/|^net\/collective-contract\.ts$/);
  });
});
