// HTTPS + WSS on the same port with a throwaway self-signed certificate (made with openssl, which
// the test requires: a missing openssl fails it with that message).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PEER_KEY, PEER_PATH, readTls, startSignalingServer } from './server.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vi-tls-'));
const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });

function request(url: string, ca: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('signaling over TLS', () => {
  it('serves the API over HTTPS, makes https join links, and admits peers over WSS', async () => {
    expect(made.status, 'openssl could not make a test certificate (install openssl)').toBe(0);
    const tls = readTls(path.join(dir, 'cert.pem'), path.join(dir, 'key.pem'));
    const server = await startSignalingServer({ port: 0, tls });
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const created = await request(`${server.url}/api/rooms`, tls.cert, 'POST');
      expect(created.status).toBe(201);
      expect(created.headers['cross-origin-opener-policy']).toBe('same-origin');
      const room = JSON.parse(created.body) as { joinUrl: string; hostPeerId: string; hostPeerToken: string };
      expect(room.joinUrl.startsWith(`${server.url}/?room=`)).toBe(true);
      const wsUrl = `${server.url.replace('https', 'wss')}${PEER_PATH}/peerjs?key=${PEER_KEY}&id=${room.hostPeerId}&token=${room.hostPeerToken}`;
      const first = await new Promise<string>((resolve) => {
        const ws = new WebSocket(wsUrl, { ca: readFileSync(path.join(dir, 'cert.pem')) });
        ws.on('message', (m) => (resolve(String(m)), ws.close()));
        ws.on('error', (e) => resolve(`error ${e.message}`));
      });
      expect(first).toContain('"OPEN"');
    } finally {
      await server.close();
    }
  });
});
