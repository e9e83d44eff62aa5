"""Counter-based normal RNG, bit-identical to src/engine/rng.ts (spec: docs/rng.md).

Owns: the noise of the whole system. Every random number in a render is a pure function of
(seed, purpose, step, global frame, element index), so the video does not depend on which tab
(or which process) draws it. Imports numpy only.

Bit-exactness rules (see docs/rng.md): integer hashing in uint32 with wraparound; the float part
uses only IEEE float64 +, -, *, /, sqrt and exact power-of-two scaling, in one fixed order, with
the polynomial coefficients written as the same decimal literals in both languages. No libm
(log, cos) is called, because libm results differ between platforms and from V8's Math.*.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "PURPOSE_INITIAL_LATENT",
    "PURPOSE_SAMPLER_NOISE",
    "stream_key",
    "uint32_words",
    "normal",
    "frames_normal",
    "initial_latent",
    "sampler_noise",
]

# Purposes: fixed forever (they select independent streams). Append, never renumber.
PURPOSE_INITIAL_LATENT = 1
PURPOSE_SAMPLER_NOISE = 2

_M32 = 0xFFFFFFFF
_KEY_INIT = 0x243F6A88  # first digits of pi: the key before anything is absorbed
_GOLDEN = 0x9E3779B9  # 2^32 / phi: offsets each absorbed value so that 0 is not a fixed point
_LANE_A = 1  # absorbed into the stream key to make the key of word a (radius)
_LANE_B = 2  # ... and of word b (angle)

# float64 constants (shortest round-trip decimal; parsed identically by Python and JS)
_LN2 = 0.6931471805599453
_TWO_PI = 6.283185307179586
_SQRT_HALF = 0.7071067811865476
_TWO_POW_M32 = 2.3283064365386963e-10  # exactly 2^-32
# ln(m) = 2 s * sum_k s^(2k) / (2k+1), s = (m-1)/(m+1), |s| <= 0.1716 (m in [sqrt(1/2), sqrt(2)))
_LN_COEFFS = (
    1.0, 0.3333333333333333, 0.2, 0.14285714285714285, 0.1111111111111111, 0.09090909090909091,
    0.07692307692307693, 0.06666666666666667, 0.058823529411764705, 0.05263157894736842,
    0.047619047619047616, 0.043478260869565216,
)
# sin(x) = x * sum_k (-1)^k x^(2k) / (2k+1)!, cos(x) = sum_k (-1)^k x^(2k) / (2k)!, x in [0, pi/4]
_SIN_COEFFS = (
    1.0, -0.16666666666666666, 0.008333333333333333, -0.0001984126984126984, 2.7557319223985893e-06,
    -2.505210838544172e-08, 1.6059043836821613e-10, -7.647163731819816e-13, 2.8114572543455206e-15,
)
_COS_COEFFS = (
    1.0, -0.5, 0.041666666666666664, -0.001388888888888889, 2.48015873015873e-05,
    -2.755731922398589e-07, 2.08767569878681e-09, -1.1470745597729725e-11, 4.779477332387385e-14,
    -1.5619206968586225e-16,
)


# ---------------------------------------------------------------------------------------------
# integer part


def _lowbias32_int(x: int) -> int:
    """Chris Wellons' lowbias32 on a Python int (uint32 in, uint32 out)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


def _lowbias32_arr(x: np.ndarray) -> np.ndarray:
    """lowbias32 on a uint32 array (numpy array arithmetic wraps modulo 2^32)."""
    x = x.astype(np.uint32, copy=True)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def _absorb(key: int, value: int) -> int:
    """key' = lowbias32(key XOR lowbias32(value + GOLDEN)). A bijection in key and in value."""
    return _lowbias32_int(key ^ _lowbias32_int((value + _GOLDEN) & _M32))


