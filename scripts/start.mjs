// `npm start`: build the app if dist/ is missing or older than its sources, then start the
// signaling server (which serves dist/, the room API and the PeerServer) and print the host URL.
// Extra arguments go to the server: `npm start -- --host 0.0.0.0 --port 8443 --tls-cert c.pem --tls-key k.pem`.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureAppBuilt } from './app-build.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = ensureAppBuilt();
if (built !== 0) process.exit(built);

const server = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'signaling', 'main.ts'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill(sig));
server.on('exit', (code) => process.exit(code ?? 0));
