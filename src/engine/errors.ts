/**
 * Typed errors of the engine's building blocks (RNG, schedulers, prompt schedule, partition,
 * dual-scope attention). Each carries a string `code` that survives crossing a worker or peer
 * boundary as data (`{code, message}`, never `toString()` text, which loses the code); messages
 * name the function, the argument, its value and the rule it broke. Imports nothing.
 */

export type EngineErrorCode =
  | 'invalid-argument' // an argument breaks a stated rule (type, range, shape)
  | 'video-too-short' // partition: fewer frames than ranks × minimum clip length
  | 'video-too-long' // partition: more frames than the ranks' memory can hold together
  | 'invalid-prompt-schedule' // prompt schedule entries break an ordering rule
  | 'invalid-partition' // a partition (e.g. received from the network) is not a valid cover
  | 'not-initialized' // scheduler: step before setTimesteps
  | 'unknown-timestep' // scheduler: timestep not in the list
  | 'unexpected-timestep' // scheduler: timestep out of order for a multistep solver
  | 'finished' // scheduler: all steps done
  | 'noise-required' // scheduler: a stochastic sampler called without noise
  | 'shape-mismatch' // arrays of different lengths
  | 'bad-state'; // scheduler state that does not fit this scheduler

export class EngineError extends Error {
  override readonly name: string = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The form that crosses worker and peer boundaries. */
  toData(): { code: EngineErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export class RngError extends EngineError {
  override readonly name = 'RngError';
}
export class SchedulerError extends EngineError {
  override readonly name = 'SchedulerError';
}
export class PromptScheduleError extends EngineError {
  override readonly name = 'PromptScheduleError';
}
export class PartitionError extends EngineError {
  override readonly name = 'PartitionError';
}
export class DualScopeError extends EngineError {
  override readonly name = 'DualScopeError';
}

/** A short, safe rendering of a bad value for a message (arrays shortened, strings quoted). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) {
    const head = value.slice(0, 8).map(describeValue).join(', ');
    return `[${head}${value.length > 8 ? `, ... (${value.length} items)` : ''}]`;
  }
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<number>).length})`;
  return typeof value;
}

/** Throws `ErrorClass(code, "<where>: <name> must be <rule>, got <value>")` unless `ok`. */
export function check(
  ok: boolean,
  ErrorClass: new (code: EngineErrorCode, message: string) => EngineError,
  where: string,
  name: string,
  value: unknown,
  rule: string,
  code: EngineErrorCode = 'invalid-argument',
): asserts ok {
  if (!ok) throw new ErrorClass(code, `${where}: ${name} must be ${rule}, got ${describeValue(value)}`);
}

export function isUint32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

export function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function isPositiveInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 1;
}
