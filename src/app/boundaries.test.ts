// The layering of the whole repository (src/testing/import-boundaries.ts holds the rules, each with
// its reason): src/app on top, wiring src/engine, src/net and src/model; nothing below imports it;
// inside the app, lit only in views, PeerJS only in the services, ORT only in the engine worker.
// Checked on the source with the TypeScript parser, so a violation fails CI; the second half feeds
// the checker fake violating files to show that it reports them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAYER_RULES, checkImports, describeViolation, importsOf, type ImportRef } from '../testing/import-boundaries.js';

const root = path.resolve(import.meta.dirname, '../..');

/** Repo-relative source files (leading slash), unit tests left out: they are not shipped. */
function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return /\.(ts|mts)$/.test(e.name) && !/\.(test|spec)\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [`/${rel}`] : [];
  });
}

const files = [...sources('src'), ...sources('signaling')];
const refs: ImportRef[] = files.flatMap((f) => importsOf(f, readFileSync(path.join(root, f), 'utf8')));

/** The violations a fake file would cause. */
function violations(file: string, text: string): string[] {
  return checkImports(importsOf(file, text)).map((v) => v.rule);
}

describe('import boundaries of the whole repository', () => {
  it('no source file breaks a layer rule', () => {
    expect(checkImports(refs).map(describeViolation)).toEqual([]);
  });

  it('the checker sees the real import graph (the app imports engine, net and model)', () => {
    const fromApp = refs.filter((r) => r.from.startsWith('/src/app/')).map((r) => r.target);
    expect(fromApp.some((t) => t.startsWith('/src/engine/'))).toBe(true);
    expect(fromApp.some((t) => t.startsWith('/src/net/'))).toBe(true);
    expect(fromApp.some((t) => t.startsWith('/src/model/'))).toBe(true);
    expect(fromApp).toContain('lit');
  });

  it('every rule binds at least one real file, so a rename cannot leave it checking nothing', () => {
    for (const rule of LAYER_RULES) {
      expect(files.some((f) => rule.files.test(f) && !rule.except?.test(f)), rule.name).toBe(true);
    }
  });
});

