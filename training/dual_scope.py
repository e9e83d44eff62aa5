"""Dual-scope temporal attention index maths, twin of src/engine/dual-scope.ts (same sets, same bias).

Owns: the global frame set, a clip's key list and its [F, S] logit bias with the phase rule, so
the reference renderer (one clip = the whole video) and the engine (one clip per tab) build the
same attention. Imports numpy only.

Key list of a clip [start, end) (S = L + G columns):
    [ local frames key_start .. key_end-1 | global frames g_0 .. g_{G-1} ]
    key_start = start - min(p, start), key_end = end + min(p, N - end)   (cut at the video ends)
Bias [F, S], shared by all heads and tokens, added to q k^T / sqrt(d):
    local column of frame j: MASKED_BIAS if |q - j| > p, else (b if t < T_phase else 0)
    global column:           (b if t >= T_phase else 0)
MASKED_BIAS = -1e9 (finite: exp underflows to exactly 0 in float32, and no NaN from 0 * -inf).
For the whole video (start = 0, end = N) the local keys are all N frames: bias [N, N + G].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DualScopeParams",
    "EMBEDDED_DUAL_SCOPE",
    "UPSTREAM_DUAL_SCOPE",
    "MASKED_BIAS",
    "global_frame_indices",
    "owned_global_positions",
    "local_key_window",
    "is_global_phase",
    "key_frames",
    "attention_bias",
    "full_video_bias",
]

MASKED_BIAS = -1e9


@dataclass(frozen=True)
class DualScopeParams:
    window: int = 4  # p: query i sees local frames |i - j| <= p
    top_k: int = 8  # requested global frames; G = min(top_k, N)
    phase_timestep: float = 800  # T_phase: t >= T_phase favours the global keys
    phase_bias: float = 10.0  # b

    def validate(self) -> None:
        for name in ("window", "top_k"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"DualScopeParams: {name} must be a non-negative integer, got {v!r}")
        for name in ("phase_timestep", "phase_bias"):
            v = getattr(self, name)
            if not np.isfinite(v):
                raise ValueError(f"DualScopeParams: {name} must be a finite number, got {v!r}")


EMBEDDED_DUAL_SCOPE = DualScopeParams(window=4, top_k=8, phase_timestep=800, phase_bias=10.0)
UPSTREAM_DUAL_SCOPE = DualScopeParams(window=8, top_k=16, phase_timestep=800, phase_bias=10.0)


def global_frame_indices(total_frames: int, top_k: int) -> np.ndarray:
    """G = min(top_k, N); g_k = floor(k N / G), k = 0..G-1. int64 [G]."""
    if int(total_frames) < 1:
        raise ValueError(f"global_frame_indices: total_frames must be an integer >= 1, got {total_frames!r}")
    if int(top_k) < 0:
        raise ValueError(f"global_frame_indices: top_k must be a non-negative integer, got {top_k!r}")
    n = int(total_frames)
    g = min(int(top_k), n)
    return np.array([(k * n) // g for k in range(g)], dtype=np.int64)


def owned_global_positions(global_indices: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """Positions [k0, k1) of the global frames inside the clip [start, end)."""
    g = np.asarray(global_indices)
    return int(np.searchsorted(g, start, "left")), int(np.searchsorted(g, end, "left"))


def local_key_window(start: int, end: int, total_frames: int, window: int) -> tuple[int, int]:
    """(key_start, key_end): the clip extended by p frames each side, cut at the video ends."""
    return start - min(window, start), end + min(window, total_frames - end)


def is_global_phase(timestep: float, params: DualScopeParams) -> bool:
    return float(timestep) >= params.phase_timestep


def key_frames(start: int, end: int, total_frames: int, params: DualScopeParams) -> np.ndarray:
    """The global frame index of every key column, int64 [S]."""
    ks, ke = local_key_window(start, end, total_frames, params.window)
    return np.concatenate([np.arange(ks, ke, dtype=np.int64), global_frame_indices(total_frames, params.top_k)])


def attention_bias(start: int, end: int, total_frames: int, params: DualScopeParams, timestep: float) -> np.ndarray:
    """float32 [F, S] bias of the clip [start, end) at scheduler timestep t (see the module doc)."""
    params.validate()
    if not (0 <= start < end <= total_frames):
        raise ValueError(f"attention_bias: [start, end) must be non-empty inside [0, {total_frames}), got [{start}, {end})")
    p = params.window
    ks, ke = local_key_window(start, end, total_frames, p)
    g = global_frame_indices(total_frames, params.top_k)
    glob = is_global_phase(timestep, params)
    local_b = 0.0 if glob else params.phase_bias
    global_b = params.phase_bias if glob else 0.0
    q = np.arange(start, end)[:, None]  # [F, 1]
    j = np.arange(ks, ke)[None, :]  # [1, L]
    local = np.where(np.abs(q - j) <= p, local_b, MASKED_BIAS)  # [F, L]
    glob_cols = np.full((end - start, len(g)), global_b)  # [F, G]
    return np.concatenate([local, glob_cols], axis=1).astype(np.float32)


def full_video_bias(total_frames: int, params: DualScopeParams, timestep: float) -> np.ndarray:
    """The reference renderer's bias: the whole video as one clip, float32 [N, N + G]."""
    return attention_bias(0, total_frames, total_frames, params, timestep)
