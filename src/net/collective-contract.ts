/**
 * The shared contract suite for every `Collective` (one suite, so the mesh is held to exactly what
 * the in-process reference does). Each case runs on every rank at
 * once and throws on a violation. Vitest runs it against `InProcessCollective`
 * (in-process-collective.test.ts); the e2e runs the same cases against `MeshCollective` in real
 * tabs (e2e/mesh.spec.ts through window.__vi). No test-framework imports: it is bundled into the app.
 *
 * Payloads are random bit patterns (NaN payloads included), so "bit-exact" means every byte.
 */
import { CollectiveError, type Collective, type MessageTag, type WireDType, type WireTensor } from '../engine/collective.js';
import { mulberry32 } from '../testing/prng.js';
import { DTYPE_BYTES, elementCount, tensorBytes, tensorOverBuffer } from './wire-tensor.js';

export interface ContractEnv {
  /** The timeout the collective was built with (the timeout case waits this long). */
  readonly timeoutMs: number;
  /** Added to every jobId, so the suite can run several times on one collective. */
  readonly jobOffset?: number;
}

export interface ContractCase {
  readonly name: string;
  /** Minimum world size for the case to make sense. */
  readonly minWorld: number;
  run(c: Collective, tag: (step: number, pointId: number, kind?: MessageTag['kind']) => MessageTag, env: ContractEnv): Promise<void>;
}

// ------------------------------------------------------------------ deterministic data

/** A tensor of random bits for (seed, dtype, shape): any rank can regenerate what another sent. */
export function randomTensor<D extends WireDType>(seed: number, dtype: D, shape: readonly number[]): WireTensor<D> {
  const bytes = elementCount(shape) * DTYPE_BYTES[dtype];
  const buf = new ArrayBuffer(bytes);
  const words = new Uint32Array(buf, 0, Math.floor(bytes / 4));
  const next = mulberry32(seed);
  for (let i = 0; i < words.length; i++) words[i] = next();
  const tail = new Uint8Array(buf, words.length * 4);
  for (let i = 0; i < tail.length; i++) tail[i] = next() & 0xff;
  return tensorOverBuffer(dtype, shape, buf);
}

function fail(message: string): never {
  throw new Error(message);
}

export function assertSameTensor(got: WireTensor | null | undefined, want: WireTensor, what: string): void {
  if (!got) fail(`${what}: got nothing`);
  if (got.dtype !== want.dtype) fail(`${what}: dtype ${got.dtype}, want ${want.dtype}`);
  if (JSON.stringify(got.shape) !== JSON.stringify(want.shape)) fail(`${what}: shape ${JSON.stringify(got.shape)}, want ${JSON.stringify(want.shape)}`);
  const a = tensorBytes(got);
  const b = tensorBytes(want);
  if (a.length !== b.length) fail(`${what}: ${a.length} bytes, want ${b.length}`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) fail(`${what}: byte ${i} is ${a[i]}, want ${b[i]}`);
}

