"""FPO ratio, PPO clipping and ASPO (core.fpo, core.surrogate, core.update)."""

from __future__ import annotations

import math

import pytest
import torch

from fpo_policy.core.config import FpoConfig, PpoConfig
from fpo_policy.core.fpo import FlowAgent, cfm_weights, fpo_log_ratio
from fpo_policy.core.rollout_storage import Batch
from fpo_policy.core.surrogate import aspo_objective, ppo_clip_objective
from fpo_policy.core.update import make_agent, update

CLIP = 0.2


def collected_batch(agent, n=256, obs_dim=3, seed=0) -> Batch:
    torch.manual_seed(seed)
    obs = torch.randn(n, obs_dim)
    actions, extras = agent.act(obs)
    return Batch(
        obs=obs,
        actions=actions,
        values=torch.zeros(n),
        advantages=torch.randn(n),
        returns=torch.randn(n),
        extras=extras,
    )


@pytest.mark.parametrize("ratio", ["per_sample", "mean"])
@pytest.mark.parametrize("loss_form", ["velocity", "eps"])
def test_rho_is_exactly_one_before_the_first_gradient_step(ratio, loss_form):
    cfg = FpoConfig(ratio=ratio, loss_form=loss_form, num_minibatches=8, update_epochs=2)
    agent = FlowAgent(cfg, obs_dim=3, act_dim=2)
    batch = collected_batch(agent)
    # Whole batch and any minibatch: the stored pairs and old losses reproduce exactly.
    for idx in (torch.arange(256), torch.randperm(256)[:32]):
        _, info = agent.policy_loss(batch.index(idx), batch.advantages[idx])
        assert info["rho_max_dev"] == 0.0
    stats = update(agent, torch.optim.Adam(agent.parameters(), lr=1e-3), batch, cfg)
    assert stats["first_rho_max_dev"] == 0.0
    assert stats["rho_max_dev"] > 0.0  # later minibatches moved


def test_ppo_rho_is_exactly_one_before_the_first_gradient_step():
    cfg = PpoConfig(num_minibatches=8, update_epochs=1)
    agent = make_agent("ppo", cfg, 3, 2)
    batch = collected_batch(agent)
    stats = update(agent, torch.optim.Adam(agent.parameters(), lr=1e-3), batch, cfg)
    assert stats["first_rho_max_dev"] == 0.0


def test_redrawn_pairs_break_rho_equal_one():
    """The guard is sensitive: fresh (tau, eps) instead of the stored ones move rho away from 1."""
    agent = FlowAgent(FpoConfig(), obs_dim=3, act_dim=2)
    batch = collected_batch(agent)
    batch.extras["eps"] = torch.randn_like(batch.extras["eps"])
    _, info = agent.policy_loss(batch, batch.advantages)
    assert info["rho_max_dev"] > 1e-3


def grad_of(objective, rho_value: float, advantage: float) -> float:
    rho = torch.tensor([rho_value], requires_grad=True)
    objective(rho, torch.tensor([advantage]), CLIP).sum().backward()
    return float(rho.grad)


@pytest.mark.parametrize(
    ("advantage", "rho", "zero_grad"),
    [
        (1.0, 1.3, True),  # A > 0: clipped above 1 + eps
        (1.0, 0.7, False),  # A > 0: below 1 - eps still pushed up
        (1.0, 1.1, False),
        (-1.0, 0.7, True),  # A < 0: clipped below 1 - eps
        (-1.0, 1.3, False),  # A < 0: above 1 + eps still pushed down
        (-1.0, 0.9, False),
    ],
)
def test_ppo_clip_gradient_vanishes_only_on_the_clipped_side(advantage, rho, zero_grad):
    g = grad_of(ppo_clip_objective, rho, advantage)
    assert (g == 0.0) == zero_grad
    if not zero_grad:
        assert g == pytest.approx(advantage)


@pytest.mark.parametrize("rho", [0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 2.0])
def test_aspo_is_ppo_for_positive_and_spo_for_negative_advantages(rho):
    assert grad_of(aspo_objective, rho, 1.0) == grad_of(ppo_clip_objective, rho, 1.0)
    # SPO: d/drho [rho A - |A|/(2 eps) (rho - 1)^2] = A - |A| (rho - 1) / eps, pulling rho back to 1.
    expected = -1.0 - (rho - 1.0) / CLIP
    assert grad_of(aspo_objective, rho, -1.0) == pytest.approx(expected, rel=1e-6)
    if rho < 1.0 - CLIP:
        assert grad_of(aspo_objective, rho, -1.0) > 0.0  # never zero: pushed back up toward 1


def test_fpo_clip_zeroes_the_actor_gradient_outside_the_trust_region():
    """End to end through the CFM losses: with every ratio above 1 + eps and A > 0, the FPO loss
    gives the actor no gradient; with A < 0 it does."""
    cfg = FpoConfig(aspo=False, ratio="per_sample", cfm_lambda=0.0)  # the surrogate alone
    agent = FlowAgent(cfg, obs_dim=3, act_dim=2)
    batch = collected_batch(agent, n=16)
    batch.extras["old_cfm_loss"] = batch.extras["old_cfm_loss"] + 1.0  # rho = e > 1 + eps
    for advantage, expect_zero in ((1.0, True), (-1.0, False)):
        agent.zero_grad()
        loss, info = agent.policy_loss(batch, torch.full((16,), advantage))
        loss.backward()
        norm = sum(float(p.grad.abs().sum()) for p in agent.actor.parameters())
        assert info["clipfrac"] == 1.0
        assert (norm == 0.0) == expect_zero


