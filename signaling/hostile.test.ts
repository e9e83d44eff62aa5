// The signaling server under attack, over real HTTP and raw WebSockets: each case first does what
// an attacker did to an earlier version (crash, admission as someone else, unbounded queues, free
// room creation), then checks that only the attacker's link suffered and /api/health still answers.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULT_LIMITS, resolveLimits, type ServerLimits } from './limits.js';
import { PEER_KEY, PEER_PATH, startSignalingServer, type SignalingServer } from './server.js';

const LIMITS: Partial<ServerLimits> = {
  roomsPerClientPerHour: 1000,
  queueBytesPerPeer: 64 * 1024,
  queueBytesPerRoom: 128 * 1024,
  socketBurstBytes: 512 * 1024,
  socketBytesPerSecond: 64 * 1024,
};

let server: SignalingServer;
beforeAll(async () => {
  const dist = mkdtempSync(path.join(tmpdir(), 'vi-dist-'));
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>vi</title>');
  server = await startSignalingServer({ port: 0, distDir: dist, limits: LIMITS });
});
afterAll(async () => {
  await server.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Json = Record<string, any>;

async function post(p: string, body: unknown = {}, base = server.url): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${base}/api${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
}

async function healthy(base = server.url): Promise<boolean> {
  const res = await fetch(`${base}/api/health`);
  return res.status === 200 && ((await res.json()) as Json).ok === true;
}

/** A room with a host and `workers` joined workers (credentials only; nobody connected). */
async function room(workers: number, base = server.url) {
  const created = (await post('/rooms', {}, base)).json;
  const joined: Json[] = [];
  for (let i = 0; i < workers; i++) joined.push((await post(`/rooms/${created.roomId}/join`, { token: created.joinToken }, base)).json);
  return { created, joined };
}

const socketUrl = (query: string, base = server.url) => `${base.replace('http', 'ws')}${PEER_PATH}/peerjs?${query}`;
const query = (id: string, token: string) => `key=${PEER_KEY}&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}&version=1.5.5`;

/** Opens a socket; resolves once it is OPEN (PeerServer's first message) or refused. A socket
 *  taking over a connected id with its token gets no OPEN: it resolves 300 ms after the upgrade. */
function connect(url: string): Promise<{ ws: WebSocket; refused?: string; received: Json[]; closed: Promise<number> }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const received: Json[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('open', () => setTimeout(() => resolve({ ws, received, closed }), 300));
    ws.on('message', (m) => {
      const msg = JSON.parse(String(m)) as Json;
      if (msg.type === 'OPEN') resolve({ ws, received, closed });
      else received.push(msg);
    });
    ws.on('unexpected-response', (_req, res) => resolve({ ws, refused: `HTTP ${res.statusCode}`, received, closed }));
    ws.on('error', (e) => resolve({ ws, refused: `error ${e.message}`, received, closed }));
  });
}

/** A masked client frame with raw header bits, written under ws's feet. */
function rawFrame(firstByte: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([firstByte, 0x80 | payload.length]), mask, masked]);
}

