"""Diagonal Gaussian actor for the PPO baseline: u ~ N(mu_theta(obs), diag(exp(log_std))^2).

Like the flow actor it produces raw, pre-squash actions u (see :mod:`fpo_policy.core.squash`);
log-probabilities are of u, so the tanh Jacobian cancels in every likelihood ratio.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from fpo_policy.core.networks import mlp


@dataclass(frozen=True)
class GaussianNetConfig:
    """Architecture of the Gaussian actor; stored in checkpoints to rebuild it."""

    obs_dim: int
    """Observation dimension O."""
    act_dim: int
    """Action dimension A."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the mean network."""
    activation: str = "tanh"
    """Hidden activation: silu, tanh or relu."""
    log_std_init: float = 0.0
    """Initial log standard deviation (state-independent, learned)."""

    def to_dict(self) -> dict:
        return {"kind": "gaussian", **asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, d: dict) -> GaussianNetConfig:
        d = {k: v for k, v in d.items() if k != "kind"}
        return cls(**{**d, "hidden": tuple(d["hidden"])})


def orthogonal_init(net: nn.Sequential, output_gain: float) -> None:
    """CleanRL's initialisation: orthogonal weights with gain sqrt(2) in the hidden layers and
    ``output_gain`` in the last one, zero biases. A small output gain starts every state's mean
    action near 0, so the first policy is the same near-uniform exploration everywhere."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, gain=output_gain if i == len(linears) - 1 else math.sqrt(2.0))
        nn.init.zeros_(layer.bias)


class GaussianActor(nn.Module):
    """mu_theta(obs) (B, A) and a learned state-independent log_std (A,); initialised as CleanRL's
    ppo_continuous_action initialises its actor (:func:`orthogonal_init`, output gain 0.01)."""

    def __init__(self, config: GaussianNetConfig) -> None:
        super().__init__()
        self.config = config
        self.mean = mlp(config.obs_dim, config.hidden, config.act_dim, config.activation)
        orthogonal_init(self.mean, output_gain=0.01)
        self.log_std = nn.Parameter(torch.full((config.act_dim,), float(config.log_std_init)))

    def forward(self, obs: Tensor) -> Tensor:
        """obs (B, O) -> mean action (B, A)."""
        return self.mean(obs)

    def log_prob(self, obs: Tensor, actions: Tensor) -> Tensor:
        """log N(u | mu, sigma^2), summed over A: obs (B, O), actions (B, A) -> (B,)."""
        z = (actions - self.mean(obs)) * torch.exp(-self.log_std)
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1)

    def entropy(self) -> Tensor:
        """Entropy of the diagonal Gaussian (scalar; it does not depend on obs)."""
        return (self.log_std + 0.5 * math.log(2.0 * math.pi * math.e)).sum()

    @torch.no_grad()
    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """obs (B, O) -> u (B, A)."""
        mu = self.mean(obs)
        return mu + torch.exp(self.log_std) * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
