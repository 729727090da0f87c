"""Running observation normalisation: obs_norm = clip((obs - mean) / sqrt(var + 1e-8), -clip, clip).

The statistics are updated from every rollout batch and stored in checkpoints; rollouts store the
normalised observation, so the old and the new losses of a transition see the same input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RunningMeanStd:
    """Mean and variance over all observations seen so far (parallel Welford update, float64)."""

    mean: np.ndarray
    var: np.ndarray
    count: float = 1e-4
    clip: float = 10.0

    @classmethod
    def zeros(cls, dim: int, clip: float = 10.0) -> RunningMeanStd:
        return cls(mean=np.zeros(dim), var=np.ones(dim), count=1e-4, clip=clip)

    def update(self, x: np.ndarray) -> None:
        """x (B, D)."""
        x = np.asarray(x, dtype=np.float64)
        b_mean, b_var, b = x.mean(axis=0), x.var(axis=0), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + b
        m2 = self.var * self.count + b_var * b + delta**2 * self.count * b / total
        self.mean = self.mean + delta * b / total
        self.var = m2 / total
        self.count = total

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """x (B, D) -> float32 (B, D)."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / np.sqrt(self.var + 1e-8)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)
