"""Policy-gradient surrogates shared by FPO and PPO (objectives to maximise; losses are their negation).

rho is a likelihood ratio (PPO) or its FPO stand-in exp(L_old - L_new); A the advantage, broadcast
against rho. eps is the clip range.

- PPO clip:  min(rho * A, clip(rho, 1 - eps, 1 + eps) * A)
- ASPO (FPO++): the PPO clip for A >= 0; for A < 0 the SPO penalty  rho * A - |A| / (2 eps) * (rho - 1)^2,
  whose gradient pulls rho back toward 1 instead of vanishing.
"""

from __future__ import annotations

import torch
from torch import Tensor


def ppo_clip_objective(rho: Tensor, advantages: Tensor, clip_eps: float) -> Tensor:
    """Elementwise clipped surrogate, same shape as ``rho * advantages``."""
    return torch.minimum(rho * advantages, torch.clamp(rho, 1.0 - clip_eps, 1.0 + clip_eps) * advantages)


def spo_objective(rho: Tensor, advantages: Tensor, clip_eps: float) -> Tensor:
    """Simple policy optimisation: rho * A - |A| / (2 eps) * (rho - 1)^2."""
    return rho * advantages - advantages.abs() / (2.0 * clip_eps) * (rho - 1.0).pow(2)


def aspo_objective(rho: Tensor, advantages: Tensor, clip_eps: float) -> Tensor:
    """PPO clip where A >= 0, SPO where A < 0."""
    advantages = advantages.expand_as(rho)
    return torch.where(
        advantages >= 0,
        ppo_clip_objective(rho, advantages, clip_eps),
        spo_objective(rho, advantages, clip_eps),
    )


def clip_fraction(rho: Tensor, clip_eps: float) -> float:
    """Share of ratios outside [1 - eps, 1 + eps]."""
    return float(((rho - 1.0).abs() > clip_eps).float().mean())
