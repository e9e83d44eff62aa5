/**
 * The counter-based RNG (docs/rng.md): every random number of a render is a pure function of
 * (seed, purpose, step, global frame, element index), bit-identical to `training/rng.py`.
 *
 * Owns: noise for initial latents and stochastic samplers. Must not import anything but
 * `errors.ts`; must not call Math.log / Math.cos / Math.random (libm results differ between
 * engines and from numpy; see docs/rng.md §3 for the fixed operation order).
 */

import { check, isUint32, RngError } from './errors.js';

/** Purposes select independent streams. Fixed forever: append, never renumber. */
export const PURPOSE_INITIAL_LATENT = 1;
export const PURPOSE_SAMPLER_NOISE = 2;

/** One stream. `step` is the index into `scheduler.timesteps` (0 for the initial latent). */
export interface NoiseKey {
  readonly seed: number; // uint32
  readonly purpose: number; // uint32
  readonly step: number; // uint32
  readonly globalFrame: number; // uint32
}

// ---------------------------------------------------------------------------------------------
// integer part (uint32, wraparound)

const KEY_INIT = 0x243f6a88; // first digits of pi
const GOLDEN = 0x9e3779b9; // 2^32 / phi
const LANE_A = 1;
const LANE_B = 2;

/** Chris Wellons' lowbias32: uint32 → uint32. */
export function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function absorb(key: number, value: number): number {
  return lowbias32((key ^ lowbias32((value + GOLDEN) >>> 0)) >>> 0);
}

function word(k: number, i: number): number {
  return lowbias32((lowbias32((i ^ k) >>> 0) + k) >>> 0);
}

function checkKey(key: NoiseKey, where: string): void {
  for (const name of ['seed', 'purpose', 'step', 'globalFrame'] as const) {
    check(isUint32(key[name]), RngError, where, `key.${name}`, key[name], 'an integer in [0, 2^32)');
  }
}

function checkRange(count: number, offset: number, where: string): void {
  check(Number.isSafeInteger(count) && count >= 0, RngError, where, 'count', count, 'a non-negative integer');
  check(isUint32(offset), RngError, where, 'offset', offset, 'an integer in [0, 2^32)');
  check(offset + count <= 2 ** 32, RngError, where, 'offset + count', offset + count, 'at most 2^32 (element indices are uint32)');
}

/** The uint32 key of one (seed, purpose, step, globalFrame) stream. */
export function streamKey(key: NoiseKey): number {
  checkKey(key, 'streamKey');
  let k = KEY_INIT;
  k = absorb(k, key.seed);
  k = absorb(k, key.purpose);
  k = absorb(k, key.step);
  k = absorb(k, key.globalFrame);
  return k;
}

/** The two uint32 words (a: radius, b: angle) of elements offset .. offset+count-1. */
export function uint32Words(key: NoiseKey, count: number, offset = 0): { a: Uint32Array; b: Uint32Array } {
  checkRange(count, offset, 'uint32Words');
  const k = streamKey(key);
  const keyA = absorb(k, LANE_A);
  const keyB = absorb(k, LANE_B);
  const a = new Uint32Array(count);
  const b = new Uint32Array(count);
  for (let j = 0; j < count; j++) {
    const i = (offset + j) >>> 0;
    a[j] = word(keyA, i);
    b[j] = word(keyB, i);
  }
  return { a, b };
}

// ---------------------------------------------------------------------------------------------
// float part (float64, fixed order; the literals are the ones in training/rng.py)

const LN2 = 0.6931471805599453;
const TWO_PI = 6.283185307179586;
const SQRT_HALF = 0.7071067811865476;
const TWO_POW_M32 = 1 / 4294967296; // exactly 2^-32
// prettier-ignore
const LN_COEFFS = [
  1.0, 0.3333333333333333, 0.2, 0.14285714285714285, 0.1111111111111111, 0.09090909090909091,
  0.07692307692307693, 0.06666666666666667, 0.058823529411764705, 0.05263157894736842,
  0.047619047619047616, 0.043478260869565216,
];
// prettier-ignore
const SIN_COEFFS = [
  1.0, -0.16666666666666666, 0.008333333333333333, -0.0001984126984126984, 2.7557319223985893e-6,
  -2.505210838544172e-8, 1.6059043836821613e-10, -7.647163731819816e-13, 2.8114572543455206e-15,
];
// prettier-ignore
const COS_COEFFS = [
  1.0, -0.5, 0.041666666666666664, -0.001388888888888889, 2.48015873015873e-5,
  -2.755731922398589e-7, 2.08767569878681e-9, -1.1470745597729725e-11, 4.779477332387385e-14,
  -1.5619206968586225e-16,
];
/** POW2_NEG[e] = 2^-e, e = 0..32, built by exact halving. */
const POW2_NEG: readonly number[] = (() => {
  const t = [1];
  for (let e = 1; e <= 32; e++) t.push(t[e - 1]! / 2);
  return t;
})();

