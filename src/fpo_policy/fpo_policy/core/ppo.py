"""Gaussian PPO baseline: the same rollout storage, GAE, critic and update loop as FPO, with the
exact likelihood ratio rho = exp(log pi(u) - log pi_old(u)) of the stored raw action u."""

from __future__ import annotations

import torch
from torch import Tensor

from fpo_policy.core.agent import Agent
from fpo_policy.core.config import PpoConfig
from fpo_policy.core.gaussian import GaussianActor, GaussianNetConfig
from fpo_policy.core.networks import ValueFunction
from fpo_policy.core.rollout_storage import Batch
from fpo_policy.core.surrogate import clip_fraction, ppo_clip_objective


class GaussianAgent(Agent):
    """Diagonal Gaussian actor and critic, trained with PPO."""

    algorithm = "ppo"

    def __init__(self, cfg: PpoConfig, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.actor = GaussianActor(
            GaussianNetConfig(
                obs_dim=obs_dim,
                act_dim=act_dim,
                hidden=tuple(cfg.actor_hidden),
                log_std_init=cfg.log_std_init,
            )
        )
        self.critic = ValueFunction(obs_dim, tuple(cfg.critic_hidden))

    def actor_config(self) -> dict:
        return self.actor.config.to_dict()

    @torch.no_grad()
    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        actions = self.actor.sample(obs)
        return actions, self.rollout_extras(obs, actions)

    @torch.no_grad()
    def rollout_extras(self, obs: Tensor, actions: Tensor) -> dict[str, Tensor]:
        return {"logprob": self.actor.log_prob(obs, actions)}

    @torch.no_grad()
    def act_deterministic(self, obs: Tensor) -> Tensor:
        return self.actor(obs)

    def policy_loss(self, mb: Batch, advantages: Tensor) -> tuple[Tensor, dict[str, float]]:
        log_rho = self.actor.log_prob(mb.obs, mb.actions) - mb.extras["logprob"]
        rho = torch.exp(log_rho)
        pg_loss = -ppo_clip_objective(rho, advantages, self.cfg.clip_eps).mean()
        entropy = self.actor.entropy()
        loss = pg_loss - self.cfg.ent_coef * entropy
        with torch.no_grad():
            info = {
                "pg_loss": float(pg_loss),
                "entropy": float(entropy),
                "rho_mean": float(rho.mean()),
                "rho_max_dev": float((rho - 1.0).abs().max()),
                "approx_kl": float(((rho - 1.0) - log_rho).mean()),
                "clipfrac": clip_fraction(rho, self.cfg.clip_eps),
            }
        return loss, info
