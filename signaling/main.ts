/**
 * CLI for the signaling server: `npm run serve -- [options]` (npm start builds first, then runs this).
 *
 *   --host 127.0.0.1     interface to bind (0.0.0.0 for other machines on the LAN)
 *   --port 8080          0 = any free port
 *   --tls-cert FILE --tls-key FILE   serve HTTPS/WSS (needed off localhost for WebGPU/WebCodecs)
 *   --dist dist          the built app
 *   --public-url URL     origin to put in join links (default: the request's Host)
 *   --max-rooms N --max-peers N --room-ttl-min N --rooms-per-client-hour N --max-body-bytes N
 * Every option also reads an env var: VI_HOST, VI_PORT, VI_TLS_CERT, VI_TLS_KEY, VI_DIST,
 * VI_PUBLIC_URL, VI_MAX_ROOMS, VI_MAX_PEERS, VI_ROOM_TTL_MIN, VI_ROOMS_PER_CLIENT_HOUR,
 * VI_MAX_BODY_BYTES. The limits must be positive integers (signaling/limits.ts has them all).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ServerLimits } from './limits.js';
import { readTls, startSignalingServer } from './server.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    dist: { type: 'string' },
    'public-url': { type: 'string' },
    'max-rooms': { type: 'string' },
    'max-peers': { type: 'string' },
    'room-ttl-min': { type: 'string' },
    'rooms-per-client-hour': { type: 'string' },
    'max-body-bytes': { type: 'string' },
  },
});

const env = process.env;
function int(name: string, raw: string | undefined, fallback?: number): number | undefined {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const certPath = values['tls-cert'] ?? env.VI_TLS_CERT;
const keyPath = values['tls-key'] ?? env.VI_TLS_KEY;
if ((certPath === undefined) !== (keyPath === undefined)) {
  console.error('TLS needs both --tls-cert and --tls-key (PEM files).');
  process.exit(2);
}
const ttlMin = int('room-ttl-min', values['room-ttl-min'] ?? env.VI_ROOM_TTL_MIN);
const maxRooms = int('max-rooms', values['max-rooms'] ?? env.VI_MAX_ROOMS);
const maxPeers = int('max-peers', values['max-peers'] ?? env.VI_MAX_PEERS);
const perClient = int('rooms-per-client-hour', values['rooms-per-client-hour'] ?? env.VI_ROOMS_PER_CLIENT_HOUR);
const maxBodyBytes = int('max-body-bytes', values['max-body-bytes'] ?? env.VI_MAX_BODY_BYTES);
const limits: Partial<ServerLimits> = {
  ...(maxRooms !== undefined && { maxRooms }),
  ...(maxPeers !== undefined && { maxPeersPerRoom: maxPeers }),
  ...(ttlMin !== undefined && { roomTtlMs: ttlMin * 60_000 }),
  ...(perClient !== undefined && { roomsPerClientPerHour: perClient }),
  ...(maxBodyBytes !== undefined && { maxBodyBytes }),
};

// The server checks the limits (each a positive integer); a bad one is a usage error, not a crash.
const server = await startSignalingServer({
  host: values.host ?? env.VI_HOST ?? '127.0.0.1',
  port: int('port', values.port ?? env.VI_PORT, 8080),
  tls: certPath && keyPath ? readTls(certPath, keyPath) : undefined,
  distDir: path.resolve(values.dist ?? env.VI_DIST ?? 'dist'),
  publicUrl: values['public-url'] ?? env.VI_PUBLIC_URL,
  limits,
}).catch((e: unknown) => {
  if (!(e instanceof RangeError)) throw e;
  console.error(`${e.message} (a zero limit would make the server refuse everything)`);
  return process.exit(2);
});

// One line a script can parse (scripts/start.mjs, e2e, bench), then the human hint.
console.log(`VI_SERVER_URL=${server.url}`);
console.log(`Video-Infinity host dashboard: ${server.url}/`);
if (!certPath && !['127.0.0.1', 'localhost', '::1'].includes(values.host ?? env.VI_HOST ?? '127.0.0.1')) {
  console.log('Note: plain HTTP off localhost has no WebGPU/WebCodecs in browsers; use --tls-cert/--tls-key (see README).');
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void server.close().then(() => process.exit(0));
  });
}
