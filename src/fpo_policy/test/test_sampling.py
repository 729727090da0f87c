"""ODE solvers against closed-form answers (fpo_policy.core.sampling)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from fpo_policy.core.flow import FlowNetConfig, VelocityField, time_features
from fpo_policy.core.sampling import integrate, sample_actions, stage_times

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


def plain(net: VelocityField):
    """The same network as a plain velocity function: sampling calls its forward at every stage."""
    return lambda obs, x_t, t: net(obs, x_t, t)


@pytest.mark.parametrize("solver", ORDERS)
@pytest.mark.parametrize("steps", [1, 2, 3, 5, 7, 10, 20])
def test_stage_times_are_exactly_the_times_the_solver_asks_for(solver, steps):
    asked = []

    def record(x, t):
        asked.append(float(t[0]))
        return torch.zeros_like(x)

    integrate(record, torch.zeros(1, 1, dtype=torch.float64), steps, solver)
    assert stage_times(solver, steps) == tuple(dict.fromkeys(asked))
    assert stage_times(solver, steps)[0] == 0.0


@pytest.mark.parametrize("solver", ORDERS)
@pytest.mark.parametrize("steps", [1, 3, 5, 10, 20])
@pytest.mark.parametrize("deterministic", [True, False], ids=("zero_start", "noise_start"))
@pytest.mark.parametrize("output_scale", [1.0, 0.25])
def test_fused_sampling_of_a_velocity_field_equals_its_plain_forward(
    solver, steps, deterministic, output_scale
):
    """A VelocityField is integrated with its first layer split (VelocityField.conditioned): the
    same actions as calling forward at every stage, to float32 rounding, from the same start."""
    torch.manual_seed(steps)
    net = VelocityField(FlowNetConfig(obs_dim=5, act_dim=3, output_scale=output_scale))
    obs = torch.randn(4, 5)
    kwargs = {"steps": steps, "solver": solver, "deterministic": deterministic}
    fused = sample_actions(net, obs, 3, generator=torch.Generator().manual_seed(1), **kwargs)
    ref = sample_actions(plain(net), obs, 3, generator=torch.Generator().manual_seed(1), **kwargs)
    assert fused.dtype == torch.float32
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-6)
    assert not torch.equal(ref, sample_actions(plain(net), obs, 3, **{**kwargs, "steps": steps + 1}))


@pytest.mark.parametrize("solver", ORDERS)
def test_fused_sampling_differs_from_the_plain_forward_only_by_rounding(solver):
    """In float64 the two agree to 1e-12: what is left of the float32 difference is summation order."""
    torch.manual_seed(5)
    net = VelocityField(FlowNetConfig(obs_dim=4, act_dim=2, hidden=(32, 32))).double()
    obs = torch.randn(3, 4, dtype=torch.float64)
    for steps in (1, 4, 10):
        fused = sample_actions(net, obs, 2, steps=steps, solver=solver, deterministic=True)
        ref = sample_actions(plain(net), obs, 2, steps=steps, solver=solver, deterministic=True)
        assert fused.dtype == torch.float64
        torch.testing.assert_close(fused, ref, rtol=0.0, atol=1e-12)


def test_conditioned_field_is_the_forward_at_each_bound_time():
    torch.manual_seed(6)
    net = VelocityField(FlowNetConfig(obs_dim=3, act_dim=2, output_scale=0.5))
    obs, x_t = torch.randn(5, 3), torch.randn(5, 2)
    times = torch.tensor([0.0, 0.3, 1.0])
    v, first = net.conditioned(obs, time_features(times, net.config.time_features))
    assert len(first) == 3
    for j, t in enumerate(times):
        torch.testing.assert_close(v(x_t, first[j]), net(obs, x_t, t.expand(5)), rtol=1e-5, atol=1e-6)


def test_bad_solver_arguments_are_refused():
    x0 = torch.zeros(1, 1)
    with pytest.raises(ValueError, match="unknown solver"):
        integrate(lambda x, t: x, x0, steps=4, solver="heun")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        integrate(lambda x, t: x, x0, steps=0)
    net = VelocityField(FlowNetConfig(obs_dim=3, act_dim=2))
    with pytest.raises(ValueError, match="unknown solver"):
        sample_actions(net, torch.zeros(1, 3), 2, solver="heun")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        sample_actions(net, torch.zeros(1, 3), 2, steps=0)


@pytest.mark.parametrize("deterministic", [True, False])
def test_sampled_raw_actions_are_clipped_at_the_raw_action_limit(deterministic):
    """A field that drives x to +-10 gives actions at +-RAW_ACTION_LIMIT; limit=None leaves them."""
    from fpo_policy.core.squash import RAW_ACTION_LIMIT

    obs = torch.zeros(4, 2)
    sign = torch.tensor([1.0, -1.0, 1.0])

    def push(o, x, t):
        return 10.0 * sign.expand(o.shape[0], 3) - x

    def sample(**kw):
        gen = torch.Generator().manual_seed(0)
        return sample_actions(push, obs, 3, steps=50, deterministic=deterministic, generator=gen, **kw)

    clipped, free = sample(), sample(limit=None)
    assert torch.equal(clipped, RAW_ACTION_LIMIT * sign.expand(4, 3))
    assert bool((free.abs() > 5.0).all())

    def settle(**kw):
        return sample_actions(lambda o, x, t: 0.5 - x, obs, 3, steps=50, deterministic=True, **kw)

    assert torch.equal(settle(), settle(limit=None))