async function expectError(p: Promise<unknown> | (() => Promise<unknown>), code: CollectiveError['code'], what: string): Promise<CollectiveError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof CollectiveError && e.code === code) return e;
    fail(`${what}: expected CollectiveError ${code}, got ${e instanceof Error ? `${e.name} ${(e as CollectiveError).code ?? ''} ${e.message}` : String(e)}`);
  }
  fail(`${what}: expected CollectiveError ${code}, but it succeeded`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seeds are a function of (case, rank, direction), so receivers can regenerate what was sent. */
const seedOf = (caseNo: number, rank: number, part: number) => caseNo * 1_000_003 + rank * 101 + part;

// ------------------------------------------------------------------ the cases

function haloCase(name: string, caseNo: number, shape: readonly number[]): ContractCase {
  return {
    name,
    minWorld: 2,
    async run(c, tag) {
      const { rank, worldSize: w } = c;
      const mk = (r: number, dir: number) => randomTensor(seedOf(caseNo, r, dir), 'float32', shape);
      const res = await c.exchangeHalo(tag(0, 0, 'halo'), rank > 0 ? mk(rank, 0) : null, rank < w - 1 ? mk(rank, 1) : null);
      if (rank === 0) {
        if (res.fromLeft !== null) fail('rank 0 got a left halo');
      } else assertSameTensor(res.fromLeft, mk(rank - 1, 1), `rank ${rank} fromLeft`);
      if (rank === w - 1) {
        if (res.fromRight !== null) fail('last rank got a right halo');
      } else assertSameTensor(res.fromRight, mk(rank + 1, 0), `rank ${rank} fromRight`);
    },
  };
}

export const CONTRACT_CASES: readonly ContractCase[] = [
  {
    name: 'send/recv by tag, in either order',
    minWorld: 2,
    async run(c, tag) {
      const w = c.worldSize;
      const next = (c.rank + 1) % w;
      const prev = (c.rank + w - 1) % w;
      const mk = (r: number, step: number) => randomTensor(seedOf(1, r, step), 'float32', [3, 5]);
      // A receive posted before the message exists...
      const early = c.recv(prev, tag(7, 1, 'p2p'));
      await Promise.all([c.send(next, tag(7, 1, 'p2p'), mk(c.rank, 7)), c.send(next, tag(8, 1, 'p2p'), mk(c.rank, 8))]);
      // ...and messages that waited in the inbox, claimed out of order.
      assertSameTensor(await c.recv(prev, tag(8, 1, 'p2p')), mk(prev, 8), 'step 8');
      assertSameTensor(await early, mk(prev, 7), 'step 7');
    },
  },
  haloCase('halo exchange, small float32', 2, [2, 4, 2, 8, 8]),
  haloCase('halo exchange over 1 MB (chunked)', 3, [2, 64, 4, 16, 32]),
  {
    name: 'all-gather with empty and uneven payloads (one over 1 MB)',
    minWorld: 1,
    async run(c, tag) {
      const shapeOf = (r: number) => (r === 1 ? [300_000] : [r, 3, 5]); // rank 0: [0, 3, 5], empty
      const mk = (r: number) => randomTensor(seedOf(4, r, 0), 'float32', shapeOf(r));
      const all = await c.allGather(tag(0, 0, 'global-gather'), mk(c.rank));
      if (all.length !== c.worldSize) fail(`got ${all.length} parts, want ${c.worldSize}`);
      for (let r = 0; r < c.worldSize; r++) assertSameTensor(all[r], mk(r), `part of rank ${r}`);
    },
  },
  {
    name: 'all-gather of every wire dtype',
    minWorld: 1,
    async run(c, tag) {
      const dtypes: WireDType[] = ['float32', 'float64', 'float16', 'int32', 'uint8'];
      for (const [i, dtype] of dtypes.entries()) {
        const mk = (r: number) => randomTensor(seedOf(5, r, i), dtype, [2, 3 + r]);
        const all = await c.allGather(tag(i, 0, 'global-gather'), mk(c.rank));
        for (let r = 0; r < c.worldSize; r++) assertSameTensor(all[r], mk(r), `${dtype} part of rank ${r}`);
      }
    },
  },
  {
    name: 'all-reduce of float64 sums: rank order, identical everywhere',
    minWorld: 1,
    async run(c, tag) {
      const n = 1000;
      const mk = (r: number) => {
        const v = new Float64Array(n);
        const next = mulberry32(seedOf(6, r, 0));
        for (let i = 0; i < n; i++) v[i] = ((next() / 2 ** 32 - 0.5) * 10 ** ((next() % 33) - 16)) * (i % 7 === 0 ? 1e16 : 1);
        return v;
      };
      const want = new Float64Array(n);
      for (let r = 0; r < c.worldSize; r++) {
        const v = mk(r);
        for (let i = 0; i < n; i++) want[i]! += v[i]!;
      }
      const got = await c.allReduceSum(tag(0, 0, 'stats-reduce'), mk(c.rank));
      assertSameTensor({ dtype: 'float64', shape: [n], data: got }, { dtype: 'float64', shape: [n], data: want }, 'sum');
    },
  },
  {
    name: 'barrier waits for the slowest rank',
    minWorld: 2,
    async run(c, tag, env) {
      const delayMs = Math.min(300, env.timeoutMs / 3);
      await c.barrier(tag(0, 0, 'barrier'));
      const t0 = performance.now();
      if (c.rank === 0) await sleep(delayMs);
      await c.barrier(tag(1, 0, 'barrier'));
      const waited = performance.now() - t0;
      if (c.rank !== 0 && waited < delayMs * 0.6) fail(`rank ${c.rank} left the barrier after ${waited.toFixed(0)} ms, before rank 0 entered (${delayMs} ms)`);
    },
  },
  {
    name: 'no aliasing between ranks',
    minWorld: 2,
    async run(c, tag) {
      const w = c.worldSize;
      const mine = randomTensor(seedOf(8, c.rank, 0), 'float32', [64]);
      await c.send((c.rank + 1) % w, tag(0, 0, 'p2p'), mine);
      (mine.data as Float32Array).fill(0); // the sender reuses its buffer at once
      const got = await c.recv((c.rank + w - 1) % w, tag(0, 0, 'p2p'));
      assertSameTensor(got, randomTensor(seedOf(8, (c.rank + w - 1) % w, 0), 'float32', [64]), 'received after sender overwrote');
      const input = randomTensor(seedOf(8, c.rank, 1), 'uint8', [16]);
      const all = await c.allGather(tag(1, 0, 'global-gather'), input);
      if (all[c.rank]!.data === input.data) fail('allGather returned my own buffer, not a copy');
    },
  },
  {
    name: 'invalid arguments are refused with invalid-argument',
    minWorld: 2,
    async run(c, tag) {
      const t = randomTensor(1, 'float32', [4]);
      await expectError(c.send(c.rank, tag(0, 0, 'p2p'), t), 'invalid-argument', 'send to self');
      await expectError(c.send(c.worldSize, tag(0, 0, 'p2p'), t), 'invalid-argument', 'send out of range');
      await expectError(c.send((c.rank + 1) % c.worldSize, tag(0, 0, 'p2p'), { dtype: 'float32', shape: [5], data: new Float32Array(4) }), 'invalid-argument', 'shape/data mismatch');
      await expectError(c.send((c.rank + 1) % c.worldSize, { jobId: -1, step: 0, pointId: 0, kind: 'p2p' }, t), 'invalid-argument', 'negative jobId');
      const left = c.rank === 0 ? t : null; // wrong on purpose: rank 0 has no left neighbour, the others have one
      await expectError(() => c.exchangeHalo(tag(0, 0, 'halo'), left, c.rank < c.worldSize - 1 ? t : null), 'invalid-argument', 'halo with wrong neighbours');
    },
  },
  {
    name: 'recv of a tag nobody sends times out with a clear error',
    minWorld: 2,
    async run(c, tag, env) {
      const t0 = performance.now();
      const e = await expectError(c.recv((c.rank + 1) % c.worldSize, tag(0, 99, 'p2p')), 'timeout', 'recv of an unsent tag');
      const waited = performance.now() - t0;
      if (waited < env.timeoutMs * 0.9) fail(`timed out after ${waited.toFixed(0)} ms, before the ${env.timeoutMs} ms timeout`);
      if (!/point 99/.test(e.message)) fail(`timeout message does not name the tag: ${e.message}`);
      await c.barrier(tag(1, 0, 'barrier')); // leave together
    },
  },
];

export interface ContractResult {
  readonly name: string;
  readonly ok: boolean;
  readonly skipped?: boolean;
  readonly error?: string;
  readonly ms: number;
}

/** Runs one case on this rank (all ranks must call it with the same name and env). */
export async function runContractCase(c: Collective, name: string, env: ContractEnv): Promise<ContractResult> {
  const index = CONTRACT_CASES.findIndex((k) => k.name === name);
  const k = CONTRACT_CASES[index];
  if (!k) return { name, ok: false, error: `no contract case named ${JSON.stringify(name)}`, ms: 0 };
  if (c.worldSize < k.minWorld) return { name, ok: true, skipped: true, ms: 0 };
  const jobId = (env.jobOffset ?? 0) + index + 1;
  const tag = (step: number, pointId: number, kind: MessageTag['kind'] = 'p2p'): MessageTag => ({ jobId, step, pointId, kind });
  const t0 = performance.now();
  try {
    await k.run(c, tag, env);
    return { name, ok: true, ms: performance.now() - t0 };
  } catch (e) {
    return { name, ok: false, error: e instanceof Error ? e.message : String(e), ms: performance.now() - t0 };
  }
}

/** Runs every case in order on this rank. */
export async function runContract(c: Collective, env: ContractEnv): Promise<ContractResult[]> {
  const out: ContractResult[] = [];
  for (const k of CONTRACT_CASES) out.push(await runContractCase(c, k.name, env));
  return out;
}
