"""ODE solvers against closed-form answers (fpo_policy.core.sampling)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from fpo_policy.core.flow import FlowNetConfig, VelocityField
from fpo_policy.core.sampling import integrate, sample_actions

ORDERS = {"euler": 1, "midpoint": 2, "rk4": 4}


@pytest.mark.parametrize("solver", ORDERS)
def test_integrating_3t2_gives_one(solver):
    x0 = torch.zeros(3, 1, dtype=torch.float64)
    x1 = integrate(lambda x, t: 3 * t[:, None] ** 2 * torch.ones_like(x), x0, steps=1000, solver=solver)
    assert torch.allclose(x1, torch.ones_like(x1), atol=2e-3)


def test_rk4_is_exact_on_cubic_time_fields():
    x0 = torch.zeros(1, 1, dtype=torch.float64)
    x1 = integrate(lambda x, t: 3 * t[:, None] ** 2 * torch.ones_like(x), x0, steps=1, solver="rk4")
    assert float(x1) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("solver", "order"), ORDERS.items())
def test_error_shrinks_at_the_solver_order(solver, order):
    """dx/dt = x cos(t) has x(1) = x0 exp(sin 1); halving the step divides the error by 2^order."""
    x0 = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    exact = x0 * math.exp(math.sin(1.0))
    errors = []
    for k in (8, 16, 32):
        x1 = integrate(lambda x, t: x * torch.cos(t)[:, None], x0, steps=k, solver=solver)
        errors.append(float((x1 - exact).abs().max()))
    for coarse, fine in itertools.pairwise(errors):
        observed = math.log2(coarse / fine)
        assert observed == pytest.approx(order, abs=0.3), (solver, errors)


def test_sampling_is_batched_deterministic_at_zero_noise_and_without_autograd():
    torch.manual_seed(0)
    net = VelocityField(FlowNetConfig(obs_dim=3, act_dim=2))
    obs = torch.randn(5, 3)
    a = sample_actions(net, obs, 2, steps=10, solver="midpoint", deterministic=True)
    b = sample_actions(net, obs, 2, steps=10, solver="midpoint", deterministic=True)
    assert a.shape == (5, 2)
    assert torch.equal(a, b)
    assert not a.requires_grad
    one = sample_actions(net, obs[3:4], 2, steps=10, solver="midpoint", deterministic=True)
    assert torch.allclose(one[0], a[3], atol=1e-6)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    s1 = sample_actions(net, obs, 2, generator=g1)
    s2 = sample_actions(net, obs, 2, generator=g2)
    assert torch.equal(s1, s2)
    assert not torch.allclose(s1, a)


def test_bad_solver_arguments_are_refused():
    x0 = torch.zeros(1, 1)
    with pytest.raises(ValueError, match="unknown solver"):
        integrate(lambda x, t: x, x0, steps=4, solver="heun")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        integrate(lambda x, t: x, x0, steps=0)