function horner(x: number, coeffs: readonly number[]): number {
  let p = coeffs[coeffs.length - 1]!;
  for (let j = coeffs.length - 2; j >= 0; j--) {
    p = p * x;
    p = p + coeffs[j]!;
  }
  return p;
}

/** ln(u1), u1 = (a + 0.5)·2^-32. */
function lnOfWord(a: number): number {
  const x = a + 0.5; // exact
  let e = a === 0 ? 0 : 32 - Math.clz32(a); // x = m·2^e, m in [0.5, 1)
  let m = x * POW2_NEG[e]!; // exact
  if (m < SQRT_HALF) {
    m = m * 2;
    e = e - 1;
  }
  const k = e - 32;
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  const lnm = (s + s) * horner(s2, LN_COEFFS);
  return k * LN2 + lnm;
}

/** cos(2π·b·2^-32) by exact quadrant reduction on the integer b. */
function cosOfWord(b: number): number {
  const q = b >>> 30;
  const r = b & 0x3fffffff;
  const swap = r > 0x20000000;
  const n = swap ? 0x40000000 - r : r;
  const phi = n * TWO_POW_M32 * TWO_PI; // (n·2^-32)·2π, left to right
  const x2 = phi * phi;
  const useCos = ((q & 1) === 0) !== swap;
  const v = useCos ? horner(x2, COS_COEFFS) : phi * horner(x2, SIN_COEFFS);
  return q === 1 || q === 2 ? -v : v;
}

/**
 * Standard normals of elements offset .. offset+count-1 of one stream, as float32:
 * z = sqrt(-2 ln u1)·cos(2π u2) (Box–Muller, cosine branch). Writes into `out` if given.
 */
export function normal(key: NoiseKey, count: number, offset = 0, out?: Float32Array): Float32Array {
  checkRange(count, offset, 'normal');
  if (out !== undefined) check(out.length === count, RngError, 'normal', 'out.length', out.length, `equal to count (${count})`, 'shape-mismatch');
  const k = streamKey(key);
  const keyA = absorb(k, LANE_A);
  const keyB = absorb(k, LANE_B);
  const z = out ?? new Float32Array(count);
  for (let j = 0; j < count; j++) {
    const i = (offset + j) >>> 0;
    const lnU1 = lnOfWord(word(keyA, i));
    z[j] = Math.sqrt(lnU1 * -2) * cosOfWord(word(keyB, i)); // Float32Array store rounds to nearest even
  }
  return z;
}

/**
 * Normals for several global frames, frame-major: Float32Array [globalFrames.length · perFrameSize],
 * row f = normal({seed, purpose, step, globalFrame: globalFrames[f]}, perFrameSize).
 */
export function framesNormal(
  seed: number,
  purpose: number,
  step: number,
  globalFrames: readonly number[],
  perFrameSize: number,
): Float32Array {
  check(Number.isSafeInteger(perFrameSize) && perFrameSize >= 0, RngError, 'framesNormal', 'perFrameSize', perFrameSize, 'a non-negative integer');
  const out = new Float32Array(globalFrames.length * perFrameSize);
  globalFrames.forEach((globalFrame, f) => {
    normal({ seed, purpose, step, globalFrame }, perFrameSize, 0, out.subarray(f * perFrameSize, (f + 1) * perFrameSize));
  });
  return out;
}

/** x_T of the given global frames: [frames, C·H·W] frame-major (48·8·8 = 3072 for the embedded model). */
export function initialLatent(seed: number, globalFrames: readonly number[], perFrameSize: number): Float32Array {
  return framesNormal(seed, PURPOSE_INITIAL_LATENT, 0, globalFrames, perFrameSize);
}

/** Sampler noise at step index `stepIndex` for the given global frames, frame-major. */
export function samplerNoise(seed: number, stepIndex: number, globalFrames: readonly number[], perFrameSize: number): Float32Array {
  return framesNormal(seed, PURPOSE_SAMPLER_NOISE, stepIndex, globalFrames, perFrameSize);
}
