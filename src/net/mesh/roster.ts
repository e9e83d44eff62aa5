/**
 * A roster: which peer id holds which rank in one mesh. Decided by the host, sent to the workers
 * in the control channel's `start` message; validated here before anyone dials anybody.
 */
import { CollectiveError } from '../../engine/collective.js';

/** 16 workers per room (signaling default) with headroom; rank is a u16 on the wire. */
export const MAX_WORLD_SIZE = 64;

export class Roster {
  readonly peerIds: readonly string[];

  constructor(peerIds: readonly unknown[], readonly selfPeerId: string) {
    if (!Array.isArray(peerIds) || peerIds.length < 1 || peerIds.length > MAX_WORLD_SIZE) {
      throw new CollectiveError('invalid-argument', `a roster lists 1..${MAX_WORLD_SIZE} peer ids, got ${Array.isArray(peerIds) ? peerIds.length : typeof peerIds}`);
    }
    if (peerIds.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 128)) throw new CollectiveError('invalid-argument', 'roster entries must be peer id strings');
    if (new Set(peerIds).size !== peerIds.length) throw new CollectiveError('invalid-argument', 'roster lists a peer id twice');
    this.peerIds = Object.freeze([...(peerIds as string[])]);
    if (this.rankOf(selfPeerId) < 0) throw new CollectiveError('invalid-argument', `this tab (${selfPeerId}) is not in the roster`);
  }

  get worldSize(): number {
    return this.peerIds.length;
  }

  get rank(): number {
    return this.rankOf(this.selfPeerId);
  }

  rankOf(peerId: string): number {
    return this.peerIds.indexOf(peerId);
  }
}
