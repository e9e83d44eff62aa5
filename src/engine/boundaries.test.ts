/**
 * The engine's import boundary (it runs in a Web Worker and in Node, and reaches the network only
 * through the Collective contract): no peerjs, lit, onnxruntime-web/node,
 * src/net or src/app anywhere under src/engine; ONNX Runtime only through onnxruntime-common, and
 * value imports of it only in session-runner.ts (type-only imports are fine anywhere).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('.', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const FORBIDDEN = [/^peerjs$/, /^peer$/, /^lit(\/|$)/, /^onnxruntime-(web|node)(\/|$)/, /(^|\/)net\//, /(^|\/)app\//];

describe('src/engine import boundary', () => {
  for (const file of sources(root)) {
    const name = relative(root, file);
    it(name, () => {
      const text = readFileSync(file, 'utf8');
      const imports = [...text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)];
      for (const m of imports) {
        const spec = m[3]!;
        const typeOnly = m[2] !== undefined;
        for (const bad of FORBIDDEN) expect(spec, `${name} imports ${spec}`).not.toMatch(bad);
        if (spec.startsWith('onnxruntime-common') && !typeOnly) expect(name, `${name} imports ${spec} (only session-runner.ts may)`).toBe('session-runner.ts');
      }
    });
  }
});
