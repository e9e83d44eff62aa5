// Import rules: the net layer knows nothing of UNets or the app (it only moves tagged tensors), and
// the signaling server imports nothing from src/ (it stays small and standalone). Checked on the
// source text, so a violation fails CI; src/app/boundaries.test.ts checks the whole layering.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

describe('import boundaries', () => {
  it('src/net imports only the Collective contract and its operations from src/engine, and never lit or src/app', () => {
    for (const f of sources(path.join(root, 'src/net'))) {
      for (const spec of imports(f)) {
        const rel = path.relative(root, f);
        expect(spec, `${rel} imports ${spec}`).not.toMatch(/^lit|\/app\//);
        if (spec.includes('/engine/')) expect(spec, `${rel} imports ${spec}`).toMatch(/\/engine\/collective(-ops)?\.js$/);
      }
    }
  });

  it('only src/net/mesh/{peer-hub,mesh-collective} and the app talk to peerjs', () => {
    for (const f of sources(path.join(root, 'src/net'))) {
      if (imports(f).includes('peerjs')) expect(path.basename(f)).toMatch(/^(peer-hub|mesh-collective)\.ts$/);
    }
  });

  it('signaling/ imports nothing from src/', () => {
    for (const f of sources(path.join(root, 'signaling'))) for (const spec of imports(f)) expect(spec, `${f} imports ${spec}`).not.toMatch(/(^|\/)src\//);
  });
});
