"""Seeded test weights that Python and TypeScript produce bit for bit (docs/real-model.md, "Seeded weights").

The narrow parity goldens (write_unet3d_goldens.py) would need megabytes of random weights (the 1024-d
cross-attention alone); instead both sides regenerate them from (seed, tensor name, shape), so only
the inputs and outputs are committed. The TypeScript twin is src/model/testing/seeded-weights.ts.

Per tensor: h = FNV-1a-32 of the name's UTF-8 bytes; element i draws
    word_i = lowbias32((lowbias32(i XOR h) + seed) mod 2^32),   r_i = 2·word_i/2^32 − 1   (exact in float64)
and the value (computed in float64, then rounded to float32) is
    1-D '*.weight' (a norm's scale):  1 + 0.1·r_i
    other 1-D (a bias):               0.1·r_i
    n-D (a weight):                   r_i · sqrt(3 / fan_in),  fan_in = numel / shape[0]
"""
import numpy as np

MASK = 0xFFFFFFFF


def _lowbias32(x):
    x = np.asarray(x, dtype=np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    x = x ^ (x >> np.uint32(16))
    return x


def fnv1a32(name):
    h = 0x811C9DC5
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & MASK
    return h


def uniform_pm1(seed, name, n):
    """n values r_i in [-1, 1), float64."""
    h = np.uint32(fnv1a32(name))
    i = np.arange(n, dtype=np.uint64).astype(np.uint32)  # element index mod 2^32
    with np.errstate(over="ignore"):
        word = _lowbias32(_lowbias32(i ^ h) + np.uint32(seed & MASK))
    return 2.0 * (word.astype(np.float64) / 4294967296.0) - 1.0


def seeded_tensor(seed, name, shape):
    """The float32 tensor of `shape` for weight `name` (numpy array)."""
    n = int(np.prod(shape)) if len(shape) else 1
    r = uniform_pm1(seed, name, n)
    if len(shape) == 1:
        v = 1.0 + 0.1 * r if name.endswith(".weight") else 0.1 * r
    else:
        fan_in = n // shape[0]
        v = r * np.sqrt(3.0 / fan_in)
    return v.astype(np.float32).reshape(shape)
