/**
 * The host's list of workers: the room API's members merged with what each said over its control
 * link (adapter, engine, errors). Pure; HostService polls the room API and applies the result.
 */
import type { ErrorData } from '../../engine/worker/protocol.js';
import type { AdapterReport } from '../protocol.js';
import type { MemberEngine } from './member-engine-report.js';
import type { RoomMember } from './room-api.js';

export interface WorkerEntry {
  readonly peerId: string;
  readonly name: string;
  readonly joinedAt: number;
  /** Connected to signaling (room API view). */
  readonly signaling: boolean;
  /** Control channel open and the worker said hello. */
  readonly controlOpen: boolean;
  readonly adapter?: AdapterReport;
  /** Its engine outside jobs: loading the model, measuring, ready at a speed, or failed. */
  readonly engine?: MemberEngine;
  readonly lastError?: ErrorData;
  /** Why its control link closed, once it has. */
  readonly lostReason?: string;
}

/**
 * The workers after a poll of the room's members; `left` lists those whose control link must close.
 * A closed tab drops its signaling socket at once, while WebRTC notices only after ICE gives up
 * (tens of seconds): leaving signaling counts as leaving the room.
 */
export function mergeRoomMembers(known: readonly WorkerEntry[], members: readonly RoomMember[]): { workers: WorkerEntry[]; left: string[] } {
  const old = new Map(known.map((w) => [w.peerId, w]));
  const left: string[] = [];
  const workers = members
    .filter((m) => m.role === 'worker')
    .map((m): WorkerEntry => {
      const was = old.get(m.peerId);
      if (was?.signaling && was.controlOpen && !m.connected) {
        left.push(m.peerId);
        return { ...was, signaling: false, controlOpen: false };
      }
      return { controlOpen: false, ...was, peerId: m.peerId, name: m.name, joinedAt: m.joinedAt, signaling: m.connected };
    });
  return { workers, left };
}
