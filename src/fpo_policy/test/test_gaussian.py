"""The Gaussian PPO actor starts as CleanRL's does: orthogonal weights, a near-zero mean everywhere."""

from __future__ import annotations

import math

import torch

from fpo_policy.core.gaussian import GaussianActor, GaussianNetConfig


def test_initial_mean_action_is_near_zero_in_every_state_and_weights_are_orthogonal():
    torch.manual_seed(0)
    actor = GaussianActor(GaussianNetConfig(obs_dim=11, act_dim=3, hidden=(64, 64)))
    obs = 3.0 * torch.randn(4096, 11)
    with torch.no_grad():
        mean = actor(obs)
    # Output gain 0.01: the mean is about 1 % of what the default initialisation gives (~0.3-1).
    assert float(mean.abs().max()) < 0.1
    assert float(mean.std()) < 0.03
    linears = [m for m in actor.mean if isinstance(m, torch.nn.Linear)]
    for layer, gain in zip(linears, (math.sqrt(2.0), math.sqrt(2.0), 0.01)):
        w = layer.weight.detach()
        rows = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        assert torch.allclose(rows, gain**2 * torch.eye(rows.shape[0]), atol=1e-4 * max(1.0, gain**2))
        assert float(layer.bias.abs().max()) == 0.0
    assert torch.equal(actor.log_std.detach(), torch.zeros(3))
