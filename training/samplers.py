"""Samplers for the reference renderer: DDIM and DPM-Solver++(2M), ODE and SDE, eps- and v-prediction.

Owns: the scheduler arithmetic that src/engine/schedulers/*.ts mirrors (spec: docs/samplers.md).
Imports numpy only. Never draws noise: stochastic variants take `noise` from training/rng.py
(PURPOSE_SAMPLER_NOISE, step index, global frame), so any split of the frames gives the same video.

Numerics (the same in TypeScript): the schedule (betas, alphas_cumprod, sigmas, lambdas) and the
per-step scalar coefficients are float64. `step` reads float32 (or float64) arrays, computes every
element in float64 in the documented order, and returns float32. The DPM-Solver history holds the
float32-rounded x0 prediction, and the current step uses that rounded x0 too, so a scheduler
restored from `state_dict()` continues bit for bit.

Maths follows diffusers' DDIMScheduler and DPMSolverMultistepScheduler (read, not copied):
DDIM: Song et al. 2020, arXiv 2010.02502, eq. (12) and (16).
DPM-Solver++: Lu et al. 2022, arXiv 2211.01095, Algorithm 2 (2M, "midpoint" form) and its SDE variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

__all__ = [
    "SchedulerConfig",
    "StepResult",
    "SchedulerError",
    "beta_schedule",
    "linspace_timesteps",
    "DDIMScheduler",
    "DPMSolverPP2MScheduler",
    "scheduler_from_state",
]

PREDICTION_TYPES = ("epsilon", "v_prediction")
BETA_SCHEDULES = ("scaled_linear", "linear")


class SchedulerError(ValueError):
    """A scheduler misuse; `code` matches the TypeScript SchedulerError codes."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SchedulerConfig:
    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"  # the embedded model and VideoCrafter2 (docs/model-architecture.md §4)
    prediction_type: str = "epsilon"  # or "v_prediction"

    def validate(self) -> None:
        if not isinstance(self.num_train_timesteps, int) or self.num_train_timesteps < 2:
            raise SchedulerError(
                "invalid-config",
                f"num_train_timesteps must be an integer >= 2, got {self.num_train_timesteps!r}",
            )
        if not (0.0 < self.beta_start < self.beta_end < 1.0):
            raise SchedulerError(
                "invalid-config",
                f"betas must satisfy 0 < beta_start < beta_end < 1, got {self.beta_start!r}, {self.beta_end!r}",
            )
        if self.beta_schedule not in BETA_SCHEDULES:
            raise SchedulerError(
                "invalid-config", f"beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}"
            )
        if self.prediction_type not in PREDICTION_TYPES:
            raise SchedulerError(
                "invalid-config", f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}"
            )

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class StepResult:
    prev_sample: Any  # float32, same shape as sample; a torch tensor if the sample was one
    pred_original_sample: Any  # float32, x0 prediction


# ---------------------------------------------------------------------------------------------
# schedule (float64)


def beta_schedule(config: SchedulerConfig) -> np.ndarray:
    """betas [T] float64. scaled_linear: (linspace(sqrt(b0), sqrt(b1), T))^2; linear: linspace(b0, b1, T).

    linspace(a, b, T)[i] = a + i * ((b - a) / (T - 1)) for i < T - 1, and exactly b at i = T - 1.
    """
    t = config.num_train_timesteps
    if config.beta_schedule == "scaled_linear":
        a, b = np.sqrt(config.beta_start), np.sqrt(config.beta_end)
    else:
        a, b = config.beta_start, config.beta_end
    step = (b - a) / (t - 1)
    x = np.arange(t, dtype=np.float64) * step + a
    x[-1] = b
    return x * x if config.beta_schedule == "scaled_linear" else x


def alphas_cumprod(config: SchedulerConfig) -> np.ndarray:
    """prod_{k <= i} (1 - beta_k), float64, multiplied left to right."""
    out = np.empty(config.num_train_timesteps, dtype=np.float64)
    acc = 1.0
    for i, beta in enumerate(beta_schedule(config)):
        acc = acc * (1.0 - float(beta))
        out[i] = acc
    return out