def _check_u32(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"rng: {name} must be an integer in [0, 2^32), got {value!r}")
    value = int(value)
    if not 0 <= value <= _M32:
        raise ValueError(f"rng: {name} must be in [0, 2^32), got {value}")
    return value


def stream_key(seed: int, purpose: int, step: int, frame: int) -> int:
    """The uint32 key of one (seed, purpose, step, global frame) stream."""
    key = _KEY_INIT
    for name, value in (("seed", seed), ("purpose", purpose), ("step", step), ("frame", frame)):
        key = _absorb(key, _check_u32(name, value))
    return key


def uint32_words(seed: int, purpose: int, step: int, frame: int, count: int, offset: int = 0):
    """The two uint32 words (a, b) of elements offset .. offset+count-1, each [count] uint32.

    word(k, i) = lowbias32(lowbias32(i XOR k) + k), with k = keyA for a and keyB for b.
    """
    key = stream_key(seed, purpose, step, frame)
    count = _check_count(count, offset)
    key_a = _absorb(key, _LANE_A)
    key_b = _absorb(key, _LANE_B)
    index = (np.arange(count, dtype=np.uint64) + np.uint64(offset)).astype(np.uint32)

    def word(k: int) -> np.ndarray:
        h = _lowbias32_arr(index ^ np.uint32(k))
        h += np.uint32(k)  # wraps
        return _lowbias32_arr(h)

    return word(key_a), word(key_b)


def _check_count(count: int, offset: int) -> int:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or int(count) < 0:
        raise ValueError(f"rng: count must be a non-negative integer, got {count!r}")
    offset = _check_u32("offset", offset)
    if offset + int(count) > _M32 + 1:
        raise ValueError(
            f"rng: element indices must stay below 2^32, got offset {offset} + count {int(count)}"
        )
    return int(count)


# ---------------------------------------------------------------------------------------------
# float part (float64, fixed operation order; see docs/rng.md §3)


def _horner(x: np.ndarray, coeffs: Sequence[float]) -> np.ndarray:
    """p = c[n-1]; p = p*x + c[k] for k = n-2 .. 0 (multiply, then add: two roundings)."""
    p = np.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        p = p * x
        p = p + c
    return p


def _ln_of_word(a: np.ndarray) -> np.ndarray:
    """ln(u1) with u1 = (a + 0.5) * 2^-32 in (0, 1), float64."""
    x = a.astype(np.float64) + 0.5  # exact
    m, e = np.frexp(x)  # x = m * 2^e, m in [0.5, 1): exact
    low = m < _SQRT_HALF
    m = np.where(low, m * 2.0, m)  # exact
    e = e.astype(np.float64) - low.astype(np.float64) - 32.0  # exact small integers
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    ln_m = (s + s) * _horner(s2, _LN_COEFFS)
    return e * _LN2 + ln_m


def _cos_of_word(b: np.ndarray) -> np.ndarray:
    """cos(2 pi * b * 2^-32), float64, by exact quadrant reduction on the integer b."""
    q = b >> np.uint32(30)  # quadrant 0..3
    r = (b & np.uint32(0x3FFFFFFF)).astype(np.int64)  # position inside the quadrant, < 2^30
    swap = r > (1 << 29)  # past 1/8 turn: use the complement angle
    n = np.where(swap, (1 << 30) - r, r)  # n in [0, 2^29]
    phi = (n.astype(np.float64) * _TWO_POW_M32) * _TWO_PI  # in [0, pi/4]
    x2 = phi * phi
    sin_v = phi * _horner(x2, _SIN_COEFFS)
    cos_v = _horner(x2, _COS_COEFFS)
    use_cos = ((q & np.uint32(1)) == 0) != swap
    value = np.where(use_cos, cos_v, sin_v)
    negative = (q == 1) | (q == 2)
    return np.where(negative, -value, value)


