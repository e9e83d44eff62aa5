/**
 * The signaling server: one HTTP(S) port that serves the built app (dist/), the room API
 * (/api/rooms…) and the PeerJS PeerServer (/peerjs). Same origin for all three, so one TLS
 * certificate covers a LAN setup (WebGPU and WebCodecs need a secure context off localhost).
 *
 * Admission: the PeerServer's WebSocket accepts only a (peer id, token) pair the room API issued,
 * named once in its URL (ws `verifyClient`); a second check on `connection` terminates anything
 * that slipped through before PeerServer sees it. Every message then passes the SignalGuard
 * (room confinement, per-socket rate, bytes held for absent peers). Limits: limits.ts.
 * Imports nothing from src/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { ExpressPeerServer, type IClient } from 'peer';
import { WebSocketServer, type RawData, type ServerOptions, type WebSocket } from 'ws';
import { clientKey, resolveLimits, type ServerLimits } from './limits.js';
import { RoomError, RoomRegistry } from './rooms.js';
import { parsePeerQuery, SIGNAL_EXPIRE_CHECK_MS, SIGNAL_EXPIRE_MS, SignalGuard } from './signal-guard.js';

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
  /** Overrides of limits.ts's DEFAULT_LIMITS; each must be a positive integer. */
  readonly limits?: Partial<ServerLimits>;
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

const SWEEP_INTERVAL_MS = 30_000;

function log(line: string): void {
  console.error(`[signaling] ${new Date().toISOString()} ${line}`);
}

/** One line per (who, what) a minute, with a count of the rest: a hostile client must not be
 *  able to flood the server's log either. */
const LOG_EVERY_MS = 60_000;
const lastLogged = new Map<string, { at: number; suppressed: number }>();
function logThrottled(key: string, line: string): void {
  const t = Date.now();
  const seen = lastLogged.get(key);
  if (seen && t - seen.at < LOG_EVERY_MS) {
    seen.suppressed++;
    return;
  }
  if (lastLogged.size > 10_000) lastLogged.clear();
  lastLogged.set(key, { at: t, suppressed: 0 });
  log(seen?.suppressed ? `${line} (and ${seen.suppressed} more like it in the last minute)` : line);
}

const byteLengthOf = (data: RawData): number => (Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length);

/**
 * A WebSocketServer whose 'connection' event goes out only for sockets `gate` lets through, so
 * PeerServer never sees the others. (ws binds its emit at construction, so this has to be a
 * subclass rather than a patched instance.)
 */
class GatedWebSocketServer extends WebSocketServer {
  constructor(
    private readonly gate: (socket: WebSocket, req: http.IncomingMessage) => boolean,
    options: ServerOptions,
  ) {
    super(options);
  }

  override emit(event: string | symbol, ...args: any[]): boolean {
    if (event === 'connection' && !this.gate(args[0] as WebSocket, args[1] as http.IncomingMessage)) return false;
    return super.emit(event, ...args);
  }
}

/** Runs every message of `socket` past the guard before PeerServer's own listener sees it. */
function guardMessages(socket: WebSocket, senderId: string, guard: SignalGuard): void {
  const emit = socket.emit.bind(socket);
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== 'message') return emit(event, ...args);
    const data = args[0] as RawData;
    const verdict = guard.check(senderId, String(data), byteLengthOf(data));
    if (verdict.action === 'relay') return emit(event, ...args);
    const what = verdict.action === 'close' ? 'closed the socket of' : 'dropped a message from';
    logThrottled(`${senderId} ${verdict.reason.slice(0, 24)}`, `${what} ${senderId}: ${verdict.reason}`);
    if (verdict.action === 'close') socket.terminate();
    return false;
  }) as typeof socket.emit;
}

/** Cross-origin isolation on every response (ORT's wasm runs threads only in an isolated page). */
function isolationHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  next();
}

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

