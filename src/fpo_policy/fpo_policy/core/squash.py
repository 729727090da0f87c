"""Action squashing convention (stated here once; ``test_squash.py`` pins it).

Both policies (flow and Gaussian) produce a raw, unbounded action u in R^A. Rollouts store u, and
every loss (CFM loss, Gaussian log-likelihood) scores u. Only the environment sees the squashed action

    env_action = low + (tanh(u) + 1) / 2 * (high - low)

which lies inside the action space's bounds [low, high]. Storing the pre-squash u keeps the stored
action, the scored action and the executed action one deterministic function of each other.

The flow sampler clips u to [-RAW_ACTION_LIMIT, RAW_ACTION_LIMIT] (:data:`RAW_ACTION_LIMIT` = 3,
tanh(3) = 0.995), so the clipped u is what is stored, scored and executed; the env action then keeps
all but 0.25% of its range at each end. Without the clip, a task whose best actions sit at a bound
(close the jaw, raise the arm) drives u outward without limit, since tanh hides the growth from the
return; the CFM losses, which scale with |u|^2, then grow with it and the ratio exp(L_old - L_new)
blows up (benchmarks/README.md, the pick runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RAW_ACTION_LIMIT = 3.0
"""Bound of the flow sampler's raw actions |u| (see the module docstring)."""

SQUASH = "tanh"
"""Written into every checkpoint; a checkpoint with another value is refused."""


@dataclass(frozen=True)
class ActionBounds:
    """Bounds of a Box action space; both (A,) float64 arrays with finite entries."""

    low: np.ndarray
    high: np.ndarray

    def __post_init__(self) -> None:
        low = np.asarray(self.low, dtype=np.float64).reshape(-1)
        high = np.asarray(self.high, dtype=np.float64).reshape(-1)
        if low.shape != high.shape:
            raise ValueError(f"action bounds differ in shape: {low.shape} vs {high.shape}")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
            raise ValueError(f"action bounds must be finite with high > low, got {low} and {high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def act_dim(self) -> int:
        return int(self.low.shape[0])

    def to_env(self, u: np.ndarray) -> np.ndarray:
        """Raw actions u (B, A) -> env actions in [low, high], float32 (B, A)."""
        squashed = (np.tanh(np.asarray(u, dtype=np.float64)) + 1.0) / 2.0 * (self.high - self.low) + self.low
        return squashed.astype(np.float32)
