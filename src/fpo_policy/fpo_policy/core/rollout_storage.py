"""Rollout storage, generalised advantage estimation (GAE) and the flat update batch.

Shapes: T steps per env, E envs, B = T * E transitions, O obs dims, A action dims.

Episode ends. ``terminated`` (a true terminal state) cuts the bootstrap; ``truncated`` (a time limit)
does not: the step bootstraps from V(final_obs), the value of the observation the episode actually
reached, which the trainer passes in ``next_values``. Either way the advantage recursion stops there:

    delta_t = r_t + gamma * (1 - terminated_t) * next_values_t - values_t
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done = terminated or truncated
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


def compute_gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    dones: Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[Tensor, Tensor]:
    """All inputs (T, E); ``next_values[t]`` is V of the observation that followed step t.

    Returns (advantages (T, E), returns (T, E)) with returns = advantages + values.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in reversed(range(steps)):
        delta = rewards[t] + gamma * (1.0 - terminated[t]) * next_values[t] - values[t]
        last = delta + gamma * gae_lambda * (1.0 - dones[t]) * last
        advantages[t] = last
    return advantages, advantages + values


@dataclass
class Batch:
    """A flat batch of B transitions for one update, from the trainer or assembled from ROS messages."""

    obs: Tensor
    """(B, O) normalised observations, exactly as the policy saw them."""
    actions: Tensor
    """(B, A) raw (pre-squash) actions."""
    values: Tensor
    """(B,) critic values at collection time."""
    advantages: Tensor
    """(B,) GAE advantages."""
    returns: Tensor
    """(B,) value targets (advantages + values)."""
    extras: dict[str, Tensor] = field(default_factory=dict)
    """Per-algorithm per-transition data: FPO ``tau`` (B, N), ``eps`` (B, N, A), ``old_cfm_loss`` (B, N);
    PPO ``logprob`` (B,)."""

    def __post_init__(self) -> None:
        b = self.obs.shape[0]
        for name in ("actions", "values", "advantages", "returns"):
            if getattr(self, name).shape[0] != b:
                raise ValueError(f"batch field {name} has {getattr(self, name).shape[0]} rows, obs has {b}")
        for name, x in self.extras.items():
            if x.shape[0] != b:
                raise ValueError(f"batch extra {name} has {x.shape[0]} rows, obs has {b}")

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def index(self, idx: Tensor) -> Batch:
        return Batch(
            obs=self.obs[idx],
            actions=self.actions[idx],
            values=self.values[idx],
            advantages=self.advantages[idx],
            returns=self.returns[idx],
            extras={k: v[idx] for k, v in self.extras.items()},
        )


class RolloutStorage:
    """Fixed-size (T, E) buffers filled step by step by the trainer."""

    def __init__(self, num_steps: int, num_envs: int, obs_dim: int, act_dim: int) -> None:
        t, e = num_steps, num_envs
        self.obs = torch.zeros(t, e, obs_dim)
        self.actions = torch.zeros(t, e, act_dim)
        self.rewards = torch.zeros(t, e)
        self.values = torch.zeros(t, e)
        self.next_values = torch.zeros(t, e)
        self.terminated = torch.zeros(t, e)
        self.dones = torch.zeros(t, e)
        self.extras: dict[str, Tensor] = {}
        self.num_steps, self.num_envs = t, e

    def put(
        self, step: int, *, obs: Tensor, actions: Tensor, values: Tensor, extras: dict[str, Tensor]
    ) -> None:
        """Store what was known when acting at ``step``."""
        self.obs[step], self.actions[step], self.values[step] = obs, actions, values
        for k, v in extras.items():
            if k not in self.extras:
                self.extras[k] = torch.zeros((self.num_steps, *v.shape), dtype=v.dtype)
            self.extras[k][step] = v

    def put_outcome(
        self, step: int, *, rewards: Tensor, terminated: Tensor, dones: Tensor, next_values: Tensor
    ) -> None:
        """Store what the env returned for ``step``; ``next_values`` per :func:`compute_gae`."""
        self.rewards[step], self.terminated[step], self.dones[step] = rewards, terminated, dones
        self.next_values[step] = next_values

    def to_batch(self, gamma: float, gae_lambda: float) -> Batch:
        advantages, returns = compute_gae(
            self.rewards, self.values, self.next_values, self.terminated, self.dones, gamma, gae_lambda
        )

        def flat(x: Tensor) -> Tensor:
            return x.reshape(self.num_steps * self.num_envs, *x.shape[2:])

        return Batch(
            obs=flat(self.obs),
            actions=flat(self.actions),
            values=flat(self.values),
            advantages=flat(advantages),
            returns=flat(returns),
            extras={k: flat(v) for k, v in self.extras.items()},
        )