export async function startSignalingServer(options: ServerOptions_ = {}): Promise<SignalingServer> {
  const limits = resolveLimits(options.limits);
  const rooms = new RoomRegistry(limits);
  const app = express();
  app.disable('x-powered-by');
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, app) : http.createServer(app);
  const scheme = options.tls ? 'https' : 'http';

  app.use(isolationHeaders);

  // ---- PeerJS: only issued peer ids get a socket ----
  const liveClients = new Map<string, IClient>();
  // The one socket each peer id holds. PeerServer lets a newer socket of an id take over without
  // closing the older one, which would go on sending as that id, even after the id is revoked.
  const socketOf = new Map<string, WebSocket>();
  const guard = new SignalGuard({ limits, roomOfPeer: (id) => rooms.roomOfPeer(id), isConnected: (id) => liveClients.has(id) });
  const admitted = (url: string | undefined): string | null => {
    const q = parsePeerQuery(url);
    return q && q.key === PEER_KEY && rooms.admit(q.id, q.token) ? q.id : null;
  };
  const peerApp = ExpressPeerServer(server, {
    path: '/',
    key: PEER_KEY,
    allow_discovery: false,
    alive_timeout: options.peerAliveTimeoutMs ?? 60_000,
    expire_timeout: SIGNAL_EXPIRE_MS,
    cleanup_out_msgs: SIGNAL_EXPIRE_CHECK_MS,
    corsOptions: { origin: false },
    createWebSocketServer: (wsOptions: ServerOptions) => {
      const wss = new GatedWebSocketServer((socket, req) => {
        const id = admitted(req.url);
        if (id === null) {
          logThrottled(`${req.socket.remoteAddress} not admitted`, `terminated a socket from ${req.socket.remoteAddress} that was not admitted`);
          socket.terminate();
          return false;
        }
        guardMessages(socket, id, guard);
        socketOf.get(id)?.terminate();
        socketOf.set(id, socket);
        socket.once('close', () => socketOf.get(id) === socket && socketOf.delete(id));
        return true;
      }, {
        ...wsOptions,
        maxPayload: limits.maxSignalBytes,
        verifyClient: (info, done) => {
          if (admitted(info.req.url)) return done(true);
          done(false, 401, 'peer id not issued by the room API, or a malformed socket URL (join the room first)');
        },
      });
      return wss;
    },
  });
  // PeerServer re-emits every socket error (oversize frame, bad UTF-8, reserved bits) here; ws has
  // already closed that socket. Unheard, the event would end the process and every room with it.
  peerApp.on('error', (e: Error) => logThrottled(`socket error ${e.message.slice(0, 24)}`, `closed a socket on error: ${e.message}`));
  peerApp.on('connection', (client: IClient) => {
    liveClients.set(client.getId(), client);
    guard.delivered(client.getId());
    rooms.setConnected(client.getId(), true);
  });
  peerApp.on('disconnect', (client: IClient) => {
    if (liveClients.get(client.getId()) === client) liveClients.delete(client.getId());
    rooms.setConnected(client.getId(), false);
  });
  const disconnect = (peerIds: string[]): void => {
    for (const id of peerIds) {
      socketOf.get(id)?.terminate();
      guard.forget(id);
    }
  };
  app.use(PEER_PATH, peerApp);

  // ---- Room API ----
  const api = express.Router();
  // Only application/json: a page of another origin cannot send it without a CORS preflight,
  // which this server never grants, so it cannot spend a visitor's room quota.
  api.use((req, res, next) => {
    if (req.method === 'POST' && !req.is('application/json')) return sendError(res, 415, 'bad-content-type', 'the room API takes Content-Type: application/json');
    next();
  });
  api.use(express.json({ limit: limits.maxBodyBytes }));
  const origin = (req: Request): string => options.publicUrl ?? `${scheme}://${req.headers.host ?? `localhost:${port()}`}`;
  const body = (req: Request): Record<string, unknown> =>
    typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {};
  const bearer = (req: Request): string | undefined => /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];

  api.post('/rooms', (req, res) => {
    const created = rooms.create(clientKey(req.socket.remoteAddress));
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
  // The model packages this server serves (folders of dist/models/ with a manifest.json): the
  // dashboard lists them and reads each manifest itself.
  api.get('/models', (_req, res) => {
    res.json({ packages: listModelPackages(options.distDir) });
  });
  api.get('/health', (_req, res) => {
    res.json({ ok: true, rooms: rooms.roomCount });
  });
  api.use((_req, res) => sendError(res, 404, 'not-found', 'no such API route'));
  api.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof RoomError) return sendError(res, err.status, err.code, err.message);
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') return sendError(res, 413, 'too-large', `request body over ${limits.maxBodyBytes} bytes (maxBodyBytes)`);
    if (e.type === 'entity.parse.failed') return sendError(res, 400, 'bad-json', 'request body is not valid JSON');
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return sendError(res, e.status, 'bad-request', e.message ?? 'bad request');
    log(`internal error: ${(err as Error)?.stack ?? String(err)}`);
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
  // No SPA fallback: a missing .wasm must be a 404, never index.html (ORT would fail on the HTML
  // with "expected magic word" instead of naming the missing file).
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
        for (const socket of socketOf.values()) socket.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Package names are folder names a URL path can carry as is; anything else is not listed. */
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** `[{name, url}]` of dist/models/NAME/ folders that hold a manifest.json, sorted by name. */
export function listModelPackages(distDir: string | undefined): { name: string; url: string }[] {
  const models = distDir ? path.join(distDir, 'models') : null;
  if (!models || !existsSync(models)) return [];
  return readdirSync(models, { withFileTypes: true })
    .filter((d) => d.isDirectory() && PACKAGE_NAME.test(d.name) && existsSync(path.join(models, d.name, 'manifest.json')))
    .map((d) => ({ name: d.name, url: `/models/${d.name}/` }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function readTls(certPath: string, keyPath: string): { cert: string; key: string } {
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}