def _round_half_even(x: float) -> int:
    f = float(np.floor(x))
    d = x - f
    if d > 0.5 or (d == 0.5 and int(f) % 2 == 1):
        return int(f) + 1
    return int(f)


def linspace_timesteps(num_inference_steps: int, num_train_timesteps: int = 1000) -> np.ndarray:
    """diffusers' "linspace" spacing: linspace(0, T-1, n+1).round()[::-1][:-1].

    t_i = round_half_even(k * ((T - 1) / n)) with k = n - i, i = 0..n-1 (k = n gives exactly T - 1).
    Equal to numpy's linspace-then-round for every n (checked for n = 1..2000).
    """
    n, t = num_inference_steps, num_train_timesteps
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= t - 1:
        raise SchedulerError(
            "invalid-argument",
            f"num_inference_steps must be an integer in [1, {t - 1}], got {num_inference_steps!r}",
        )
    n = int(n)
    step = (t - 1) / n
    return np.array([t - 1 if k == n else _round_half_even(k * step) for k in range(n, 0, -1)], dtype=np.int64)


def _to_numpy(x: Any) -> np.ndarray:
    """numpy view of an array-like; a torch tensor is moved to the CPU first (duck-typed, no torch import)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _like(result: np.ndarray, template: Any) -> Any:
    """Return `result` as the caller's array type: a torch tensor (same device) if `template` is one."""
    if hasattr(template, "detach") and hasattr(template, "device"):
        import sys

        torch = sys.modules["torch"]
        return torch.from_numpy(np.ascontiguousarray(result)).to(template.device)
    return result