describe('the import checker reports violations (negative controls)', () => {
  it('the engine importing the app, lit or peerjs', () => {
    expect(violations('/src/engine/denoise.ts', `import { HostService } from '../app/services/host-service.js';`)).toContain('app is the top layer');
    expect(violations('/src/engine/denoise.ts', `import { LitElement } from 'lit';`)).toContain('engine has no UI, network or app');
    expect(violations('/src/engine/worker/protocol.ts', `import type { DataConnection } from 'peerjs';`)).toContain('engine has no UI, network or app');
    expect(violations('/src/engine/denoise.ts', `import { MeshCollective } from '../net/mesh/mesh-collective.js';`)).toContain('engine has no UI, network or app');
  });

  it('ORT values outside the session runner, types anywhere', () => {
    expect(violations('/src/engine/denoise.ts', `import { Tensor } from 'onnxruntime-common';`)).toContain('one door to ORT');
    expect(violations('/src/engine/denoise.ts', `import type { Tensor } from 'onnxruntime-common';`)).toEqual([]);
    expect(violations('/src/engine/session-runner.ts', `import { Tensor } from 'onnxruntime-common';`)).toEqual([]);
    expect(violations('/src/engine/denoise.ts', `import * as ort from 'onnxruntime-web';`)).toContain('engine reaches ORT through onnxruntime-common');
  });

  it('the net layer importing the app, the engine beyond the contract, lit or the model', () => {
    expect(violations('/src/net/mesh/framing.ts', `export { HostService } from '../../app/services/host-service.js';`)).toContain('app is the top layer');
    expect(violations('/src/net/tagged-collective.ts', `import { denoise } from '../engine/denoise.js';`)).toContain('net sees only the Collective contract of the engine');
    expect(violations('/src/net/tagged-collective.ts', `import type { Collective } from '../engine/collective.js';`)).toEqual([]);
    expect(violations('/src/net/control.ts', `import { html } from 'lit';`)).toContain('net knows no UNet, model or UI');
    expect(violations('/src/net/wire-tensor.ts', `import type { SegmentPlan } from '../model/segment-plan.js';`)).toContain('net knows no UNet, model or UI');
    expect(violations('/src/net/mesh/framing.ts', `import Peer from 'peerjs';`)).toContain('peerjs only in the peer hub and the mesh');
  });

  it('every form of import counts: side effect, dynamic, require, export-from, worker URL', () => {
    expect(violations('/src/net/in-process-collective.ts', `import '../app/vi-host.js';`)).toContain('app is the top layer');
    expect(violations('/src/net/in-process-collective.ts', `const m = await import('../app/vi-host.js');`)).toContain('app is the top layer');
    expect(violations('/src/model/config.ts', `const m = require('../app/main.js');`)).toContain('app is the top layer');
    expect(violations('/src/model/config.ts', `export * from '../engine/denoise.js';`)).toContain('model depends on no runtime layer');
    expect(violations('/src/app/components/vi-job-panel.ts', `const w = new Worker(new URL('../job/engine.worker.ts', import.meta.url));`)).toEqual([]);
    expect(violations('/src/app/components/vi-job-panel.ts', `const w = new Worker(new URL('../../engine/session-runner.ts', import.meta.url));`)).toContain('ORT only in the engine worker');
  });

  it('text that only looks like an import is not one', () => {
    const text = [
      `// import { LitElement } from 'lit';`,
      `/* import '../app/vi-host.js'; */`,
      `const s = "import { x } from '../app/vi-host.js'";`,
    ].join('\n');
    expect(violations('/src/engine/denoise.ts', text)).toEqual([]);
  });

  it('inside the app: lit only in views, PeerJS only in services, ORT only in the worker, no Node', () => {
    expect(violations('/src/app/services/host-service.ts', `import { LitElement } from 'lit';`)).toContain('lit only in views');
    expect(violations('/src/app/job/host-job.ts', `import { Chart } from 'chart.js';`)).toContain('lit only in views');
    expect(violations('/src/app/components/vi-member-table.ts', `import Peer from 'peerjs';`)).toContain('views render, services link');
    expect(violations('/src/app/job/worker-job.ts', `import Peer from 'peerjs';`)).toContain('peerjs in the app only behind the services');
    expect(violations('/src/app/job/host-job.ts', `import * as ort from 'onnxruntime-web';`)).toContain('ORT only in the engine worker');
    expect(violations('/src/app/job/engine.worker.ts', `import * as ort from 'onnxruntime-web/webgpu';`)).toEqual([]);
    expect(violations('/src/app/media/video-muxer.ts', `import { readFileSync } from 'node:fs';`)).toContain('the app is browser code');
    expect(violations('/src/app/job/render-spec.ts', `import { compileModel } from '../../model/compile/compile-model.js';`)).toContain('the app is browser code');
    expect(violations('/src/app/job/host-job.ts', `import { mulberry32 } from '../../testing/prng.js';`)).toContain('test support stays out of the product');
  });

  it('the app may use the engine, the net layer and the model', () => {
    const text = [
      `import type { Collective } from '../../engine/collective.js';`,
      `import { MeshCollective } from '../../net/mesh/mesh-collective.js';`,
      `import { parseManifest } from '../../model/manifest.js';`,
    ].join('\n');
    expect(violations('/src/app/services/worker-service.ts', text)).toEqual([]);
  });

  it('signaling importing from src/', () => {
    expect(violations('/signaling/server.ts', `import { MESH_LIMITS } from '../src/net/mesh/limits.js';`)).toContain('signaling stands alone');
  });

  it('a violation names the file, the line, the import, the rule and its reason', () => {
    const [v] = checkImports(importsOf('/src/engine/denoise.ts', `\n\nimport { html } from 'lit';`));
    expect(describeViolation(v!)).toBe(
      `src/engine/denoise.ts:3 imports 'lit': breaks "engine has no UI, network or app" (the engine runs in a Web Worker and in Node and reaches other ranks only through the Collective contract)`,
    );
  });
});
