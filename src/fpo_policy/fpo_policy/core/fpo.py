"""FPO objective and the flow agent.

For a transition with action a and its N stored pairs (tau_i, eps_i), the per-sample CFM losses
l_i(theta) = cfm_loss(a, tau_i, eps_i) stand in for -log pi(a). The stored old losses l_i^old were
taken at rollout time by the same network on the same (normalised) observation and raw action, so
rho == 1 exactly before the first gradient step.

    per_sample (FPO++):  rho_i = exp(clamp(l_i^old) - clamp(l_i))          (B, N), each clipped
    mean (paper):        rho   = exp(mean_i [clamp(l_i^old) - clamp(l_i)])  (B, 1)

The log-ratio is clamped to +-log_ratio_clamp with a straight-through estimator. The surrogate is the
PPO clip, or ASPO (:mod:`fpo_policy.core.surrogate`), with the action's advantage broadcast over its
pairs. Total policy loss = -surrogate + cfm_lambda * mean_b w_b mean_i l_bi, the CFM regulariser on
the collected actions, with weights w_b: all 1 (``uniform``), or exp(A_b / beta) capped at
``cfm_weight_max`` (``advantage``, :func:`cfm_weights`); with ``ent_coef`` > 0, minus ent_coef times
a sample-based entropy estimate (:func:`knn_entropy`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fpo_policy.core.agent import Agent
from fpo_policy.core.config import FpoConfig
from fpo_policy.core.flow import FlowNetConfig, VelocityField, cfm_loss, sample_pairs
from fpo_policy.core.networks import ValueFunction
from fpo_policy.core.rollout_storage import Batch
from fpo_policy.core.sampling import sample_actions, sample_actions_with_grad
from fpo_policy.core.surrogate import aspo_objective, clip_fraction, ppo_clip_objective


def fpo_log_ratio(
    old_cfm_loss: Tensor, new_cfm_loss: Tensor, ratio: str, loss_clamp: float, log_ratio_clamp: float
) -> Tensor:
    """log rho from per-sample losses (B, N): (B, N) for ``per_sample``, (B, 1) for ``mean``."""
    diff = old_cfm_loss.clamp(max=loss_clamp) - new_cfm_loss.clamp(max=loss_clamp)
    if ratio == "mean":
        diff = diff.mean(dim=-1, keepdim=True)
    elif ratio != "per_sample":
        raise ValueError(f"unknown ratio {ratio!r}; expected 'per_sample' or 'mean'")
    return diff + (diff.clamp(-log_ratio_clamp, log_ratio_clamp) - diff).detach()


def cfm_weights(advantages: Tensor, weighting: str, beta: float, weight_max: float) -> Tensor:
    """(B,) detached weights of the CFM regulariser: ones for ``uniform``; for ``advantage``,
    exp(A / beta) capped at ``weight_max`` (as advantage-weighted regression does; the cap is applied
    in the exponent, so no weight overflows)."""
    if weighting == "uniform":
        return torch.ones_like(advantages)
    if weighting != "advantage":
        raise ValueError(f"unknown cfm_weighting {weighting!r}; expected 'uniform' or 'advantage'")
    return torch.exp((advantages.detach() / beta).clamp(max=math.log(weight_max)))


def knn_entropy(
    actor: VelocityField, obs: Tensor, act_dim: int, samples: int, steps: int, solver: str
) -> Tensor:
    """Differentiable entropy estimate of the flow's squashed actions, averaged over the states ``obs``
    (B, O): ``samples`` actions per state from fresh noise through the ODE (gradients flow through
    the solver), then the Kozachenko-Leonenko estimate A * mean log(distance to the nearest other
    sample), constants dropped. Larger for a more spread, or more evenly split, distribution."""
    rows = obs.repeat_interleave(samples, dim=0)
    u = sample_actions_with_grad(actor, rows, act_dim, steps=steps, solver=solver)
    u = torch.tanh(u.view(obs.shape[0], samples, act_dim))  # squashed: a bounded space, as the env's
    itself = torch.eye(samples, dtype=torch.bool, device=u.device)
    dist = torch.cdist(u, u).masked_fill(itself, float("inf"))
    return act_dim * torch.log(dist.min(dim=-1).values + 1e-6).mean()


class FlowAgent(Agent):
    """Flow-matching actor (:class:`VelocityField`) and critic, trained with FPO."""

    algorithm = "fpo"

    def __init__(self, cfg: FpoConfig, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.act_dim = act_dim
        self.actor = VelocityField(
            FlowNetConfig(
                obs_dim=obs_dim,
                act_dim=act_dim,
                hidden=tuple(cfg.actor_hidden),
                time_features=cfg.time_features,
                activation=cfg.activation,
                output_scale=cfg.output_scale,
            )
        )
        self.critic = ValueFunction(obs_dim, tuple(cfg.critic_hidden))

    def actor_config(self) -> dict:
        return self.actor.config.to_dict()

    def sampler_settings(self) -> tuple[str, int]:
        return self.cfg.solver, self.cfg.sample_steps

    @torch.no_grad()
    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Sample a ~ flow(obs) from eps ~ N(0, I); draw the pairs and store their old losses."""
        cfg = self.cfg
        actions = sample_actions(self.actor, obs, self.act_dim, steps=cfg.sample_steps, solver=cfg.solver)
        return actions, self.rollout_extras(obs, actions)

    @torch.no_grad()
    def rollout_extras(self, obs: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """Draw N (tau, eps) pairs per action and store the current per-sample CFM losses."""
        cfg = self.cfg
        pairs = sample_pairs(
            obs.shape[0], cfg.n_pairs, self.act_dim, tau_min=cfg.tau_min, tau_max=cfg.tau_max
        )
        old = cfm_loss(self.actor, obs, actions, pairs.tau, pairs.eps, cfg.loss_form)
        return {"tau": pairs.tau, "eps": pairs.eps, "old_cfm_loss": old}

    def act_deterministic(self, obs: Tensor) -> Tensor:
        cfg = self.cfg
        return sample_actions(
            self.actor, obs, self.act_dim, steps=cfg.sample_steps, solver=cfg.solver, deterministic=True
        )

    def policy_loss(self, mb: Batch, advantages: Tensor) -> tuple[Tensor, dict[str, float]]:
        cfg = self.cfg
        old = mb.extras["old_cfm_loss"]
        new = cfm_loss(self.actor, mb.obs, mb.actions, mb.extras["tau"], mb.extras["eps"], cfg.loss_form)
        log_rho = fpo_log_ratio(old, new, cfg.ratio, cfg.loss_clamp, cfg.log_ratio_clamp)
        rho = torch.exp(log_rho)
        objective = aspo_objective if cfg.aspo else ppo_clip_objective
        pg_loss = -objective(rho, advantages[:, None], cfg.clip_eps).mean()
        weights = cfm_weights(advantages, cfg.cfm_weighting, cfg.cfm_beta, cfg.cfm_weight_max)
        cfm_reg = (weights[:, None] * new).mean()
        loss = pg_loss + cfg.cfm_lambda * cfm_reg
        entropy = None
        if cfg.ent_coef > 0:
            entropy = knn_entropy(
                self.actor, mb.obs, self.act_dim, cfg.ent_samples, cfg.sample_steps, cfg.solver
            )
            loss = loss - cfg.ent_coef * entropy
        with torch.no_grad():
            info = {
                "pg_loss": float(pg_loss),
                "cfm_loss": float(cfm_reg),
                "stored_cfm_loss": float(old.mean()),
                "rho_mean": float(rho.mean()),
                "rho_max_dev": float((rho - 1.0).abs().max()),
                "approx_kl": float(((rho - 1.0) - log_rho).mean()),
                "clipfrac": clip_fraction(rho, cfg.clip_eps),
            }
            if entropy is not None:
                info["entropy"] = float(entropy)  # the estimate, up to a constant
        return loss, info
