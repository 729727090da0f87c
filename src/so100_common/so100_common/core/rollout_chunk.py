"""The unit of experience that travels from a sim node to the trainer: a :class:`Chunk` of transitions.

A sim node records transitions in lockstep with the acting policy (:mod:`fpo_sim.core.lockstep`)
and publishes them as ``fpo_msgs/RolloutChunk``; the trainer node turns each message back into a
:class:`Chunk` and assembles on-policy batches from them (:mod:`fpo_policy.core.batch_assembly`).
Both sides hold this type, so it lives here, below both.

:class:`ActionSample` is what the acting policy reports for one state (``fpo_msgs/PolicyAction``):
the observation it acted on, before normalisation, and its unsquashed sample, which is what FPO
scores the flow-matching loss of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActionSample:
    """What the acting policy reported for one state (fpo_msgs/PolicyAction)."""

    stamp_ns: int
    """Stamp of the state it answers, ns."""
    policy_id: str
    policy_version: int
    observation: np.ndarray
    """(O,) float32, before normalisation."""
    action: np.ndarray
    """(A,) float32, unsquashed."""


_CHUNK_DTYPES = {
    "observations": np.float32,
    "actions": np.float32,
    "rewards": np.float32,
    "terminated": bool,
    "truncated": bool,
    "next_observations": np.float32,
    "success": bool,
}


@dataclass(frozen=True)
class Chunk:
    """Consecutive transitions of one source under one policy. Arrays: T rows."""

    sequence: int
    policy_id: str
    policy_version: int
    observations: np.ndarray
    """(T, O) float32."""
    actions: np.ndarray
    """(T, A) float32, unsquashed."""
    rewards: np.ndarray
    """(T,) float32."""
    terminated: np.ndarray
    """(T,) bool: terminal state, no bootstrap."""
    truncated: np.ndarray
    """(T,) bool: time limit or recording cut; bootstrap from ``next_observations``."""
    next_observations: np.ndarray
    """(T, O) float32, before any reset."""
    success: np.ndarray
    """(T,) bool."""

    def __post_init__(self) -> None:
        for name, dtype in _CHUNK_DTYPES.items():
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        obs = self.observations
        if obs.ndim != 2 or obs.shape[0] < 1:
            raise ValueError(f"observations must be (T, O) with T >= 1, got shape {obs.shape}")
        steps, obs_dim = obs.shape
        if self.actions.ndim != 2 or self.actions.shape[0] != steps:
            raise ValueError(f"actions must be ({steps}, A), got shape {self.actions.shape}")
        if self.next_observations.shape != (steps, obs_dim):
            shape = self.next_observations.shape
            raise ValueError(f"next_observations must be ({steps}, {obs_dim}), got shape {shape}")
        for name in ("rewards", "terminated", "truncated", "success"):
            if getattr(self, name).shape != (steps,):
                raise ValueError(f"{name} must have {steps} entries, got shape {getattr(self, name).shape}")
        for name in ("observations", "actions", "rewards", "next_observations"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} holds NaN or Inf")
        if self.sequence < 0 or self.policy_version < 0:
            raise ValueError("sequence and policy_version must be >= 0")

    @property
    def num_steps(self) -> int:
        return int(self.observations.shape[0])

    @property
    def dones(self) -> np.ndarray:
        """(T,) bool: terminated or truncated."""
        return np.logical_or(self.terminated, self.truncated)
