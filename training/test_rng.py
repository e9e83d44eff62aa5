"""Tests for training/rng.py: determinism, independence of streams, distribution, the golden file."""

import json
import os

import numpy as np
import pytest

import rng


def test_deterministic_and_offset_consistent():
    a = rng.normal(1, rng.PURPOSE_INITIAL_LATENT, 0, 5, 100)
    assert a.dtype == np.float32
    assert np.array_equal(a, rng.normal(1, 1, 0, 5, 100))
    assert np.array_equal(a[37:61], rng.normal(1, 1, 0, 5, 24, offset=37))


def test_streams_differ():
    base = rng.normal(1, 1, 0, 5, 64)
    for args in ((2, 1, 0, 5), (1, 2, 0, 5), (1, 1, 1, 5), (1, 1, 0, 6)):
        assert not np.array_equal(base, rng.normal(*args, 64))


def test_distribution():
    z = rng.normal(9, 2, 3, 4, 1_000_000).astype(np.float64)
    assert abs(z.mean()) < 0.005
    assert abs(z.std() - 1.0) < 0.005
    assert abs(np.mean(np.abs(z) > 3.0) - 0.0026998) < 0.0004
    assert abs(np.mean(np.abs(z) > 4.0) - 6.334e-5) < 4e-5
    assert abs(((z - z.mean()) ** 4).mean() - 3.0) < 0.03
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.005
    z2 = rng.normal(9, 2, 3, 5, 1_000_000).astype(np.float64)
    assert abs(np.corrcoef(z, z2)[0, 1]) < 0.005


def test_matches_libm_box_muller():
    a, b = rng.uint32_words(5, 2, 3, 4, 100_000)
    u1 = (a.astype(np.float64) + 0.5) * 2.0**-32
    u2 = b.astype(np.float64) * 2.0**-32
    ref = (np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)).astype(np.float32)
    got = rng.normal(5, 2, 3, 4, 100_000)
    assert np.max(np.abs(ref.astype(np.float64) - got)) < 1e-6


def test_frames_normal_shape_and_rows():
    x = rng.frames_normal(3, rng.PURPOSE_INITIAL_LATENT, 0, [4, 9], (48, 8, 8))
    assert x.shape == (2, 48, 8, 8)
    assert np.array_equal(x[1].ravel(), rng.normal(3, 1, 0, 9, 3072))
    assert np.array_equal(rng.initial_latent(3, [9])[0], x[1])


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, True])
def test_rejects_bad_fields(bad):
    with pytest.raises((ValueError, TypeError)):
        rng.normal(bad, 1, 0, 0, 4)


def test_rejects_index_overflow():
    with pytest.raises(ValueError, match="2\\^32"):
        rng.normal(0, 1, 0, 0, 2, offset=2**32 - 1)


def test_golden_is_current():
    path = os.path.join(os.path.dirname(__file__), "golden", "rng.json")
    doc = json.load(open(path))
    for case in doc["cases"]:
        z = rng.normal(case["seed"], case["purpose"], case["step"], case["frame"], case["count"], case["offset"])
        assert [int(v) for v in z.view(np.uint32)] == case["bits"]
