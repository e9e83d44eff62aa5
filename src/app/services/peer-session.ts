/** Opens this tab's PeerJS Peer with the id and token the room API issued, same origin as the page. */
import { Peer } from 'peerjs';
import { PeerHub } from '../../net/mesh/peer-hub.js';
import type { PeerServerConfig } from './room-api.js';

export function openPeer(peerId: string, peerToken: string, server: PeerServerConfig, timeoutMs = 15_000): Promise<PeerHub> {
  const secure = location.protocol === 'https:';
  const peer = new Peer(peerId, {
    host: location.hostname,
    port: Number(location.port) || (secure ? 443 : 80),
    path: server.path,
    key: server.key,
    secure,
    token: peerToken,
    // LAN/offline: no public STUN/TURN (PeerJS's default config would try Google's and PeerJS's servers).
    config: { iceServers: [] },
    debug: 1,
  });
  const hub = new PeerHub(peer); // listens for connections from the first moment
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      peer.off('open', onOpen).off('error', onError);
      peer.destroy();
      reject(new Error(`signaling server did not accept peer ${peerId} within ${timeoutMs} ms`));
    }, timeoutMs);
    // Only an error before 'open' is fatal here: a later one (dialling a peer that is gone:
    // 'peer-unavailable') must not destroy the open peer, so this listener goes with 'open'.
    const onOpen = () => {
      clearTimeout(timer);
      peer.off('error', onError);
      resolve(hub);
    };
    const onError = (e: { type: string; message: string }) => {
      clearTimeout(timer);
      peer.off('open', onOpen);
      peer.destroy();
      reject(new Error(`signaling: ${e.type}: ${e.message}`));
    };
    peer.once('open', onOpen);
    peer.once('error', onError);
  });
}
