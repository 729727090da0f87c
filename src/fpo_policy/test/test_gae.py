"""GAE against a plain reference loop, truncation included (fpo_policy.core.rollout_storage)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpo_policy.core.rollout_storage import Batch, RolloutStorage, compute_gae

GAMMA, LAM = 0.9, 0.8


def reference_advantages(rewards, values, final_values, last_value, terminated, truncated):
    """One env: walk each step forward to the end of its episode (or the rollout), summing
    (gamma lambda)^k delta_{t+k}, with delta bootstrapping from V(final_obs) on truncation, nothing on
    termination, V(next obs) otherwise."""
    steps = len(rewards)
    adv = np.zeros(steps)
    for t in range(steps):
        total, weight = 0.0, 1.0
        for k in range(t, steps):
            if terminated[k]:
                next_v = 0.0
            elif truncated[k]:
                next_v = final_values[k]
            elif k + 1 < steps:
                next_v = values[k + 1]
            else:
                next_v = last_value
            total += weight * (rewards[k] + GAMMA * next_v - values[k])
            if terminated[k] or truncated[k]:
                break
            weight *= GAMMA * LAM
        adv[t] = total
    return adv


def test_gae_matches_reference_loop_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    steps, envs = 40, 3
    rewards = rng.normal(size=(steps, envs))
    values = rng.normal(size=(steps, envs))
    final_values = rng.normal(size=(steps, envs))
    last_value = rng.normal(size=envs)
    ends = rng.random((steps, envs))
    terminated = ends < 0.08
    truncated = (ends > 0.92) & ~terminated
    assert terminated.any()
    assert truncated.any()
    dones = terminated | truncated
    next_values = np.vstack([values[1:], last_value[None]])
    next_values = np.where(truncated, final_values, next_values)
    t = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64))  # noqa: E731
    adv, ret = compute_gae(t(rewards), t(values), t(next_values), t(terminated), t(dones), GAMMA, LAM)
    for e in range(envs):
        expected = reference_advantages(
            rewards[:, e], values[:, e], final_values[:, e], last_value[e], terminated[:, e], truncated[:, e]
        )
        np.testing.assert_allclose(adv[:, e].numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret.numpy(), adv.numpy() + values)


def test_truncation_bootstraps_and_termination_does_not():
    one = lambda x: torch.tensor([[x]], dtype=torch.float64)  # noqa: E731
    kw = dict(rewards=one(1.0), values=one(0.0), next_values=one(10.0), gamma=0.5, gae_lambda=1.0)
    adv_trunc, _ = compute_gae(terminated=one(0.0), dones=one(1.0), **kw)
    adv_term, _ = compute_gae(terminated=one(1.0), dones=one(1.0), **kw)
    assert float(adv_trunc) == pytest.approx(1.0 + 0.5 * 10.0)
    assert float(adv_term) == pytest.approx(1.0)


def test_storage_flattens_to_a_consistent_batch():
    storage = RolloutStorage(num_steps=4, num_envs=2, obs_dim=3, act_dim=1)
    for step in range(4):
        storage.put(
            step,
            obs=torch.full((2, 3), float(step)),
            actions=torch.zeros(2, 1),
            values=torch.zeros(2),
            extras={"tau": torch.full((2, 5), float(step))},
        )
        storage.put_outcome(
            step,
            rewards=torch.ones(2),
            terminated=torch.zeros(2),
            dones=torch.zeros(2),
            next_values=torch.zeros(2),
        )
    batch = storage.to_batch(0.9, 0.95)
    assert len(batch) == 8
    assert batch.extras["tau"].shape == (8, 5)
    assert torch.equal(batch.obs[:, 0], batch.extras["tau"][:, 0])
    with pytest.raises(ValueError, match="rows"):
        Batch(
            obs=torch.zeros(3, 1),
            actions=torch.zeros(2, 1),
            values=torch.zeros(3),
            advantages=torch.zeros(3),
            returns=torch.zeros(3),
        )
