"""The update step shared by FPO and PPO, separable from rollout collection.

For each epoch and minibatch: normalise advantages, take the agent's policy loss, add
vf_coef * 0.5 * (V(obs) - returns)^2, clip the global gradient norm, step the optimiser.
The trainer node feeds batches assembled from ROS rollout messages into the same function.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn

from fpo_policy.core.agent import Agent
from fpo_policy.core.config import AlgoConfig, FpoConfig, PpoConfig
from fpo_policy.core.fpo import FlowAgent
from fpo_policy.core.ppo import GaussianAgent
from fpo_policy.core.rollout_storage import Batch


def make_agent(algo: str, cfg: AlgoConfig, obs_dim: int, act_dim: int) -> Agent:
    """The agent of ``algo`` ("fpo" or "ppo") built from its config."""
    if algo == "fpo" and isinstance(cfg, FpoConfig):
        return FlowAgent(cfg, obs_dim, act_dim)
    if algo == "ppo" and isinstance(cfg, PpoConfig):
        return GaussianAgent(cfg, obs_dim, act_dim)
    raise ValueError(f"algorithm {algo!r} does not match config {type(cfg).__name__}")


def update(agent: Agent, optimizer: torch.optim.Optimizer, batch: Batch, cfg: AlgoConfig) -> dict[str, float]:
    """Run ``cfg.update_epochs`` epochs of minibatch updates; returns diagnostics averaged over
    minibatches, plus ``first_rho_max_dev`` (max |rho - 1| of the first minibatch, before any step:
    exactly 0 when the stored data matches the network)."""
    n = len(batch)
    mb_size = cfg.minibatch_size(n)
    sums: dict[str, float] = defaultdict(float)
    count = 0
    first_dev = None
    for _ in range(cfg.update_epochs):
        perm = torch.randperm(n)
        for start in range(0, n - mb_size + 1, mb_size):
            mb = batch.index(perm[start : start + mb_size])
            advantages = mb.advantages
            if cfg.norm_adv and len(mb) > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            pg_loss, info = agent.policy_loss(mb, advantages)
            v_loss = 0.5 * (agent.critic(mb.obs) - mb.returns).pow(2).mean()
            loss = pg_loss + cfg.vf_coef * v_loss
            optimizer.zero_grad()
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            optimizer.step()
            if first_dev is None:
                first_dev = info["rho_max_dev"]
            for k, v in info.items():
                sums[k] += v
            sums["v_loss"] += float(v_loss.detach())
            sums["grad_norm"] += float(grad_norm)
            count += 1
    stats = {k: v / max(count, 1) for k, v in sums.items()}
    stats["first_rho_max_dev"] = float(first_dev if first_dev is not None else 0.0)
    var_y = float(batch.returns.var())
    residual = float((batch.returns - batch.values).var())
    stats["explained_variance"] = float("nan") if var_y == 0 else 1.0 - residual / var_y
    return stats
