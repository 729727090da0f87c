"""Flow policy: the probability path, the velocity field and the conditional flow matching (CFM) loss.

Time convention (stated here once for the whole project; ``test_flow.py`` pins it):

    t = 0 is noise, t = 1 is the action.
    x_t = (1 - t) * eps + t * a,        eps ~ N(0, I)
    target velocity  d x_t / dt = a - eps

Sampling (:mod:`fpo_policy.core.sampling`) integrates dx/dt = v_theta(x_t, t | obs) from t = 0, where
x_0 = eps (stochastic start) or x_0 = 0 (zero-noise start), to t = 1.

The action ``a`` here is the raw, pre-squash action ``u`` of :mod:`fpo_policy.core.squash`: it is what
rollouts store and what the CFM loss scores.

Shapes: B batch, N Monte Carlo pairs (tau, eps) per action, A action dims, O observation dims.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fpo_policy.core.networks import mlp

TIME_CONVENTION = "t0_noise_t1_action"
"""Written into every checkpoint; a checkpoint with another value is refused."""

LossForm = Literal["velocity", "eps"]
"""``velocity``: mean_A (v_theta - (a - eps))^2.
``eps``: the velocity output turned into a noise prediction, eps_hat = x_t - t * v_theta, and
mean_A (eps_hat - eps)^2 = t^2 * mean_A (v_theta - (a - eps))^2 (the paper's time-weighted form)."""

VelocityFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""v(obs (B, O), x_t (B, A), t (B,)) -> (B, A)."""


@dataclass(frozen=True)
class FlowNetConfig:
    """Architecture of the velocity network; stored in checkpoints to rebuild it."""

    obs_dim: int
    """Observation dimension O."""
    act_dim: int
    """Action dimension A."""
    hidden: tuple[int, ...] = (64, 64, 64)
    """Hidden layer widths of the MLP."""
    time_features: int = 8
    """Number of Fourier features of t (half sines, half cosines); must be even."""
    activation: str = "silu"
    """Hidden activation: silu, tanh or relu."""
    output_scale: float = 1.0
    """Multiplies the network output (the paper's actor uses 0.25)."""

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.act_dim < 1:
            raise ValueError(f"obs_dim and act_dim must be >= 1, got {self.obs_dim}, {self.act_dim}")
        if self.time_features < 2 or self.time_features % 2:
            raise ValueError(f"time_features must be even and >= 2, got {self.time_features}")

    def to_dict(self) -> dict:
        return {"kind": "flow", **asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, d: dict) -> FlowNetConfig:
        d = {k: v for k, v in d.items() if k != "kind"}
        return cls(**{**d, "hidden": tuple(d["hidden"])})


def time_features(t: Tensor, n: int) -> Tensor:
    """Fourier features of t: [sin(2^k pi t), cos(2^k pi t)] for k < n/2. t (B,) -> (B, n)."""
    freqs = math.pi * 2.0 ** torch.arange(n // 2, dtype=t.dtype, device=t.device)
    angles = t[:, None] * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class VelocityField(nn.Module):
    """v_theta(x_t, t | obs): an MLP on [obs, x_t, fourier(t)]."""

    def __init__(self, config: FlowNetConfig) -> None:
        super().__init__()
        self.config = config
        in_dim = config.obs_dim + config.act_dim + config.time_features
        self.net = mlp(in_dim, config.hidden, config.act_dim, config.activation)

    def forward(self, obs: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """obs (B, O), x_t (B, A), t (B,) -> v (B, A)."""
        feats = time_features(t, self.config.time_features)
        return self.config.output_scale * self.net(torch.cat([obs, x_t, feats], dim=-1))

    def conditioned(
        self, obs: Tensor, t_features: Tensor
    ) -> tuple[Callable[[Tensor, Tensor], Tensor], tuple[Tensor, ...]]:
        """The field with obs and a fixed set of T times bound, for ODE sampling.

        obs (B, O), Fourier features of the T times (T, n) -> ``(v, first)``: ``first[j]`` (B, H) and
        ``v(x_t (B, A), first[j])`` = forward(obs, x_t, t_j) up to float rounding. The first layer is
        linear in [obs, x_t, fourier(t)]:

            W [obs, x_t, f(t)] + b = (W_obs obs + W_t f(t) + b) + W_x x_t

        and the bracket, ``first[j]``, does not depend on x_t, so it is computed once per integration
        for all T times; each evaluation then costs W_x x_t and the rest of the network. The terms are
        summed in another order than the single matmul of :meth:`forward`, hence "up to rounding".
        The layers are called through their ``forward`` (linear ones as ``F.linear``), so module hooks
        do not run here; nothing in this project registers any.
        """
        o, a = self.config.obs_dim, self.config.act_dim
        linear, *rest = self.net
        w = linear.weight.t()  # (O + A + n, H): the rows of obs, of x_t, of fourier(t)
        w_x = w[o : o + a]
        obs_term = torch.addmm(linear.bias, obs, w[:o])  # (B, H)
        first = torch.add(obs_term, (t_features @ w[o + a :]).unsqueeze(1)).unbind(0)
        scale = self.config.output_scale
        # The rest of the network as plain calls: at batch 1, nn.Module.__call__ costs about as much
        # as a small layer's arithmetic, and a stage runs K x (1, 2 or 4) times per integration.
        calls = [
            (F.linear, (m.weight, m.bias)) if isinstance(m, nn.Linear) else (m.forward, ()) for m in rest
        ]

        def v(x_t: Tensor, first_j: Tensor) -> Tensor:
            h = torch.addmm(first_j, x_t, w_x)
            for fn, args in calls:
                h = fn(h, *args)
            return h if scale == 1.0 else scale * h

        return v, first


def interpolate(actions: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) * eps + t * a. actions, eps (..., A), t (...) -> (..., A)."""
    t = t[..., None]
    return (1.0 - t) * eps + t * actions


def target_velocity(actions: Tensor, eps: Tensor) -> Tensor:
    """d x_t / dt = a - eps, independent of t."""
    return actions - eps


@dataclass(frozen=True)
class CfmPairs:
    """Monte Carlo pairs drawn once per transition and reused unchanged in every update epoch."""

    tau: Tensor
    """(B, N) flow times in [tau_min, tau_max]."""
    eps: Tensor
    """(B, N, A) noise samples."""


def sample_pairs(
    batch: int,
    n_pairs: int,
    act_dim: int,
    *,
    tau_min: float = 0.0,
    tau_max: float = 1.0,
    generator: torch.Generator | None = None,
) -> CfmPairs:
    """tau ~ U[tau_min, tau_max] (B, N) and eps ~ N(0, I) (B, N, A)."""
    tau = tau_min + (tau_max - tau_min) * torch.rand(batch, n_pairs, generator=generator)
    eps = torch.randn(batch, n_pairs, act_dim, generator=generator)
    return CfmPairs(tau=tau, eps=eps)


def cfm_loss(
    velocity: VelocityFn,
    obs: Tensor,
    actions: Tensor,
    tau: Tensor,
    eps: Tensor,
    form: LossForm = "velocity",
) -> Tensor:
    """Per-sample CFM loss of each action under each of its pairs.

    obs (B, O), actions (B, A), tau (B, N), eps (B, N, A) -> cfm_loss (B, N), averaged over A.
    All B * N evaluations go through the network in one call.
    """
    b, n, a = eps.shape
    x_t = interpolate(actions[:, None, :], eps, tau)
    obs_rep = obs[:, None, :].expand(b, n, obs.shape[-1]).reshape(b * n, -1)
    v = velocity(obs_rep, x_t.reshape(b * n, a), tau.reshape(b * n)).reshape(b, n, a)
    if form == "velocity":
        err = v - target_velocity(actions[:, None, :], eps)
    elif form == "eps":
        err = (x_t - tau[..., None] * v) - eps
    else:
        raise ValueError(f"unknown CFM loss form {form!r}; expected 'velocity' or 'eps'")
    return err.pow(2).mean(dim=-1)