def normal(seed: int, purpose: int, step: int, frame: int, count: int, offset: int = 0) -> np.ndarray:
    """Standard normals of elements offset .. offset+count-1 of one stream: float32 [count].

    z = float32( sqrt(-2 ln u1) * cos(2 pi u2) ), u1 = (a + 0.5) 2^-32, u2 = b 2^-32 (Box-Muller,
    cosine branch only, so every element is independent of its neighbours' indices).
    """
    a, b = uint32_words(seed, purpose, step, frame, count, offset)
    ln_u1 = _ln_of_word(a)
    radius = np.sqrt(ln_u1 * -2.0)
    return (radius * _cos_of_word(b)).astype(np.float32)


def frames_normal(
    seed: int, purpose: int, step: int, frames: Iterable[int], per_frame_shape: Sequence[int]
) -> np.ndarray:
    """Normals for several global frames: float32 [len(frames), *per_frame_shape], frame-major.

    Row f is normal(seed, purpose, step, frames[f], prod(per_frame_shape)) reshaped.
    """
    shape = tuple(int(d) for d in per_frame_shape)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    frames = [int(f) for f in frames]
    out = np.empty((len(frames), count), dtype=np.float32)
    for row, frame in enumerate(frames):
        out[row] = normal(seed, purpose, step, frame, count)
    return out.reshape((len(frames),) + shape)


def sampler_noise(seed: int, step_index: int, frames: Iterable[int], per_frame_shape: Sequence[int] = (48, 8, 8)) -> np.ndarray:
    """The sampler noise at step index s (into scheduler.timesteps) of the given global frames."""
    return frames_normal(seed, PURPOSE_SAMPLER_NOISE, step_index, frames, per_frame_shape)


def initial_latent(seed: int, frames: Iterable[int], per_frame_shape: Sequence[int] = (48, 8, 8)) -> np.ndarray:
    """The initial latent x_T of the given global frames: float32 [len(frames), C, H, W]."""
    return frames_normal(seed, PURPOSE_INITIAL_LATENT, 0, frames, per_frame_shape)


# ---------------------------------------------------------------------------------------------
# golden fixture for src/engine/rng.test.ts:  python3 training/rng.py [out.json]

_GOLDEN_CASES = (
    # (seed, purpose, step, frame, offset, count)
    (0, PURPOSE_INITIAL_LATENT, 0, 0, 0, 3072),  # one full [48, 8, 8] latent frame
    (0, PURPOSE_SAMPLER_NOISE, 0, 0, 0, 32),
    (42, PURPOSE_INITIAL_LATENT, 0, 7, 0, 64),
    (42, PURPOSE_SAMPLER_NOISE, 49, 7, 0, 64),
    (123456789, PURPOSE_SAMPLER_NOISE, 999, 1_000_000, 0, 32),
    (_M32, PURPOSE_SAMPLER_NOISE, _M32, _M32, 0, 32),  # every field at its maximum
    (_M32, _M32, 0, 1, _M32 - 31, 32),  # the last 32 element indices
    (7, PURPOSE_INITIAL_LATENT, 0, 2_147_483_648, 1_000_000, 16),
)


def write_golden(path: str) -> None:
    import json

    cases = []
    for seed, purpose, step, frame, offset, count in _GOLDEN_CASES:
        z = normal(seed, purpose, step, frame, count, offset)
        a, b = uint32_words(seed, purpose, step, frame, 8, offset)
        cases.append(
            {
                "seed": seed, "purpose": purpose, "step": step, "frame": frame,
                "offset": offset, "count": count,
                "key": stream_key(seed, purpose, step, frame),
                "a": [int(v) for v in a], "b": [int(v) for v in b],  # first 8 words
                "bits": [int(v) for v in z.view(np.uint32)],  # float32 bit patterns, exact
                "values": [float(v) for v in z[:8]],  # the first 8, for reading
            }
        )
    doc = {"spec": "docs/rng.md", "writer": "python3 training/rng.py", "cases": cases}
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    import os
    import sys

    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "golden", "rng.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_golden(out)
    print(f"wrote {out}")
