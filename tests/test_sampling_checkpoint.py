"""The shipped reach checkpoint acts the same through the fused sampling path as through plain forwards.

Sampling a VelocityField splits its first layer (fpo_policy.core.flow.VelocityField.conditioned); the
checkpoint format is unchanged, so a checkpoint written before must load and give the same actions,
to float32 rounding, for every solver and K, from the zero-noise and from a noise start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fpo_policy.core import load_policy
from fpo_policy.core.sampling import SOLVERS, sample_actions

CHECKPOINT = (
    Path(__file__).resolve().parents[1] / "src" / "fpo_policy" / "checkpoints" / "so100_reach_fpo.safetensors"
)


@pytest.fixture(scope="module")
def policy():
    return load_policy(CHECKPOINT)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("steps", [1, 5, 10, 20])
@pytest.mark.parametrize("deterministic", [True, False], ids=("zero_start", "noise_start"))
def test_shipped_checkpoint_actions_equal_the_plain_forward_path(policy, solver, steps, deterministic):
    meta = policy.metadata
    obs = np.random.default_rng(steps).normal(0.0, 1.0, (8, meta.obs_dim)).astype(np.float32)
    torch.manual_seed(3)
    actions, raw = policy.act_with_raw(obs, deterministic, solver, steps)
    torch.manual_seed(3)
    ref_raw = sample_actions(
        lambda o, x_t, t: policy.actor(o, x_t, t),
        torch.as_tensor(policy.normalize(obs)),
        meta.act_dim,
        steps=steps,
        solver=solver,
        deterministic=deterministic,
    ).numpy()
    np.testing.assert_allclose(raw, ref_raw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(actions, policy.metadata.bounds.to_env(ref_raw), rtol=1e-5, atol=1e-5)
    assert np.all(actions >= meta.action_low)
    assert np.all(actions <= meta.action_high)
