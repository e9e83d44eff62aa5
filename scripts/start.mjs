// `npm start`: build the app if dist/ is missing or older than its sources, then start the
// signaling server (which serves dist/, the room API and the PeerServer) and print the host URL.
// Extra arguments go to the server: `npm start -- --host 0.0.0.0 --port 8443 --tls-cert c.pem --tls-key k.pem`.
import { spawn, spawnSync } from 'node:child_process';
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

const distIndex = path.join(root, 'dist', 'index.html');
const builtAt = existsSync(distIndex) ? statSync(distIndex).mtimeMs : 0;
const sourcesAt = Math.max(...SOURCES.map((s) => newest(path.join(root, s))));
if (builtAt < sourcesAt) {
  console.log(builtAt === 0 ? 'Building the app (dist/ is missing)…' : 'Rebuilding the app (sources changed)…');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const server = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'signaling', 'main.ts'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill(sig));
server.on('exit', (code) => process.exit(code ?? 0));
