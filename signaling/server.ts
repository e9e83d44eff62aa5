/**
 * The signaling server: one HTTP(S) port that serves the built app (dist/), the room API
 * (/api/rooms…) and the PeerJS PeerServer (/peerjs). Same origin for all three, so one TLS
 * certificate covers a LAN setup (WebGPU and WebCodecs need a secure context off localhost).
 *
 * Admission: the PeerServer's WebSocket accepts only a (peer id, token) pair the room API issued
 * (ws `verifyClient`); a second check on `connection` closes anything that slipped through.
 * Imports nothing from src/.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { ExpressPeerServer, type IClient } from 'peer';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import { DEFAULT_LIMITS, RoomError, RoomRegistry, type RoomLimits } from './rooms.js';

/** The PeerJS mount path and key; the browser side (src/app) uses the same values. */
export const PEER_PATH = '/peerjs';
export const PEER_KEY = 'vi-mesh';

export interface ServerOptions_ {
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** PEM strings; both or neither. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Folder with the built app; missing → "/" answers 503 with a hint to build. */
  readonly distDir?: string;
  readonly limits?: Partial<RoomLimits>;
  /** Largest accepted request body (the room API takes tiny JSON bodies). */
  readonly maxBodyBytes?: number;
  /** Origin used in join links (e.g. https://gpu-box.lan:8443); default: from the request's Host. */
  readonly publicUrl?: string;
  /** How long PeerServer waits for a silent client before dropping it. */
  readonly peerAliveTimeoutMs?: number;
}

export interface SignalingServer {
  readonly url: string;
  readonly port: number;
  readonly rooms: RoomRegistry;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
const SWEEP_INTERVAL_MS = 30_000;

/** Cross-origin isolation for wasm threads (ecosystem §1.8), on every response. */
function isolationHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  next();
}

/**
 * PeerServer relays a message to any connected id named in its `dst`. A peer id is unguessable but
 * not secret to the room that saw it, so a peer of one room must not be able to signal (offer a
 * connection to, or spam) a peer of another: messages whose `dst` lies outside the sender's room are
 * dropped before PeerServer sees them, and so is anything that is not a JSON object. PeerServer sets
 * `src` itself, so the sender is the socket's id.
 */
function confineToRoom(socket: WebSocket, senderId: string, rooms: RoomRegistry): void {
  const emit = socket.emit.bind(socket);
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'message' && !staysInRoom(args[0], senderId, rooms)) return false;
    return emit(event, ...args);
  }) as typeof socket.emit;
}

