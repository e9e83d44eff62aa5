/**
 * `window.__vi`: the small surface e2e tests and the network benchmark drive the app through.
 * It exposes services that exist anyway; it adds no behaviour of its own except the contract
 * runner, the raw-frame injector and the bench loops.
 */
import { CONTRACT_CASES, runContractCase, type ContractEnv, type ContractResult } from '../../net/collective-contract.js';
import type { MeshCollective } from '../../net/mesh/mesh-collective.js';
import type { HostService } from '../services/host-service.js';
import type { WorkerService } from '../services/worker-service.js';
import { BenchHooks } from './bench-hooks.js';

export interface ViTestHook {
  readonly role: 'host' | 'worker';
  readonly host: HostService | null;
  readonly worker: WorkerService | null;
  readonly contractCases: readonly string[];
  /** Runs one shared contract case on this worker's mesh (every worker must call it). */
  runContractCase(name: string, env: ContractEnv): Promise<ContractResult>;
  /** Sends raw bytes on the data channel to `rank`, bypassing framing (malformed-frame tests). */
  injectRaw(rank: number, bytes: readonly number[]): void;
  readonly bench: BenchHooks | null;
}

declare global {
  interface Window {
    __vi?: ViTestHook;
  }
}

export function installTestHook(role: 'host' | 'worker', host: HostService | null, worker: WorkerService | null): void {
  const mesh = (): MeshCollective => {
    const m = worker?.mesh;
    if (!m) throw new Error('this tab is not in a mesh (the host has not started a job)');
    return m;
  };
  window.__vi = {
    role,
    host,
    worker,
    contractCases: CONTRACT_CASES.map((c) => c.name),
    runContractCase: (name, env) => runContractCase(mesh(), name, env),
    injectRaw: (rank, bytes) => mesh().rawChannel(rank).send(new Uint8Array(bytes)),
    bench: worker
      ? new BenchHooks(mesh, () => {
          const hub = worker.peerHub;
          if (!hub) throw new Error('not connected');
          return hub;
        })
      : null,
  };
}
