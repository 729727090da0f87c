"""ODE sampling of the flow policy: Euler, midpoint and RK4 with K uniform steps from t = 0 to t = 1.

The time convention is the one of :mod:`fpo_policy.core.flow` (t = 0 noise, t = 1 action). The trainer
and the deployed policy call this same code. Sampling never builds an autograd graph.

A :class:`~fpo_policy.core.flow.VelocityField` is integrated through
:meth:`~fpo_policy.core.flow.VelocityField.conditioned`: its first layer's observation, time and bias
terms are computed once per integration for all the solver's times (whose Fourier features are
cached per solver, K, dtype and device), so a solver stage costs the x_t term and the rest of the
network. Any other velocity function is called as v(obs, x_t, t) at every stage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, TypeVar, get_args

import torch
from torch import Tensor

from fpo_policy.core.flow import VelocityField, VelocityFn, time_features
from fpo_policy.core.squash import RAW_ACTION_LIMIT

Solver = Literal["euler", "midpoint", "rk4"]
SOLVERS: tuple[str, ...] = get_args(Solver)

OdeFn = Callable[[Tensor, Tensor], Tensor]
"""f(x (B, A), t (B,)) -> dx/dt (B, A)."""

T = TypeVar("T")
"""What a solver stage passes its field for a time: the time tensor (B,) or a precomputed term."""


def _step(
    f: Callable[[Tensor, T], Tensor], x: Tensor, t: float, dt: float, solver: str, at: Callable[[float], T]
) -> Tensor:
    # torch.add(x, k, alpha=a) is x + a k in one kernel: at batch 1 each tensor op costs a visible
    # fraction of a network forward, so the solvers use as few as they can.
    if solver == "euler":
        return torch.add(x, f(x, at(t)), alpha=dt)
    if solver == "midpoint":
        k1 = f(x, at(t))
        return torch.add(x, f(torch.add(x, k1, alpha=0.5 * dt), at(t + 0.5 * dt)), alpha=dt)
    if solver == "rk4":
        k1 = f(x, at(t))
        k2 = f(torch.add(x, k1, alpha=0.5 * dt), at(t + 0.5 * dt))
        k3 = f(torch.add(x, k2, alpha=0.5 * dt), at(t + 0.5 * dt))
        k4 = f(torch.add(x, k3, alpha=dt), at(t + dt))
        return torch.add(x, k1.add(k2, alpha=2.0).add_(k3, alpha=2.0).add_(k4), alpha=dt / 6.0)
    raise ValueError(f"unknown solver {solver!r}; expected one of {SOLVERS}")


def _check(steps: int, solver: str) -> None:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {SOLVERS}")


def _solve(
    f: Callable[[Tensor, T], Tensor], x0: Tensor, steps: int, solver: str, at: Callable[[float], T]
) -> Tensor:
    dt = 1.0 / steps
    x = x0
    for k in range(steps):
        x = _step(f, x, k * dt, dt, solver, at)
    return x


@functools.lru_cache(maxsize=64)
def stage_times(solver: str, steps: int) -> tuple[float, ...]:
    """Every time at which ``solver`` with ``steps`` steps evaluates the field, in order, each once.

    Written with the same float expressions as the solver steps, so that the values match exactly.
    """
    dt = 1.0 / steps
    offsets = {"euler": (0.0,), "midpoint": (0.0, 0.5 * dt), "rk4": (0.0, 0.5 * dt, dt)}[solver]
    return tuple(dict.fromkeys(k * dt + c for k in range(steps) for c in offsets))


@functools.lru_cache(maxsize=64)
def _stage_features(solver: str, steps: int, n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Fourier features of :func:`stage_times` (T, n); built once per key, never written to."""
    return time_features(torch.tensor(stage_times(solver, steps), dtype=dtype, device=device), n)


@torch.no_grad()
def integrate(f: OdeFn, x0: Tensor, steps: int, solver: Solver = "euler") -> Tensor:
    """Integrate dx/dt = f(x, t) from t = 0 to t = 1 in ``steps`` uniform steps. x0 (B, A) -> x1 (B, A)."""
    _check(steps, solver)
    times: dict[float, Tensor] = {}  # each time tensor is built once (RK4 reuses t + dt as the next t)

    def at(s: float) -> Tensor:
        if s not in times:
            times[s] = x0.new_full((x0.shape[0],), s)
        return times[s]

    return _solve(f, x0, steps, solver, at)


@torch.no_grad()
def sample_actions(
    velocity: VelocityFn,
    obs: Tensor,
    act_dim: int,
    *,
    steps: int = 10,
    solver: Solver = "euler",
    deterministic: bool = False,
    generator: torch.Generator | None = None,
    limit: float | None = RAW_ACTION_LIMIT,
) -> Tensor:
    """Sample raw (pre-squash) actions for a batch of observations.

    obs (B, O) -> actions (B, A). ``deterministic=False`` starts at eps ~ N(0, I) (rollouts);
    ``deterministic=True`` starts at x_0 = 0 (zero-noise sampling for evaluation and deployment).
    The ODE's end point is clipped to [-limit, limit] (:mod:`fpo_policy.core.squash`); ``None``
    returns it unclipped.
    """
    _check(steps, solver)
    shape = (obs.shape[0], act_dim)
    if deterministic:
        x0 = torch.zeros(shape, dtype=obs.dtype, device=obs.device)
    else:
        x0 = torch.randn(shape, generator=generator, dtype=obs.dtype, device=obs.device)
    if isinstance(velocity, VelocityField):
        n = velocity.config.time_features
        v, first = velocity.conditioned(obs, _stage_features(solver, steps, n, obs.dtype, obs.device))
        x1 = _solve(v, x0, steps, solver, dict(zip(stage_times(solver, steps), first)).__getitem__)
    else:
        x1 = integrate(lambda x, t: velocity(obs, x, t), x0, steps, solver)
    return x1 if limit is None else x1.clamp_(-limit, limit)


def sample_actions_with_grad(
    velocity: VelocityFn, obs: Tensor, act_dim: int, *, steps: int = 10, solver: Solver = "euler"
) -> Tensor:
    """:func:`sample_actions` (from noise, unclipped) with autograd on for a :class:`VelocityField`,
    so a loss on the sampled actions reaches the network through every solver step: the same code,
    called past its ``no_grad`` wrapper. (A plain callable still integrates without gradients.)"""
    return sample_actions.__wrapped__(velocity, obs, act_dim, steps=steps, solver=solver, limit=None)