function staysInRoom(data: unknown, senderId: string, rooms: RoomRegistry): boolean {
  let message: unknown;
  try {
    message = JSON.parse(String(data));
  } catch {
    return false; // not JSON: PeerServer would throw on it (an 'error' event nobody handles kills the process)
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return false;
  const dst = (message as { dst?: unknown }).dst;
  if (dst === undefined) return true; // HEARTBEAT and other messages to the server itself
  const room = rooms.roomOfPeer(senderId);
  return typeof dst === 'string' && room !== undefined && rooms.roomOfPeer(dst) === room;
}

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

export async function startSignalingServer(options: ServerOptions_ = {}): Promise<SignalingServer> {
  const limits: RoomLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const rooms = new RoomRegistry(limits);
  const app = express();
  app.disable('x-powered-by');
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, app) : http.createServer(app);
  const scheme = options.tls ? 'https' : 'http';

  app.use(isolationHeaders);

  // ---- PeerJS: only issued peer ids get a socket ----
  const liveClients = new Map<string, IClient>();
  const peerApp = ExpressPeerServer(server, {
    path: '/',
    key: PEER_KEY,
    allow_discovery: false,
    alive_timeout: options.peerAliveTimeoutMs ?? 60_000,
    createWebSocketServer: (wsOptions: ServerOptions) => {
      const wss = new WebSocketServer({
        ...wsOptions,
        maxPayload: 64 * 1024, // signaling messages (SDP, candidates) are a few KiB
        verifyClient: (info, done) => {
          const q = new URL(info.req.url ?? '', 'http://x').searchParams;
          if (rooms.admit(q.get('id'), q.get('token'))) done(true);
          else done(false, 401, 'peer id not issued by the room API (join the room first)');
        },
      });
      // Registered before PeerServer's own listener: signaling stays inside a room.
      wss.on('connection', (socket, req) => confineToRoom(socket, new URL(req.url ?? '', 'http://x').searchParams.get('id') ?? '', rooms));
      return wss;
    },
  });
  peerApp.on('connection', (client: IClient) => {
    if (!rooms.admit(client.getId(), client.getToken())) {
      client.getSocket()?.close(4001, 'not admitted');
      return;
    }
    liveClients.set(client.getId(), client);
    rooms.setConnected(client.getId(), true);
  });
  peerApp.on('disconnect', (client: IClient) => {
    liveClients.delete(client.getId());
    rooms.setConnected(client.getId(), false);
  });
  const disconnect = (peerIds: string[]): void => {
    for (const id of peerIds) liveClients.get(id)?.getSocket()?.close(4002, 'left the room');
  };
  app.use(PEER_PATH, peerApp);

  // ---- Room API ----
  const api = express.Router();
  api.use(express.json({ limit: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, type: () => true }));
  const origin = (req: Request): string => options.publicUrl ?? `${scheme}://${req.headers.host ?? `localhost:${port()}`}`;
  const body = (req: Request): Record<string, unknown> =>
    typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {};
  const bearer = (req: Request): string | undefined => /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];

  api.post('/rooms', (req, res) => {
    const created = rooms.create();
    const joinUrl = `${origin(req)}/?room=${encodeURIComponent(created.roomId)}&token=${encodeURIComponent(created.joinToken)}`;
    res.status(201).json({ ...created, joinUrl, peer: { path: PEER_PATH, key: PEER_KEY } });
  });
  api.post('/rooms/:roomId/join', (req, res) => {
    const joined = rooms.join(req.params.roomId ?? '', body(req).token, body(req).name);
    res.json({ ...joined, peer: { path: PEER_PATH, key: PEER_KEY } });
  });
  api.get('/rooms/:roomId/members', (req, res) => {
    res.json({ members: rooms.members(req.params.roomId ?? '', bearer(req)) });
  });
  api.post('/rooms/:roomId/leave', (req, res) => {
    const peerId = body(req).peerId;
    rooms.leave(req.params.roomId ?? '', peerId, bearer(req) ?? body(req).peerToken);
    if (typeof peerId === 'string') disconnect([peerId]);
    res.status(204).end();
  });
  api.delete('/rooms/:roomId', (req, res) => {
    disconnect(rooms.close(req.params.roomId ?? '', bearer(req)));
    res.status(204).end();
  });
  api.get('/health', (_req, res) => {
    res.json({ ok: true, rooms: rooms.roomCount });
  });
  api.use((_req, res) => sendError(res, 404, 'not-found', 'no such API route'));
  api.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof RoomError) return sendError(res, err.status, err.code, err.message);
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') return sendError(res, 413, 'too-large', `request body over ${options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes`);
    if (e.type === 'entity.parse.failed') return sendError(res, 400, 'bad-json', 'request body is not valid JSON');
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return sendError(res, e.status, 'bad-request', e.message ?? 'bad request');
    console.error('[signaling] internal error:', err);
    return sendError(res, 500, 'internal', 'internal server error');
  });
  app.use('/api', api);

  // ---- The built app ----
  const distDir = options.distDir;
  if (distDir && existsSync(path.join(distDir, 'index.html'))) {
    app.use(
      express.static(distDir, {
        index: 'index.html',
        fallthrough: true,
        setHeaders: (res, filePath) => {
          if (filePath.endsWith('.wasm')) res.setHeader('Content-Type', 'application/wasm');
          if (filePath.endsWith('.mjs')) res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
          if (filePath.endsWith('index.html')) res.setHeader('Cache-Control', 'no-cache');
        },
      }),
    );
  } else {
    app.get('/', (_req, res) => {
      res.status(503).type('text/plain').send(`The app is not built (no ${distDir ?? 'dist'}/index.html). Run: npm run build (npm start does it for you).`);
    });
  }
  // No SPA fallback: a missing .wasm must be a 404, never index.html (ecosystem §1.7).
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found');
  });

  const sweepTimer = setInterval(() => disconnect(rooms.sweep()), Math.min(SWEEP_INTERVAL_MS, limits.roomTtlMs));
  sweepTimer.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (): number => (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  const urlHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;

  return {
    url: `${scheme}://${urlHost}:${port()}`,
    port: port(),
    rooms,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweepTimer);
        for (const c of liveClients.values()) c.getSocket()?.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function readTls(certPath: string, keyPath: string): { cert: string; key: string } {
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}
