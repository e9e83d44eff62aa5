// The built app (dist/) that `npm start` and `npm run generate` serve: (re)built when it is missing
// or older than its sources, so an edited or freshly pulled checkout never serves stale code.
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

/** Builds dist/ if needed; returns the vite exit status (0 when nothing was to do). */
export function ensureAppBuilt(log = console.log) {
  const distIndex = path.join(root, 'dist', 'index.html');
  const builtAt = existsSync(distIndex) ? statSync(distIndex).mtimeMs : 0;
  const sourcesAt = Math.max(...SOURCES.map((s) => newest(path.join(root, s))));
  if (builtAt >= sourcesAt) return 0;
  log(builtAt === 0 ? 'Building the app (dist/ is missing)…' : 'Rebuilding the app (sources changed)…');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}
