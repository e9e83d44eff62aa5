// The built app that `npm start` and `npm run generate` serve (dist/), and the test build that the
// e2e suite and the network benchmark drive (dist-test/: vite's 'test' mode, the only build with the
// window.__vi test hooks): (re)built when missing or older than its sources, so an edited or freshly
// pulled checkout never serves stale code.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['index.html', 'vite.config.ts', 'package.json', 'src', 'public'];

/** Newest mtime under `p`, skipping tests and node_modules. */
function newest(p) {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of readdirSync(p)) if (e !== 'node_modules' && !e.endsWith('.test.ts')) t = Math.max(t, newest(path.join(p, e)));
  return t;
}

/** Where each build goes. */
export const APP_DIST = path.join(root, 'dist');
export const TEST_DIST = path.join(root, 'dist-test');

/** Builds the app (or, with `test`, the test build) if needed; returns vite's exit status (0 when nothing was to do). */
export function ensureAppBuilt(log = console.log, { test = false } = {}) {
  const dist = test ? TEST_DIST : APP_DIST;
  const distIndex = path.join(dist, 'index.html');
  const builtAt = existsSync(distIndex) ? statSync(distIndex).mtimeMs : 0;
  const sourcesAt = Math.max(...SOURCES.map((s) => newest(path.join(root, s))));
  if (builtAt >= sourcesAt) return 0;
  log(builtAt === 0 ? 'Building the app (dist/ is missing)…' : 'Rebuilding the app (sources changed)…');
  const mode = test ? ['--mode', 'test', '--outDir', dist, '--emptyOutDir'] : [];
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn', ...mode], { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}
