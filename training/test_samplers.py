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


# ---------------------------------------------------------------------------------------------
# cross-check against a line-by-line float64 transcription of diffusers' formulas
# (DPMSolverMultistepScheduler.step / *_update, DDIMScheduler.step with our prev-timestep rule)

def diffusers_run(n, algo, pred, x, model, noises):
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64)**2
    ac = np.cumprod(1 - betas)
    ts = np.linspace(0, 999, n + 1).round()[::-1][:-1].astype(np.int64)
    sig = np.sqrt((1 - ac) / ac)
    sigmas = np.concatenate([np.interp(ts, np.arange(len(sig)), sig), [0.0]])
    a_s = lambda s: (1 / np.sqrt(s**2 + 1), s / np.sqrt(s**2 + 1))
    outs = [None, None]; lon = 0
    for i, t in enumerate(ts):
        lof = i == len(ts) - 1
        out = model(x, t)
        at, st = a_s(sigmas[i])
        x0 = (x - st * out) / at if pred == 'epsilon' else at * x - st * out
        outs = [outs[1], x0]
        noise = noises[i]
        with np.errstate(divide='ignore'):
            if lon < 1 or lof:
                alpha_t, sigma_t = a_s(sigmas[i + 1]); alpha_s, sigma_s = a_s(sigmas[i])
                h = (np.log(alpha_t) - np.log(sigma_t)) - (np.log(alpha_s) - np.log(sigma_s))
                if algo == 'dpmsolver++':
                    xn = (sigma_t / sigma_s) * x - (alpha_t * (np.exp(-h) - 1.0)) * x0
                else:
                    xn = (sigma_t / sigma_s * np.exp(-h)) * x + (alpha_t * (1 - np.exp(-2.0 * h))) * x0 + sigma_t * np.sqrt(1.0 - np.exp(-2 * h)) * noise
            else:
                alpha_t, sigma_t = a_s(sigmas[i + 1]); alpha_s0, sigma_s0 = a_s(sigmas[i]); alpha_s1, sigma_s1 = a_s(sigmas[i - 1])
                lt, l0, l1 = [np.log(a) - np.log(s) for a, s in ((alpha_t, sigma_t), (alpha_s0, sigma_s0), (alpha_s1, sigma_s1))]
                m0, m1 = outs[1], outs[0]
                h, h0 = lt - l0, l0 - l1; r0 = h0 / h
                D0, D1 = m0, (1.0 / r0) * (m0 - m1)
                if algo == 'dpmsolver++':
                    xn = (sigma_t / sigma_s0) * x - (alpha_t * (np.exp(-h) - 1.0)) * D0 - 0.5 * (alpha_t * (np.exp(-h) - 1.0)) * D1
                else:
                    xn = (sigma_t / sigma_s0 * np.exp(-h)) * x + (alpha_t * (1 - np.exp(-2.0 * h))) * D0 + 0.5 * (alpha_t * (1 - np.exp(-2.0 * h))) * D1 + sigma_t * np.sqrt(1.0 - np.exp(-2 * h)) * noise
        lon = min(lon + 1, 2)
        x = xn
    return x

def ddim_run(n, eta, pred, x, model, noises):
    # diffusers DDIM math with OUR prev-timestep rule (next list entry, final alpha 1)
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64)**2
    ac = np.cumprod(1 - betas)
    ts = np.linspace(0, 999, n + 1).round()[::-1][:-1].astype(np.int64)
    for i, t in enumerate(ts):
        out = model(x, t)
        a = ac[t]; ap = ac[ts[i+1]] if i + 1 < n else 1.0; b = 1 - a
        if pred == 'epsilon': x0 = (x - b**0.5 * out) / a**0.5; eps = out
        else: x0 = a**0.5 * x - b**0.5 * out; eps = a**0.5 * out + b**0.5 * x
        var = ((1 - ap) / b) * (1 - a / ap); std = eta * var**0.5
        x = ap**0.5 * x0 + (1 - ap - std**2)**0.5 * eps + (std * noises[i] if eta > 0 else 0)
    return x



@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_matches_diffusers_transcription(n):
    rs = np.random.default_rng(n)
    model = lambda x, t: 0.1 * x + 0.05 * np.sin(np.arange(x.size) + t / 100.0)
    x = rs.standard_normal(64)
    noises = [rs.standard_normal(64) for _ in range(n)]
    for pred in S.PREDICTION_TYPES:
        runs = [(S.DPMSolverPP2MScheduler(a, prediction_type=pred), lambda a=a: diffusers_run(n, a, pred, x, model, noises))
                for a in S.DPMSolverPP2MScheduler.ALGORITHMS]
        runs += [(S.DDIMScheduler(eta, prediction_type=pred), lambda eta=eta: ddim_run(n, eta, pred, x, model, noises))
                 for eta in (0.0, 1.0)]
        for sched, reference in runs:
            sched.set_timesteps(n)
            y = x.astype(np.float32)
            for i, t in enumerate(sched.timesteps):
                out = model(y.astype(np.float64), t).astype(np.float32)
                y = sched.step(out, int(t), y, noises[i].astype(np.float32)).prev_sample
            assert np.max(np.abs(reference() - y)) < 2e-5, (sched.kind, pred)
