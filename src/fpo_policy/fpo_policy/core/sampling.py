"""ODE sampling of the flow policy: Euler, midpoint and RK4 with K uniform steps from t = 0 to t = 1.

The time convention is the one of :mod:`fpo_policy.core.flow` (t = 0 noise, t = 1 action). The trainer
and the deployed policy call this same code. Sampling never builds an autograd graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor

from fpo_policy.core.flow import VelocityFn

Solver = Literal["euler", "midpoint", "rk4"]
SOLVERS: tuple[str, ...] = get_args(Solver)

OdeFn = Callable[[Tensor, Tensor], Tensor]
"""f(x (B, A), t (B,)) -> dx/dt (B, A)."""


def _step(f: OdeFn, x: Tensor, t: float, dt: float, solver: str, at: Callable[[float], Tensor]) -> Tensor:
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


@torch.no_grad()
def integrate(f: OdeFn, x0: Tensor, steps: int, solver: Solver = "euler") -> Tensor:
    """Integrate dx/dt = f(x, t) from t = 0 to t = 1 in ``steps`` uniform steps. x0 (B, A) -> x1 (B, A)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {SOLVERS}")
    dt = 1.0 / steps
    times: dict[float, Tensor] = {}  # each time tensor is built once (RK4 reuses t + dt as the next t)

    def at(s: float) -> Tensor:
        if s not in times:
            times[s] = x0.new_full((x0.shape[0],), s)
        return times[s]

    x = x0
    for k in range(steps):
        x = _step(f, x, k * dt, dt, solver, at)
    return x


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
) -> Tensor:
    """Sample raw (pre-squash) actions for a batch of observations.

    obs (B, O) -> actions (B, A). ``deterministic=False`` starts at eps ~ N(0, I) (rollouts);
    ``deterministic=True`` starts at x_0 = 0 (zero-noise sampling for evaluation and deployment).
    """
    shape = (obs.shape[0], act_dim)
    if deterministic:
        x0 = torch.zeros(shape, dtype=obs.dtype, device=obs.device)
    else:
        x0 = torch.randn(shape, generator=generator, dtype=obs.dtype, device=obs.device)
    return integrate(lambda x, t: velocity(obs, x, t), x0, steps, solver)