def _as_f64(name: str, x: Any, shape: Optional[tuple]) -> np.ndarray:
    a = _to_numpy(x)
    if a.dtype not in (np.float32, np.float64):
        raise SchedulerError("invalid-argument", f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
    if shape is not None and a.shape != shape:
        raise SchedulerError("shape-mismatch", f"{name} has shape {a.shape}, sample has {shape}")
    return a.astype(np.float64)


class _SchedulerBase:
    kind = ""
    init_noise_sigma = 1.0  # x_T ~ N(0, I) for both samplers

    def __init__(self, config: Optional[SchedulerConfig] = None, **overrides: Any):
        config = config or SchedulerConfig()
        if overrides:
            config = SchedulerConfig(**{**config.to_dict(), **overrides})
        config.validate()
        self.config = config
        self.alphas_cumprod = alphas_cumprod(config)
        self.timesteps: Optional[np.ndarray] = None
        self.num_inference_steps: Optional[int] = None

    def scale_model_input(self, sample: np.ndarray, timestep: int) -> np.ndarray:
        return sample  # neither sampler rescales the UNet input

    def _require_timesteps(self) -> np.ndarray:
        if self.timesteps is None:
            raise SchedulerError(
                "not-initialized",
                f"{type(self).__name__}.step called before set_timesteps(num_inference_steps): "
                "call set_timesteps first",
            )
        return self.timesteps

    def _index_of(self, timestep: int) -> int:
        ts = self._require_timesteps()
        hits = np.nonzero(ts == int(timestep))[0]
        if len(hits) == 0:
            raise SchedulerError(
                "unknown-timestep", f"timestep {timestep!r} is not in this scheduler's timesteps {ts.tolist()}"
            )
        return int(hits[0])

    def _x0_eps(self, model_output: np.ndarray, sample: np.ndarray, alpha: float, sigma: float):
        """x0 and eps from the model output, with x_t = alpha * x0 + sigma * eps (float64)."""
        if self.config.prediction_type == "epsilon":
            x0 = (sample - sigma * model_output) / alpha
            eps = model_output
        else:  # v = alpha * eps - sigma * x0
            x0 = alpha * sample - sigma * model_output
            eps = alpha * model_output + sigma * sample
        return x0, eps


# ---------------------------------------------------------------------------------------------
# DDIM


class DDIMScheduler(_SchedulerBase):
    """DDIM (arXiv 2010.02502). eta = 0: deterministic (ODE); eta = 1: DDPM-like (SDE).

    Differences from diffusers' DDIMScheduler defaults, on purpose: "linspace" spacing (the same
    timesteps as DPM-Solver, see linspace_timesteps), prev timestep = the next entry of
    `timesteps` (diffusers uses t - T // n), clip_sample off, set_alpha_to_one on (the last
    step lands on alpha_bar = 1, i.e. returns x0).

    | code | paper |
    |---|---|
    | alpha_t, alpha_prev | alpha_t, alpha_{t-1} (cumulative products) |
    | x0 | "predicted x_0" in eq. (12) |
    | std | sigma_t(eta), eq. (16) |
    """

    kind = "ddim"

    def __init__(self, eta: float = 0.0, config: Optional[SchedulerConfig] = None, **overrides: Any):
        super().__init__(config, **overrides)
        if not isinstance(eta, (int, float)) or not 0.0 <= float(eta) <= 1.0:
            raise SchedulerError("invalid-argument", f"eta must be a number in [0, 1], got {eta!r}")
        self.eta = float(eta)

    @property
    def is_stochastic(self) -> bool:
        return self.eta > 0.0

    def set_timesteps(self, num_inference_steps: int) -> None:
        self.timesteps = linspace_timesteps(num_inference_steps, self.config.num_train_timesteps)
        self.num_inference_steps = len(self.timesteps)

    def coefficients(self, timestep: int) -> dict:
        """The float64 scalars of one step (also used by the TS tests through the golden)."""
        i = self._index_of(timestep)
        ts = self.timesteps
        alpha_t = float(self.alphas_cumprod[ts[i]])
        alpha_prev = float(self.alphas_cumprod[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        beta_t, beta_prev = 1.0 - alpha_t, 1.0 - alpha_prev
        variance = (beta_prev / beta_t) * (1.0 - alpha_t / alpha_prev)  # eq. (16) squared, eta = 1
        std = self.eta * np.sqrt(variance)
        return {
            "alpha": float(np.sqrt(alpha_t)),
            "sigma": float(np.sqrt(beta_t)),
            "c_x0": float(np.sqrt(alpha_prev)),
            "c_eps": float(np.sqrt(max(0.0, 1.0 - alpha_prev - std * std))),
            "c_noise": float(std),
        }

    def step(self, model_output, timestep: int, sample, noise=None) -> StepResult:
        # 1. coefficients for t -> prev (raises before set_timesteps or for an unknown timestep)
        c = self.coefficients(timestep)
        # 2. inputs as float64
        x = _as_f64("sample", sample, None)
        shape = x.shape
        out = _as_f64("model_output", model_output, shape)
        if self.is_stochastic and noise is None:
            raise SchedulerError("noise-required", f"DDIM with eta={self.eta} needs noise (rng PURPOSE_SAMPLER_NOISE)")
        # 3. predicted x0 and eps, eq. (12)
        x0, eps = self._x0_eps(out, x, c["alpha"], c["sigma"])
        # 4. x_prev = sqrt(alpha_prev) x0 + sqrt(1 - alpha_prev - std^2) eps + std * noise, eq. (12)
        prev = c["c_x0"] * x0 + c["c_eps"] * eps
        if self.is_stochastic:
            prev = prev + c["c_noise"] * _as_f64("noise", noise, shape)
        return StepResult(_like(prev.astype(np.float32), sample), _like(x0.astype(np.float32), sample))

    def state_dict(self) -> dict:
        return {"kind": self.kind, "eta": self.eta, "config": self.config.to_dict(),
                "num_inference_steps": self.num_inference_steps}

    def load_state_dict(self, state: dict) -> None:
        _check_state(self, state)
        if state["num_inference_steps"] is not None:
            self.set_timesteps(state["num_inference_steps"])


# ---------------------------------------------------------------------------------------------
# DPM-Solver++(2M)


class DPMSolverPP2MScheduler(_SchedulerBase):
    """DPM-Solver++(2M) (arXiv 2211.01095), algorithm_type 'dpmsolver++' (ODE) or 'sde-dpmsolver++'.

    As diffusers' DPMSolverMultistepScheduler with solver_order=2, solver_type="midpoint",
    final_sigmas_type="zero", lower_order_final=True: step 0 and the last step are first order,
    the others second order. sigma_i = sqrt((1 - abar(t_i)) / abar(t_i)), sigma_n = 0.

    | code | paper |
    |---|---|
    | alpha_s, sigma_s | alpha_t, sigma_t of the current time s = t_i (alpha = 1/sqrt(1+sigma^2)) |
    | alpha_t, sigma_t | the same at the target time t = t_{i+1} |
    | lam | lambda = log(alpha / sigma) (half log-SNR) |
    | h, h0, r0 | h_i = lambda_t - lambda_s, h_{i-1}, r = h_{i-1} / h_i |
    | m0, m1 | data predictions x_theta at s and at the previous step |
    """

    kind = "dpm-solver++-2m"
    ALGORITHMS = ("dpmsolver++", "sde-dpmsolver++")

    def __init__(self, algorithm_type: str = "dpmsolver++", config: Optional[SchedulerConfig] = None, **overrides: Any):
        super().__init__(config, **overrides)
        if algorithm_type not in self.ALGORITHMS:
            raise SchedulerError(
                "invalid-argument", f"algorithm_type must be one of {self.ALGORITHMS}, got {algorithm_type!r}"
            )
        self.algorithm_type = algorithm_type
        self._reset()

    def _reset(self) -> None:
        self.step_index: Optional[int] = None
        self.lower_order_nums = 0
        self.last_model_output: Optional[np.ndarray] = None  # float32 x0 of the previous step

    @property
    def is_stochastic(self) -> bool:
        return self.algorithm_type == "sde-dpmsolver++"

    def set_timesteps(self, num_inference_steps: int) -> None:
        self.timesteps = linspace_timesteps(num_inference_steps, self.config.num_train_timesteps)
        self.num_inference_steps = len(self.timesteps)
        abar = self.alphas_cumprod[self.timesteps]
        self.sigmas = np.concatenate([np.sqrt((1.0 - abar) / abar), [0.0]])  # [n + 1] float64
        self._reset()

    def _alpha_sigma_lambda(self, i: int):
        s = float(self.sigmas[i])
        alpha = 1.0 / np.sqrt(s * s + 1.0)
        sigma = s * alpha
        lam = np.log(alpha) - np.log(sigma) if sigma > 0.0 else np.inf
        return float(alpha), float(sigma), float(lam)

    def coefficients(self, i: int, order: int) -> dict:
        """Scalars of step index i at the given order (1 or 2)."""
        alpha_s, sigma_s, lam_s = self._alpha_sigma_lambda(i)
        alpha_t, sigma_t, lam_t = self._alpha_sigma_lambda(i + 1)
        c = {"alpha_s": alpha_s, "sigma_s": sigma_s, "c_x": 0.0, "c_m0": 0.0, "c_d": 0.0, "c_noise": 0.0}
        if sigma_t == 0.0:  # last step to sigma = 0: x_prev = x0 exactly (both variants)
            c["c_m0"] = 1.0
            return c
        h = lam_t - lam_s
        if self.algorithm_type == "dpmsolver++":
            c["c_x"] = sigma_t / sigma_s
            c["c_m0"] = -alpha_t * (np.exp(-h) - 1.0)
        else:
            c["c_x"] = sigma_t / sigma_s * np.exp(-h)
            c["c_m0"] = alpha_t * (1.0 - np.exp(-2.0 * h))
            c["c_noise"] = sigma_t * np.sqrt(1.0 - np.exp(-2.0 * h))
        if order == 2:
            _, _, lam_s1 = self._alpha_sigma_lambda(i - 1)
            r0 = (lam_s - lam_s1) / h
            c["c_d"] = 0.5 * c["c_m0"] / r0  # D1 = (m0 - m1) / r0, weighted 0.5 * c_m0 (midpoint)
        return {k: float(v) for k, v in c.items()}

    def step(self, model_output, timestep: int, sample, noise=None) -> StepResult:
        # 1. where are we (raises before set_timesteps, for an unknown or out-of-order timestep)
        ts = self._require_timesteps()
        if self.step_index is None:
            self.step_index = self._index_of(timestep)
        i = self.step_index
        if i >= len(ts):
            raise SchedulerError("finished", f"all {len(ts)} steps are done; call set_timesteps to start again")
        if int(ts[i]) != int(timestep):
            raise SchedulerError(
                "unexpected-timestep", f"expected timestep {int(ts[i])} at step index {i}, got {timestep!r}"
            )
        x = _as_f64("sample", sample, None)
        shape = x.shape
        out = _as_f64("model_output", model_output, shape)
        if self.is_stochastic and noise is None:
            raise SchedulerError("noise-required", "sde-dpmsolver++ needs noise (rng PURPOSE_SAMPLER_NOISE)")
        # 2. order: first at the start and at the last step (lower_order_final), else second
        last = i == len(ts) - 1
        order = 1 if (self.lower_order_nums < 1 or last) else 2
        c = self.coefficients(i, order)
        # 3. data prediction m0 = x_theta(x_s, s), rounded to float32 (what the history stores)
        x0_32 = self._x0_eps(out, x, c["alpha_s"], c["sigma_s"])[0].astype(np.float32)
        m0 = x0_32.astype(np.float64)
        # 4. update: x_t = c_x x_s + c_m0 m0 + c_d (m0 - m1) [+ c_noise noise]
        prev = c["c_x"] * x + c["c_m0"] * m0
        if order == 2:
            if self.last_model_output is None or self.last_model_output.shape != x0_32.shape:
                raise SchedulerError("bad-state", "second-order step without the previous x0 of the same shape")
            prev = prev + c["c_d"] * (m0 - self.last_model_output.astype(np.float64))
        if self.is_stochastic:
            prev = prev + c["c_noise"] * _as_f64("noise", noise, shape)
        # 5. history
        self.last_model_output = x0_32
        self.lower_order_nums = min(self.lower_order_nums + 1, 2)
        self.step_index = i + 1
        return StepResult(_like(prev.astype(np.float32), sample), _like(x0_32.copy(), sample))

    def state_dict(self) -> dict:
        """Everything needed to resume after losing a tab (JSON-able except the float32 array)."""
        return {
            "kind": self.kind,
            "algorithm_type": self.algorithm_type,
            "config": self.config.to_dict(),
            "num_inference_steps": self.num_inference_steps,
            "step_index": self.step_index,
            "lower_order_nums": self.lower_order_nums,
            "last_model_output": None if self.last_model_output is None else self.last_model_output.copy(),
        }

    def load_state_dict(self, state: dict) -> None:
        _check_state(self, state)
        if state["algorithm_type"] != self.algorithm_type:
            raise SchedulerError(
                "bad-state", f"state is for {state['algorithm_type']!r}, scheduler is {self.algorithm_type!r}"
            )
        if state["num_inference_steps"] is not None:
            self.set_timesteps(state["num_inference_steps"])
        self.step_index = state["step_index"]
        self.lower_order_nums = int(state["lower_order_nums"])
        lmo = state["last_model_output"]
        self.last_model_output = None if lmo is None else np.asarray(lmo, dtype=np.float32).copy()


def _check_state(scheduler: _SchedulerBase, state: dict) -> None:
    if state.get("kind") != scheduler.kind:
        raise SchedulerError("bad-state", f"state kind {state.get('kind')!r} does not match {scheduler.kind!r}")
    if state.get("config") != scheduler.config.to_dict():
        raise SchedulerError("bad-state", f"state config {state.get('config')} differs from {scheduler.config.to_dict()}")


def scheduler_from_state(state: dict):
    """Rebuild a scheduler (config, timesteps, history) from state_dict()."""
    config = SchedulerConfig(**state["config"])
    if state.get("kind") == DDIMScheduler.kind:
        s: _SchedulerBase = DDIMScheduler(state["eta"], config)
    elif state.get("kind") == DPMSolverPP2MScheduler.kind:
        s = DPMSolverPP2MScheduler(state["algorithm_type"], config)
    else:
        raise SchedulerError("bad-state", f"unknown scheduler kind {state.get('kind')!r}")
    s.load_state_dict(state)
    return s


# ---------------------------------------------------------------------------------------------
# golden fixture for src/engine/schedulers/*.test.ts:  python3 training/samplers.py [out.json]

_GOLDEN_ELEMENTS = 16
_GOLDEN_SEED = 2024


def _toy_model(sample: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for the UNet: float32(0.1 * x + c_j), c_j = (j - 8) / 64."""
    c = (np.arange(sample.shape[-1], dtype=np.float64) - 8.0) / 64.0
    return (0.1 * sample.astype(np.float64) + c).astype(np.float32)


def _golden_variants():
    for prediction_type in PREDICTION_TYPES:
        for name, make in (
            ("ddim-eta0", lambda cfg: DDIMScheduler(0.0, cfg)),
            ("ddim-eta1", lambda cfg: DDIMScheduler(1.0, cfg)),
            ("dpmsolver++", lambda cfg: DPMSolverPP2MScheduler("dpmsolver++", cfg)),
            ("sde-dpmsolver++", lambda cfg: DPMSolverPP2MScheduler("sde-dpmsolver++", cfg)),
        ):
            for steps in ((1, 2, 5) if name == "dpmsolver++" and prediction_type == "epsilon" else (5,)):
                yield name, prediction_type, steps, make(SchedulerConfig(prediction_type=prediction_type))


def write_golden(path: str) -> None:
    import json

    try:
        from . import rng  # imported as training.samplers
    except ImportError:
        import rng  # run as a script, or with training/ on sys.path

    runs = []
    for name, prediction_type, steps, sched in _golden_variants():
        sched.set_timesteps(steps)
        x = rng.normal(_GOLDEN_SEED, rng.PURPOSE_INITIAL_LATENT, 0, 0, _GOLDEN_ELEMENTS)
        records = []
        for s, t in enumerate(sched.timesteps):
            out = _toy_model(x)
            noise = rng.normal(_GOLDEN_SEED, rng.PURPOSE_SAMPLER_NOISE, s, 0, _GOLDEN_ELEMENTS)
            r = sched.step(out, int(t), x, noise if sched.is_stochastic else None)
            records.append({
                "timestep": int(t),
                "sample": [float(v) for v in x],
                "model_output": [float(v) for v in out],
                "noise": [float(v) for v in noise] if sched.is_stochastic else None,
                "prev_sample": [float(v) for v in r.prev_sample],
                "pred_original_sample": [float(v) for v in r.pred_original_sample],
            })
            x = r.prev_sample
        runs.append({
            "sampler": name, "prediction_type": prediction_type, "num_inference_steps": steps,
            "timesteps": [int(t) for t in sched.timesteps], "steps": records,
        })
    cfg = SchedulerConfig()
    abar = alphas_cumprod(cfg)
    doc = {
        "spec": "docs/samplers.md",
        "writer": "python3 training/samplers.py",
        "toy_model": "model_output = float32(0.1 * sample + (j - 8) / 64), j = element index",
        "alphas_cumprod": {str(i): float(abar[i]) for i in (0, 1, 499, 998, 999)},
        "timesteps": {str(n): [int(t) for t in linspace_timesteps(n)] for n in (1, 2, 3, 6, 25, 26, 50, 999)},
        "runs": runs,
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "golden", "samplers.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_golden(out)
    print(f"wrote {out}")
