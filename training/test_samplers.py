"""Tests for training/samplers.py: schedule, timesteps, exactness on a known x0, errors, resume, golden."""

import json
import os

import numpy as np
import pytest

import samplers as S


def test_timesteps_match_numpy_linspace():
    for n in (1, 2, 3, 6, 25, 26, 30, 50, 999):
        ref = np.linspace(0, 999, n + 1).round()[::-1][:-1].astype(np.int64)
        assert S.linspace_timesteps(n).tolist() == ref.tolist()
    with pytest.raises(S.SchedulerError):
        S.linspace_timesteps(0)
    with pytest.raises(S.SchedulerError):
        S.linspace_timesteps(1000)


def test_alphas_cumprod_matches_float32_diffusers_formula():
    betas32 = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float32) ** 2
    ref = np.cumprod(1.0 - betas32.astype(np.float64))
    got = S.alphas_cumprod(S.SchedulerConfig())
    assert np.max(np.abs(got - ref) / ref) < 1e-5


def _oracle(prediction_type, abar_of, x0):
    """A perfect model for data concentrated at x0: eps = (x - a x0) / s, v = a eps - s x0."""
    def model(x, t):
        a, s = np.sqrt(abar_of(t)), np.sqrt(1 - abar_of(t))
        eps = (x.astype(np.float64) - a * x0) / s
        out = eps if prediction_type == "epsilon" else a * eps - s * x0
        return out.astype(np.float32)
    return model


@pytest.mark.parametrize("prediction_type", S.PREDICTION_TYPES)
@pytest.mark.parametrize("make", [lambda c: S.DDIMScheduler(0.0, c), lambda c: S.DDIMScheduler(1.0, c),
                                  lambda c: S.DPMSolverPP2MScheduler("dpmsolver++", c),
                                  lambda c: S.DPMSolverPP2MScheduler("sde-dpmsolver++", c)])
def test_perfect_model_recovers_x0(prediction_type, make):
    sched = make(S.SchedulerConfig(prediction_type=prediction_type))
    sched.set_timesteps(10)
    x0 = np.linspace(-1, 1, 32)
    model = _oracle(prediction_type, lambda t: sched.alphas_cumprod[t], x0)
    rs = np.random.default_rng(0)
    x = rs.standard_normal(32).astype(np.float32)
    for t in sched.timesteps:
        noise = rs.standard_normal(32).astype(np.float32)
        x = sched.step(model(x, int(t)), int(t), x, noise).prev_sample
    assert np.max(np.abs(x - x0)) < 1e-4


def test_errors():
    d = S.DPMSolverPP2MScheduler()
    with pytest.raises(S.SchedulerError, match="set_timesteps") as e:
        d.step(np.zeros(4, np.float32), 999, np.zeros(4, np.float32))
    assert e.value.code == "not-initialized"
    d.set_timesteps(4)
    with pytest.raises(S.SchedulerError, match="is not in"):
        d.step(np.zeros(4, np.float32), 998, np.zeros(4, np.float32))
    d.step(np.zeros(4, np.float32), 999, np.zeros(4, np.float32))
    with pytest.raises(S.SchedulerError, match="expected timestep"):
        d.step(np.zeros(4, np.float32), 999, np.zeros(4, np.float32))
    with pytest.raises(S.SchedulerError, match="noise"):
        sde = S.DPMSolverPP2MScheduler("sde-dpmsolver++")
        sde.set_timesteps(3)
        sde.step(np.zeros(4, np.float32), 999, np.zeros(4, np.float32))
    with pytest.raises(S.SchedulerError):
        S.DDIMScheduler(1.5)
    with pytest.raises(S.SchedulerError):
        S.DPMSolverPP2MScheduler("dpmsolver")
    with pytest.raises(S.SchedulerError):
        S.DDIMScheduler(0.0, prediction_type="sample")


def test_resume_from_state_is_bit_identical():
    rs = np.random.default_rng(1)
    xs = [rs.standard_normal(8).astype(np.float32) for _ in range(6)]
    a = S.DPMSolverPP2MScheduler("sde-dpmsolver++")
    a.set_timesteps(6)
    x = xs[0]
    outs = []
    for i, t in enumerate(a.timesteps):
        if i == 3:
            b = S.scheduler_from_state(a.state_dict())
        x = a.step(0.1 * x + 0.01, int(t), x, xs[i]).prev_sample
        outs.append(x)
    x = outs[2]
    for i, t in enumerate(b.timesteps[3:], start=3):
        x = b.step(0.1 * x + 0.01, int(t), x, xs[i]).prev_sample
        assert np.array_equal(x, outs[i])


def test_golden_is_current(tmp_path):
    here = os.path.dirname(__file__)
    S.write_golden(str(tmp_path / "s.json"))
    assert json.load(open(tmp_path / "s.json")) == json.load(open(os.path.join(here, "golden", "samplers.json")))
