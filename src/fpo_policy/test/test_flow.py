"""Flow path, time convention and CFM loss (fpo_policy.core.flow)."""

from __future__ import annotations

import pytest
import torch

from fpo_policy.core.flow import (
    TIME_CONVENTION,
    FlowNetConfig,
    VelocityField,
    cfm_loss,
    interpolate,
    sample_pairs,
    target_velocity,
    time_features,
)
from fpo_policy.core.sampling import integrate, sample_actions

MU, S = 1.5, 0.4  # target a ~ N(MU, S^2) in every action dim


def exact_gaussian_field(obs: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Marginal velocity of x_t = (1 - t) eps + t a with eps ~ N(0, 1), a ~ N(MU, S^2):
    x_t ~ N(t MU, sigma_t^2) with sigma_t^2 = (1 - t)^2 + t^2 S^2, and
    v(x, t) = MU + (t S^2 - (1 - t)) / sigma_t^2 * (x - t MU)."""
    t = t[:, None]
    var = (1 - t) ** 2 + t**2 * S**2
    return MU + (t * S**2 - (1 - t)) / var * (x - t * MU)


def test_time_convention_t0_is_noise_t1_is_action():
    a, eps = torch.tensor([[2.0, -1.0]]), torch.tensor([[0.3, 0.7]])
    assert torch.equal(interpolate(a, eps, torch.tensor([0.0])), eps)
    assert torch.equal(interpolate(a, eps, torch.tensor([1.0])), a)
    assert torch.allclose(interpolate(a, eps, torch.tensor([0.25])), 0.75 * eps + 0.25 * a)
    assert torch.equal(target_velocity(a, eps), a - eps)
    assert TIME_CONVENTION == "t0_noise_t1_action"


def test_sampling_integrates_from_noise_at_t0_to_action_at_t1():
    """The exact field maps eps to MU + S * eps; zero-noise start lands on the mean. Reversing the
    time direction anywhere in sampling would break both."""
    eps = torch.randn(256, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    obs = torch.zeros(256, 1, dtype=torch.float64)
    a = integrate(lambda x, t: exact_gaussian_field(obs, x, t), eps, steps=64, solver="rk4")
    assert torch.allclose(a, MU + S * eps, atol=1e-6)
    zero = sample_actions(exact_gaussian_field, obs[:4], 2, steps=64, solver="rk4", deterministic=True)
    assert torch.allclose(zero, torch.full_like(zero, MU), atol=1e-6)


def test_cfm_loss_of_exact_gaussian_field_is_minimal():
    g = torch.Generator().manual_seed(1)
    b, n, a_dim = 4096, 8, 2
    obs = torch.zeros(b, 1, dtype=torch.float64)
    actions = MU + S * torch.randn(b, a_dim, generator=g, dtype=torch.float64)
    tau = torch.rand(b, n, generator=g, dtype=torch.float64)
    eps = torch.randn(b, n, a_dim, generator=g, dtype=torch.float64)
    best = cfm_loss(exact_gaussian_field, obs, actions, tau, eps).mean()
    perturbations = {
        "offset": lambda o, x, t: exact_gaussian_field(o, x, t) + 0.1,
        "scaled": lambda o, x, t: 1.1 * exact_gaussian_field(o, x, t),
        "slope": lambda o, x, t: exact_gaussian_field(o, x, t) + 0.1 * x,
        "straight": lambda o, x, t: torch.full_like(x, MU),
    }
    for name, field in perturbations.items():
        worse = cfm_loss(field, obs, actions, tau, eps).mean()
        assert worse > best + 1e-3, name


def test_eps_form_is_time_weighted_velocity_form():
    torch.manual_seed(2)
    net = VelocityField(FlowNetConfig(obs_dim=3, act_dim=2))
    obs, actions = torch.randn(5, 3), torch.randn(5, 2)
    pairs = sample_pairs(5, 4, 2)
    vel = cfm_loss(net, obs, actions, pairs.tau, pairs.eps, "velocity")
    eps_form = cfm_loss(net, obs, actions, pairs.tau, pairs.eps, "eps")
    assert vel.shape == (5, 4)
    assert torch.allclose(eps_form, pairs.tau**2 * vel, atol=1e-6)
    with pytest.raises(ValueError, match="unknown CFM loss form"):
        cfm_loss(net, obs, actions, pairs.tau, pairs.eps, "huber")


def test_cfm_loss_is_per_sample_and_batched_consistently():
    torch.manual_seed(3)
    net = VelocityField(FlowNetConfig(obs_dim=3, act_dim=2))
    obs, actions = torch.randn(6, 3), torch.randn(6, 2)
    pairs = sample_pairs(6, 5, 2, tau_min=0.2, tau_max=0.3)
    assert pairs.tau.min() >= 0.2
    assert pairs.tau.max() <= 0.3
    full = cfm_loss(net, obs, actions, pairs.tau, pairs.eps)
    one = cfm_loss(net, obs[2:3], actions[2:3], pairs.tau[2:3, 1:2], pairs.eps[2:3, 1:2])
    assert torch.allclose(full[2, 1], one[0, 0])


def test_time_features_and_config_checks():
    f = time_features(torch.tensor([0.0, 0.5]), 8)
    assert f.shape == (2, 8)
    assert torch.allclose(f[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    with pytest.raises(ValueError, match="time_features"):
        FlowNetConfig(obs_dim=1, act_dim=1, time_features=3)
    cfg = FlowNetConfig(obs_dim=4, act_dim=2, hidden=(16, 16))
    assert FlowNetConfig.from_dict(cfg.to_dict()) == cfg
