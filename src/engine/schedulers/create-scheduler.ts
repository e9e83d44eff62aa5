/**
 * Builds a scheduler from a `SamplerSpec` or rebuilds one from a saved `SchedulerState` (resume
 * after losing a tab). Imports the two implementations and the contract only.
 */

import { SchedulerError } from '../errors.js';
import { DDIMScheduler } from './ddim.js';
import { DPMSolverPP2MScheduler } from './dpm-solver-pp-2m.js';
import type { SamplerSpec, Scheduler, SchedulerState } from './scheduler.js';

export function createScheduler(spec: SamplerSpec): Scheduler {
  switch (spec.kind) {
    case 'ddim':
      return new DDIMScheduler({ eta: spec.eta, config: spec.config ?? {} });
    case 'dpm-solver++-2m':
      return new DPMSolverPP2MScheduler({ algorithmType: spec.algorithmType, config: spec.config ?? {} });
    default:
      throw new SchedulerError('invalid-argument', `createScheduler: spec.kind must be 'ddim' or 'dpm-solver++-2m', got ${JSON.stringify((spec as { kind?: unknown }).kind)}`);
  }
}

export function schedulerFromState(state: SchedulerState): Scheduler {
  const s =
    state.kind === 'ddim'
      ? createScheduler({ kind: 'ddim', eta: state.eta, config: state.config })
      : state.kind === 'dpm-solver++-2m'
        ? createScheduler({ kind: 'dpm-solver++-2m', algorithmType: state.algorithmType, config: state.config })
        : undefined;
  if (s === undefined) throw new SchedulerError('bad-state', `schedulerFromState: unknown state.kind ${JSON.stringify((state as { kind?: unknown }).kind)}`);
  s.loadState(state);
  return s;
}
