// Builds the app's test build and starts the real signaling server serving it on a free port, for every spec.
// Sets VI_E2E_URL (inherited by the test workers); returns the teardown. If VI_E2E_URL is already
// set (a server you started yourself), uses it as is.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_DIST } from '../scripts/app-build.mjs';
import { startSignalingServer } from '../signaling/server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export default async function globalSetup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.VI_E2E_URL) return undefined;
  // The test build: the app with its window.__vi hooks, apart from the dist/ that `npm start` serves.
  const build = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn', '--mode', 'test', '--outDir', TEST_DIST, '--emptyOutDir'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('vite build failed; see the output above');
  // Every tab of the run comes from 127.0.0.1, and the suite makes a room per test.
  const server = await startSignalingServer({ port: 0, distDir: TEST_DIST, limits: { roomsPerClientPerHour: 10_000 } });
  process.env.VI_E2E_URL = server.url;
  return () => server.close();
}
