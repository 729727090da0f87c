"""The interface FPO and PPO share: an actor, a critic, and the hooks the common update calls."""

from __future__ import annotations

from torch import Tensor, nn

from fpo_policy.core.networks import ValueFunction
from fpo_policy.core.rollout_storage import Batch


class Agent(nn.Module):
    """Actor plus critic. Subclasses: :class:`fpo_policy.core.fpo.FlowAgent`,
    :class:`fpo_policy.core.ppo.GaussianAgent`."""

    algorithm: str
    actor: nn.Module
    critic: ValueFunction

    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Rollout action: obs (B, O) -> raw actions (B, A) and per-transition extras to store."""
        raise NotImplementedError

    def rollout_extras(self, obs: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """The per-transition extras :meth:`act` stores, for raw actions (B, A) sampled elsewhere
        (the trainer node's acting policies) from the current actor on obs (B, O)."""
        raise NotImplementedError

    def act_deterministic(self, obs: Tensor) -> Tensor:
        """Evaluation action: obs (B, O) -> raw actions (B, A)."""
        raise NotImplementedError

    def policy_loss(self, mb: Batch, advantages: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Differentiable policy loss of a minibatch and its scalar diagnostics."""
        raise NotImplementedError

    def actor_config(self) -> dict:
        """Network config dict stored in checkpoints (with a ``kind`` key)."""
        raise NotImplementedError

    def sampler_settings(self) -> tuple[str, int]:
        """(solver, steps) recorded in checkpoints; ("none", 0) for non-flow actors."""
        return "none", 0
