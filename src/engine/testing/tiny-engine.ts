/**
 * Test support (Node only): the compiler's random-weight tiny package (src/model/testing/), written
 * and compiled into a temporary directory once per process, opened as an `EngineModel` on the ORT
 * module the test passes in (onnxruntime-node CPU). Not part of the shipped engine.
 */

import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileModelPackage } from '../../model/compile/compile-model.js';
import { writeTinyPackage } from '../../model/testing/tiny-model.js';
import { loadEngineModel, type EngineModel } from '../engine-model.js';
import { SessionRunner, type OrtModule } from '../session-runner.js';

let packageDir: string | null = null;

/** Directory of a compiled random-weight tiny package (created on first use). */
export function tinyPackageDir(): string {
  if (!packageDir) {
    packageDir = mkdtempSync(join(tmpdir(), 'vi-tiny-engine-'));
    writeTinyPackage(packageDir, { seed: 1234 });
    compileModelPackage(packageDir);
  }
  return packageDir;
}

export function fileReader(dir: string): (path: string) => Promise<Uint8Array> {
  return async (path) => new Uint8Array(await readFile(join(dir, path)));
}

/** The tiny model with both UNet graphs on one CPU runner (one intra-op thread: tests share 2 cores). */
export async function openTinyEngine(ort: OrtModule, graphs: readonly ('segmented' | 'whole')[] = ['segmented', 'whole']): Promise<EngineModel> {
  const runner = new SessionRunner(ort, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
  return loadEngineModel(runner, fileReader(tinyPackageDir()), { graphs });
}
