"""Tests for training/dual_scope.py; the hand-written cases are the same as in src/engine/dual-scope.test.ts."""

import numpy as np
import pytest

import dual_scope as D

M = D.MASKED_BIAS
P = D.DualScopeParams(window=2, top_k=3, phase_timestep=800, phase_bias=10.0)


def test_global_frame_indices():
    assert D.global_frame_indices(40, 8).tolist() == [0, 5, 10, 15, 20, 25, 30, 35]
    assert D.global_frame_indices(10, 3).tolist() == [0, 3, 6]
    assert D.global_frame_indices(5, 16).tolist() == [0, 1, 2, 3, 4]
    assert D.global_frame_indices(2300, 16)[15] == 2156
    assert D.owned_global_positions(D.global_frame_indices(10, 3), 4, 8) == (2, 3)


def test_bias_at_video_start_global_phase():
    b = D.attention_bias(0, 4, 10, P, 999)
    assert D.key_frames(0, 4, 10, P).tolist() == [0, 1, 2, 3, 4, 5, 0, 3, 6]
    assert b.dtype == np.float32 and b.shape == (4, 9)
    assert b.tolist() == [
        [0, 0, 0, M, M, M, 10, 10, 10],
        [0, 0, 0, 0, M, M, 10, 10, 10],
        [0, 0, 0, 0, 0, M, 10, 10, 10],
        [M, 0, 0, 0, 0, 0, 10, 10, 10],
    ]


def test_bias_at_video_end_local_phase():
    b = D.attention_bias(6, 10, 10, P, 500)
    assert D.key_frames(6, 10, 10, P).tolist() == [4, 5, 6, 7, 8, 9, 0, 3, 6]
    assert b[3].tolist() == [M, M, M, 10, 10, 10, 0, 0, 0]
    assert D.attention_bias(6, 10, 10, P, 800)[0].tolist() == [0, 0, 0, 0, 0, M, 10, 10, 10]


def test_clip_bias_is_a_restriction_of_the_full_bias():
    n, params = 23, D.DualScopeParams(4, 5, 800, 10.0)
    for t in (999, 200):
        full = D.full_video_bias(n, params, t)
        assert full.shape == (n, n + 5)
        for s, e in ((0, 6), (6, 17), (17, 23)):
            clip = D.attention_bias(s, e, n, params, t)
            ks, ke = D.local_key_window(s, e, n, params.window)
            cols = list(range(ks, ke)) + list(range(n, n + 5))
            assert np.array_equal(clip, full[s:e][:, cols])
            outside = [j for j in range(n) if j < ks or j >= ke]
            assert np.all(full[s:e][:, outside] == M)


def test_errors():
    with pytest.raises(ValueError, match="window must be a non-negative integer"):
        D.attention_bias(0, 4, 10, D.DualScopeParams(window=-1), 0)
    with pytest.raises(ValueError, match="non-empty"):
        D.attention_bias(5, 5, 10, P, 0)
