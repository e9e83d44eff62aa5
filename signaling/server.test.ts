// The room API and PeerServer admission over real HTTP / WebSocket on an ephemeral port.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PEER_KEY, PEER_PATH, startSignalingServer, type SignalingServer } from './server.js';

let server: SignalingServer;
let dist: string;

beforeAll(async () => {
  dist = mkdtempSync(path.join(tmpdir(), 'vi-dist-'));
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>vi</title>');
  writeFileSync(path.join(dist, 'x.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  // Two packages, a folder without a manifest, and a name a URL should not carry.
  for (const d of ['vi-b', 'vi-a', 'no-manifest', 'bad name']) mkdirSync(path.join(dist, 'models', d), { recursive: true });
  for (const d of ['vi-b', 'vi-a', 'bad name']) writeFileSync(path.join(dist, 'models', d, 'manifest.json'), '{}');
  server = await startSignalingServer({ port: 0, distDir: dist, limits: { maxRooms: 3, maxPeersPerRoom: 2, maxBodyBytes: 1024 } });
});
afterAll(async () => {
  await server.close();
});

async function api(method: string, p: string, body?: unknown, auth?: string) {
  const res = await fetch(`${server.url}/api${p}`, {
    method,
    headers: { 'content-type': 'application/json', ...(auth && { authorization: `Bearer ${auth}` }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

/** Opens the PeerJS WebSocket as the browser client would; resolves with the first message or the refusal. */
function peerSocket(id: string, token: string): Promise<string> {
  const url = `${server.url.replace('http', 'ws')}${PEER_PATH}/peerjs?key=${PEER_KEY}&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('message', (m) => {
      resolve(String(m));
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`));
    ws.on('error', (e) => resolve(`error ${e.message}`));
  });
}

/** An open PeerJS socket that records what the server relays to it. */
async function openPeer(base: string, id: string, token: string): Promise<{ ws: WebSocket; received: Record<string, any>[] }> {
  const url = `${base.replace('http', 'ws')}${PEER_PATH}/peerjs?key=${PEER_KEY}&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  const received: Record<string, any>[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (m) => {
      const msg = JSON.parse(String(m)) as Record<string, any>;
      if (msg.type === 'OPEN') resolve();
      else received.push(msg);
    });
    ws.on('error', reject);
  });
  return { ws, received };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('signaling server', () => {
  it('serves the app with COOP/COEP and .wasm as application/wasm, 404 without SPA fallback', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(index.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    const wasm = await fetch(`${server.url}/x.wasm`);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect((await fetch(`${server.url}/missing.wasm`)).status).toBe(404);
  });

  it('lists the model packages it serves: folders of models/ with a manifest.json, by name', async () => {
    const r = await api('GET', '/models');
    expect(r.status).toBe(200);
    expect(r.json.packages).toEqual([{ name: 'vi-a', url: '/models/vi-a/' }, { name: 'vi-b', url: '/models/vi-b/' }]);
  });

  it('creates a room, joins with the token, lists members for the host only, leaves', async () => {
    const created = await api('POST', '/rooms');
    expect(created.status).toBe(201);
    const room = created.json;
    expect(room.joinUrl).toBe(`${server.url}/?room=${room.roomId}&token=${room.joinToken}`);
    expect((await api('POST', `/rooms/${room.roomId}/join`, { token: 'nope' })).status).toBe(403);
    const joined = await api('POST', `/rooms/${room.roomId}/join`, { token: room.joinToken, name: 'tab 1' });
    expect(joined.status).toBe(200);
    expect(joined.json.hostPeerId).toBe(room.hostPeerId);
    expect((await api('GET', `/rooms/${room.roomId}/members`, undefined, room.joinToken)).status).toBe(403);
    const members = await api('GET', `/rooms/${room.roomId}/members`, undefined, room.hostSecret);
    expect(members.json.members.map((m: { name: string }) => m.name)).toEqual(['host', 'tab 1']);
    expect((await api('POST', `/rooms/${room.roomId}/leave`, { peerId: joined.json.peerId, peerToken: 'x' })).status).toBe(403);
    expect((await api('POST', `/rooms/${room.roomId}/leave`, { peerId: joined.json.peerId, peerToken: joined.json.peerToken })).status).toBe(204);
    expect((await api('DELETE', `/rooms/${room.roomId}`, undefined, room.hostSecret)).status).toBe(204);
    expect((await api('POST', `/rooms/${room.roomId}/join`, { token: room.joinToken })).status).toBe(404);
  });

  it('limits: peers per room, request size, bad JSON, max rooms', async () => {
    const room = (await api('POST', '/rooms')).json;
    await api('POST', `/rooms/${room.roomId}/join`, { token: room.joinToken });
    await api('POST', `/rooms/${room.roomId}/join`, { token: room.joinToken });
    const full = await api('POST', `/rooms/${room.roomId}/join`, { token: room.joinToken });
    expect(full.status).toBe(409);
    expect(full.json.error.code).toBe('room-full');
    const big = await api('POST', `/rooms/${room.roomId}/join`, { token: room.joinToken, name: 'x'.repeat(4096) });
    expect(big.status).toBe(413);
    expect((await api('POST', `/rooms/${room.roomId}/join`, '{not json')).status).toBe(400);
    await api('POST', '/rooms');
    await api('POST', '/rooms');
    const tooMany = await api('POST', '/rooms');
    expect(tooMany.status).toBe(429);
    expect(tooMany.json.error.message).toMatch(/maxRooms 3/);
    for (const r of [room]) await api('DELETE', `/rooms/${r.roomId}`, undefined, r.hostSecret);
  });

  it('PeerServer admits only issued (peer id, token) pairs', async () => {
    const room = (await api('POST', '/rooms')).json;
    const joined = (await api('POST', `/rooms/${room.roomId}/join`, { token: room.joinToken })).json;
    expect(await peerSocket(joined.peerId, joined.peerToken)).toContain('"OPEN"');
    expect(await peerSocket(room.hostPeerId, room.hostPeerToken)).toContain('"OPEN"');
    expect(await peerSocket(joined.peerId, 'forged')).toBe('HTTP 401');
    expect(await peerSocket('vi-stranger-123', 'whatever')).toBe('HTTP 401');
    await api('DELETE', `/rooms/${room.roomId}`, undefined, room.hostSecret);
    expect(await peerSocket(joined.peerId, joined.peerToken)).toBe('HTTP 401');
  });

  it('relays signaling only between peers of the same room', async () => {
    const own = await startSignalingServer({ port: 0, distDir: dist }); // the shared one's room limit is spent
    const post = async (p: string, body?: unknown) =>
      (await fetch(`${own.url}/api${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) })).json() as Promise<Record<string, any>>;
    const roomA = await post('/rooms');
    const roomB = await post('/rooms');
    const member = await post(`/rooms/${roomA.roomId}/join`, { token: roomA.joinToken });
    const hostA = await openPeer(own.url, roomA.hostPeerId, roomA.hostPeerToken);
    const hostB = await openPeer(own.url, roomB.hostPeerId, roomB.hostPeerToken);
    const worker = await openPeer(own.url, member.peerId, member.peerToken);
    const offer = (dst: string, n: number) => JSON.stringify({ type: 'OFFER', dst, payload: { sdp: `probe ${n}`, connectionId: `dc_${n}` } });
    hostB.ws.send('not json'); // dropped; PeerServer itself would throw on it and take the process down
    hostB.ws.send('null');
    hostB.ws.send(offer(roomA.hostPeerId, 1)); // another room's peer: dropped
    hostB.ws.send(offer(member.peerId, 2));
    worker.ws.send(offer(roomB.hostPeerId, 3));
    worker.ws.send(offer(roomA.hostPeerId, 4)); // same room: relayed, with the server-set src
    hostB.ws.send(JSON.stringify({ type: 'HEARTBEAT' }));
    await sleep(300);
    expect(hostA.received.map((m) => [m.type, m.src, m.payload?.sdp])).toEqual([['OFFER', member.peerId, 'probe 4']]);
    expect(worker.received).toEqual([]);
    expect(hostB.received).toEqual([]);
    for (const p of [hostA, hostB, worker]) p.ws.close();
    await own.close();
  });
});