def test_ratio_forms_and_clamps():
    old = torch.tensor([[1.0, 3.0, 50.0]])
    new = torch.tensor([[2.0, 1.0, 30.0]], requires_grad=True)
    per = fpo_log_ratio(old, new, "per_sample", loss_clamp=20.0, log_ratio_clamp=10.0)
    assert torch.allclose(per, torch.tensor([[-1.0, 2.0, 0.0]]))  # both 50 and 30 clamp to 20
    mean = fpo_log_ratio(old, new, "mean", loss_clamp=20.0, log_ratio_clamp=10.0)
    assert mean.shape == (1, 1)
    assert torch.allclose(mean, torch.tensor([[1.0 / 3.0]]))
    clamped = fpo_log_ratio(torch.tensor([[15.0]]), new[:, :1], "per_sample", 20.0, log_ratio_clamp=1.0)
    assert float(clamped.detach()) == 1.0
    clamped.sum().backward()  # straight-through: the gradient passes the log-ratio clamp
    assert float(new.grad[0, 0]) == -1.0
    with pytest.raises(ValueError, match="unknown ratio"):
        fpo_log_ratio(old, new, "median", 20.0, 10.0)


def test_cfm_regulariser_adds_lambda_times_cfm_loss():
    agent = FlowAgent(FpoConfig(cfm_lambda=0.0), obs_dim=3, act_dim=2)
    batch = collected_batch(agent, n=32)
    base, info = agent.policy_loss(batch, batch.advantages)
    agent.cfg = FpoConfig(cfm_lambda=0.5)
    with_reg, _ = agent.policy_loss(batch, batch.advantages)
    assert float((with_reg - base).detach()) == pytest.approx(0.5 * info["cfm_loss"], rel=1e-5)
    assert info["stored_cfm_loss"] == pytest.approx(info["cfm_loss"], rel=1e-6)


def test_advantage_weights_leave_equal_advantages_equal_and_favour_better_actions():
    equal = cfm_weights(torch.full((8,), 0.7), "advantage", 1.0, 20.0)
    torch.testing.assert_close(equal, torch.full((8,), 2.0137527))  # exp(0.7): equal modes, equal weight
    torch.testing.assert_close(cfm_weights(torch.randn(8), "uniform", 1.0, 20.0), torch.ones(8))
    a = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    w = cfm_weights(a, "advantage", 1.0, 1e6)
    assert torch.all(w[1:] > w[:-1])
    torch.testing.assert_close(w, torch.exp(a))
    torch.testing.assert_close(cfm_weights(2 * a, "advantage", 2.0, 1e6), w)  # A / beta
    capped = cfm_weights(torch.tensor([1e4, 0.0, -1e4]), "advantage", 1e-3, 3.0)
    torch.testing.assert_close(capped, torch.tensor([3.0, 1.0, 0.0]))  # finite: capped in the exponent
    with pytest.raises(ValueError, match="unknown cfm_weighting"):
        cfm_weights(a, "rank", 1.0, 20.0)


def test_advantage_weighted_regulariser_weighs_each_action_s_cfm_loss():
    agent = FlowAgent(FpoConfig(cfm_lambda=0.0), obs_dim=3, act_dim=2)
    batch = collected_batch(agent, n=32)
    base, _ = agent.policy_loss(batch, batch.advantages)
    agent.cfg = FpoConfig(cfm_lambda=0.5, cfm_weighting="advantage", cfm_beta=0.5)
    with_reg, _ = agent.policy_loss(batch, batch.advantages)
    w = cfm_weights(batch.advantages, "advantage", 0.5, FpoConfig().cfm_weight_max)
    per_action = batch.extras["old_cfm_loss"].mean(dim=1)  # = the new losses before any step
    expected = 0.5 * float((w * per_action).mean())
    assert float((with_reg - base).detach()) == pytest.approx(expected, rel=1e-5)
    assert expected != pytest.approx(0.5 * float(per_action.mean()), rel=1e-3)  # not the uniform term
    with pytest.raises(ValueError, match="cfm_weighting"):
        FpoConfig(cfm_weighting="rank")


def test_knn_entropy_grows_with_the_spread_and_its_bonus_reaches_the_actor():
    from fpo_policy.core.fpo import knn_entropy

    obs = torch.randn(16, 3)

    def estimate(velocity):
        torch.manual_seed(0)  # the same noise for every field
        return float(knn_entropy(velocity, obs, 2, 16, 4, "euler"))

    shrunk = estimate(lambda o, x, t: -x)  # Euler, 4 steps: x1 = 0.75^4 x0
    noise = estimate(lambda o, x, t: torch.zeros_like(x))  # x1 = x0
    saturated = estimate(lambda o, x, t: 4 * x)  # x1 = 2^4 x0: tanh piles the samples at +-1
    assert shrunk < noise
    assert saturated < noise  # entropy of the squashed action: bounded, not raised by saturating
    # Shrinking by 0.75^4 lowers it by at most A * log(0.75^4) = -2.3 (A = 2; tanh compresses the
    # unshrunk samples more), and by a clear margin.
    assert 2 * 4 * math.log(0.75) - 1e-6 < shrunk - noise < -1.0
    agent = FlowAgent(FpoConfig(), obs_dim=3, act_dim=2)
    batch = collected_batch(agent, n=32)
    agent.cfg = FpoConfig(cfm_lambda=0.0, ent_coef=1.0, ent_samples=4, sample_steps=4)
    loss, info = agent.policy_loss(batch, torch.zeros(32))  # zero advantages: only the bonus pulls
    loss.backward()
    assert "entropy" in info
    grads = [p.grad for p in agent.actor.parameters() if p.grad is not None]
    assert grads
    assert any(float(g.abs().sum()) > 0 for g in grads)
