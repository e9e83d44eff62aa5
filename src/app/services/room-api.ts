/** The signaling server's room API, as the browser calls it (same origin). */

export interface PeerServerConfig {
  readonly path: string;
  readonly key: string;
}

export interface CreatedRoom {
  readonly roomId: string;
  readonly hostSecret: string;
  readonly joinToken: string;
  readonly joinUrl: string;
  readonly hostPeerId: string;
  readonly hostPeerToken: string;
  readonly expiresAt: number;
  readonly peer: PeerServerConfig;
}

export interface JoinedRoom {
  readonly roomId: string;
  readonly peerId: string;
  readonly peerToken: string;
  readonly hostPeerId: string;
  readonly expiresAt: number;
  readonly peer: PeerServerConfig;
}

export interface RoomMember {
  readonly peerId: string;
  readonly role: 'host' | 'worker';
  readonly name: string;
  readonly joinedAt: number;
  readonly connected: boolean;
}

/** An API refusal, with the server's code (bad-token, room-full, …) and message. */
export class RoomApiError extends Error {
  override readonly name = 'RoomApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `keepalive`: the request outlives the page (a leave sent from `pagehide`). */
async function call<T>(method: string, path: string, body?: unknown, bearer?: string, keepalive = false): Promise<T> {
  const res = await fetch(`/api${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(bearer && { authorization: `Bearer ${bearer}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok) throw new RoomApiError(res.status, json.error?.code ?? 'http', json.error?.message ?? `HTTP ${res.status}`);
  return json as T;
}

export const roomApi = {
  create: () => call<CreatedRoom>('POST', '/rooms', {}),
  join: (roomId: string, token: string, name: string) => call<JoinedRoom>('POST', `/rooms/${encodeURIComponent(roomId)}/join`, { token, name }),
  members: async (roomId: string, hostSecret: string) => (await call<{ members: RoomMember[] }>('GET', `/rooms/${encodeURIComponent(roomId)}/members`, undefined, hostSecret)).members,
  leave: (roomId: string, peerId: string, peerToken: string) => call<void>('POST', `/rooms/${encodeURIComponent(roomId)}/leave`, { peerId, peerToken }, undefined, true),
};
