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

const packageDirs = new Map<number, string>();

/**
 * Directory of a compiled random-weight tiny package (created on first use): CFG batch 2, or the
 * same weights compiled for batch 1 (one guidance branch per rank: guidance-split.ts).
 */
export function tinyPackageDir(batch: 1 | 2 = 2): string {
  let dir = packageDirs.get(batch);
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), `vi-tiny-engine-b${batch}-`));
    writeTinyPackage(dir, { seed: 1234 });
    compileModelPackage(dir, { batch });
    packageDirs.set(batch, dir);
  }
  return dir;
}

export function fileReader(dir: string): (path: string) => Promise<Uint8Array> {
  return async (path) => new Uint8Array(await readFile(join(dir, path)));
}

/** The tiny model with both UNet graphs on one CPU runner (one intra-op thread: tests share 2 cores). */
export async function openTinyEngine(ort: OrtModule, graphs: readonly ('segmented' | 'whole')[] = ['segmented', 'whole'], batch: 1 | 2 = 2): Promise<EngineModel> {
  const runner = new SessionRunner(ort, { executionProviders: ['cpu'], sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
  return loadEngineModel(runner, fileReader(tinyPackageDir(batch)), { graphs });
}