describe('the signaling server under attack', () => {
  it('survives oversize frames, invalid UTF-8 and reserved bits on the PeerServer socket', async () => {
    const r = await room(0);
    const attacks: [string, (ws: WebSocket) => void][] = [
      ['a frame over maxSignalBytes', (ws) => ws.send('x'.repeat(DEFAULT_LIMITS.maxSignalBytes + 1))],
      ['invalid UTF-8 in a text frame', (ws) => (ws as any)._socket.write(rawFrame(0x81, Buffer.from([0xff, 0xfe, 0xfd])))],
      ['reserved bits set', (ws) => (ws as any)._socket.write(rawFrame(0xc1, Buffer.from('{}')))],
      ['an unknown opcode', (ws) => (ws as any)._socket.write(rawFrame(0x83, Buffer.from('{}')))],
    ];
    for (const [what, attack] of attacks) {
      const peer = await connect(socketUrl(query(r.created.hostPeerId, r.created.hostPeerToken)));
      expect(peer.refused, what).toBeUndefined();
      attack(peer.ws);
      const code = await Promise.race([peer.closed, sleep(5000).then(() => -1)]);
      expect(code, `${what}: the attacker's socket is closed`).toBeGreaterThan(1000);
      expect(await healthy(), `${what}: the server still answers`).toBe(true);
    }
  });

  it('refuses a socket URL that names id or token twice (admission as another peer)', async () => {
    const { created, joined } = await room(2);
    const [attacker, victim] = joined as [Json, Json];
    // The host signals the victim, which is not connected yet: the server holds the offer for it.
    const host = await connect(socketUrl(query(created.hostPeerId, created.hostPeerToken)));
    host.ws.send(JSON.stringify({ type: 'OFFER', dst: victim.peerId, payload: { sdp: 'for the victim' } }));
    await sleep(100);
    const forged = [
      `${query(attacker.peerId, attacker.peerToken)}&id=${victim.peerId}`,
      `${query(attacker.peerId, attacker.peerToken)}&id=${victim.peerId}&token=${attacker.peerToken}`,
      `id=${victim.peerId}&${query(attacker.peerId, attacker.peerToken)}`,
      `${query(attacker.peerId, attacker.peerToken)}&key=${PEER_KEY}`,
      `${query(attacker.peerId, attacker.peerToken)}&extra=1`,
    ];
    for (const q of forged) {
      const tried = await connect(socketUrl(q));
      expect(tried.refused, q).toBe('HTTP 401');
      expect(tried.received, q).toEqual([]);
    }
    // The victim still gets its own id, and the offer held for it.
    const real = await connect(socketUrl(query(victim.peerId, victim.peerToken)));
    expect(real.refused).toBeUndefined();
    await sleep(100);
    expect(real.received.map((m) => [m.type, m.src, m.payload?.sdp])).toEqual([['OFFER', created.hostPeerId, 'for the victim']]);
    for (const p of [host, real]) p.ws.close();
  });

  it('admission races: the same id twice at once, and a socket racing its own revocation', async () => {
    const { created, joined } = await room(1);
    const worker = joined[0]!;
    // Two sockets of one id at once (a reload racing the old tab): the newer one is the peer.
    const [first, second] = await Promise.all([connect(socketUrl(query(worker.peerId, worker.peerToken))), connect(socketUrl(query(worker.peerId, worker.peerToken)))]);
    expect([first.refused, second.refused]).toEqual([undefined, undefined]);
    const host = await connect(socketUrl(query(created.hostPeerId, created.hostPeerToken)));
    host.ws.send(JSON.stringify({ type: 'OFFER', dst: worker.peerId, payload: { sdp: 'one copy' } }));
    await sleep(200);
    expect(first.received.length + second.received.length, 'one socket, not both, gets the signal').toBe(1);
    // Leaving while sockets of that id connect: once the leave is answered, every socket of it is
    // closed and no new one is admitted.
    const racing = Array.from({ length: 5 }, () => connect(socketUrl(query(worker.peerId, worker.peerToken))));
    const left = await post(`/rooms/${created.roomId}/leave`, { peerId: worker.peerId, peerToken: worker.peerToken });
    expect(left.status).toBe(204);
    const raced = await Promise.all(racing);
    await sleep(200);
    for (const p of [first, second, ...raced]) expect(p.ws.readyState === WebSocket.OPEN && p.refused === undefined, 'no socket of a revoked id stays open').toBe(false);
    expect((await connect(socketUrl(query(worker.peerId, worker.peerToken)))).refused).toBe('HTTP 401');
    host.ws.close();
  });

  it('holds a bounded number of bytes for an absent peer, and closes a flooding socket', async () => {
    const { created, joined } = await room(2);
    const [absent, other] = joined as [Json, Json];
    const attacker = await connect(socketUrl(query(created.hostPeerId, created.hostPeerToken)));
    const sdp = 'x'.repeat(60 * 1024);
    const rssBefore = process.memoryUsage().rss;
    let sent = 0;
    const t0 = Date.now();
    while (attacker.ws.readyState === WebSocket.OPEN && Date.now() - t0 < 3000) {
      attacker.ws.send(JSON.stringify({ type: 'OFFER', dst: sent % 2 ? absent.peerId : other.peerId, payload: { sdp } }));
      sent++;
      if (sent % 20 === 0) await sleep(1);
    }
    const code = await Promise.race([attacker.closed, sleep(5000).then(() => -1)]);
    const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`[hostile] flood: ${sent} offers of 60 KiB (${((sent * 60) / 1024).toFixed(0)} MiB) sent before the close (code ${code}); server RSS +${rssGrowthMb.toFixed(0)} MiB`);
    expect(code, 'the flooding socket is closed').toBeGreaterThan(1000);
    expect(rssGrowthMb).toBeLessThan(200);
    // What the absent peers receive on connecting is capped per peer and per room.
    const a = await connect(socketUrl(query(absent.peerId, absent.peerToken)));
    const b = await connect(socketUrl(query(other.peerId, other.peerToken)));
    await sleep(200);
    const bytes = (p: { received: Json[] }) => p.received.reduce((n, m) => n + JSON.stringify(m).length, 0);
    expect(bytes(a)).toBeLessThanOrEqual(2 * LIMITS.queueBytesPerPeer!);
    expect(bytes(a) + bytes(b)).toBeLessThanOrEqual(2 * LIMITS.queueBytesPerRoom!);
    expect(bytes(a), 'signals within the limit are still held').toBeGreaterThan(0);
    // The attacker's id is not banned: a fresh socket of it works (its budget refills with time).
    expect(await healthy()).toBe(true);
    for (const p of [a, b]) p.ws.close();
  });

  it('limits rooms per client address and refuses non-JSON room API posts', async () => {
    const own = await startSignalingServer({ port: 0, limits: { roomsPerClientPerHour: 3 } });
    try {
      for (let i = 0; i < 3; i++) expect((await post('/rooms', {}, own.url)).status).toBe(201);
      const fourth = await post('/rooms', {}, own.url);
      expect(fourth.status).toBe(429);
      expect(fourth.json.error.code).toBe('too-many-rooms-from-client');
      expect(fourth.json.error.message).toMatch(/127\.0\.0\.1 created 3 rooms in the last hour \(roomsPerClientPerHour 3\)/);
      // A form post from another web page: text/plain needs no CORS preflight, so it is refused here.
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const res = await fetch(`${own.url}/api/rooms`, { method: 'POST', headers: { 'content-type': type }, body: '{}' });
        expect(res.status, type).toBe(415);
      }
      expect((await fetch(`${own.url}/api/rooms`, { method: 'POST' })).status).toBe(415);
      // No CORS grant on the PeerServer routes either.
      const peerRoute = await fetch(`${own.url}${PEER_PATH}/`, { headers: { origin: 'https://evil.example' } });
      expect(peerRoute.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await own.close();
    }
  });

  it('rejects zero, negative and fractional limits, in the API and on the command line', async () => {
    for (const bad of [{ roomTtlMs: 0 }, { maxRooms: -1 }, { queueBytesPerPeer: 1.5 }, { maxPeersPerRoom: Number.NaN }]) {
      expect(() => resolveLimits(bad), JSON.stringify(bad)).toThrow(/must be a positive integer/);
      await expect(startSignalingServer({ port: 0, limits: bad })).rejects.toThrow(/must be a positive integer/);
    }
    const main = path.join(path.dirname(new URL(import.meta.url).pathname), 'main.ts');
    for (const args of [['--room-ttl-min', '0'], ['--max-rooms', '0'], ['--rooms-per-client-hour', '0'], ['--max-body-bytes=-5']]) {
      // Asynchronous: a blocked event loop would stall the server this file's other tests talk to.
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(process.execPath, ['--import', 'tsx', main, '--port', '0', ...args], { timeout: 30_000 }, (e, _out, stderr) => resolve({ code: e ? (e as { code?: number }).code ?? null : 0, stderr }));
      });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/must be a (positive|non-negative) integer/);
    }
  }, 60_000);

  it('survives a fuzz of random API requests and socket messages', async () => {
    const { created, joined } = await room(1);
    const rnd = (n: number) => Math.floor(Math.random() * n);
    const junk = (): string =>
      [() => randomBytes(rnd(64)).toString('latin1'), () => JSON.stringify({ type: 'OFFER', dst: [1], payload: null }), () => '{"__proto__":{"x":1},"type":"CANDIDATE","dst":"' + created.hostPeerId + '"}', () => 'null', () => '[]', () => '"s"', () => JSON.stringify({ type: 'EXPIRE', dst: created.hostPeerId }), () => JSON.stringify({ type: 'LEAVE' }), () => '9'.repeat(400)][rnd(9)]!();
    const paths = ['/rooms', `/rooms/${created.roomId}/join`, `/rooms/${created.roomId}/leave`, `/rooms/${created.roomId}/members`, `/rooms/%00/join`, `/rooms/${'a'.repeat(5000)}/join`, '/../../etc/passwd'];
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`${server.url}/api${paths[rnd(paths.length)]}`, { method: ['POST', 'GET', 'DELETE', 'PUT'][rnd(4)], headers: { 'content-type': 'application/json' }, body: rnd(2) ? undefined : junk() }).catch(() => null);
      if (res) expect(res.status, 'no request makes the server fail').toBeLessThan(500);
    }
    const peer = await connect(socketUrl(query(joined[0]!.peerId, joined[0]!.peerToken)));
    expect(peer.refused).toBeUndefined();
    for (let i = 0; i < 300 && peer.ws.readyState === WebSocket.OPEN; i++) peer.ws.send(junk());
    await sleep(300);
    expect(await healthy()).toBe(true);
    peer.ws.close();
  });
});
