"""A training run on the simulated arm resumes exactly: an episode's replay from its seed puts
ManiSkill's CPU simulation where the run left it (fpo_policy.core.episode_seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from fpo_policy.core.episode_seeds import EpisodeSeeds

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("env_id", ["SO100Reach-v1"])
def test_replaying_an_episode_restores_the_simulation_bit_for_bit(maniskill_env, env_id):
    env = EpisodeSeeds(maniskill_env(env_id), run_seed=5, env_index=1)
    rng = np.random.default_rng(0)
    env.reset()
    for _ in range(60):  # part of a first episode: the second starts from a used simulator
        env.step(rng.uniform(-1, 1, 6).astype(np.float32))
    env.reset()
    assert env.episode == 1
    for _ in range(25):
        obs, *_ = env.step(rng.uniform(-1, 1, 6).astype(np.float32))
    twin = EpisodeSeeds(maniskill_env(env_id), run_seed=5, env_index=1)
    np.testing.assert_array_equal(twin.restore(1, np.stack(env.actions)), obs)
    # And the two go on alike.
    action = rng.uniform(-1, 1, 6).astype(np.float32)
    np.testing.assert_array_equal(env.step(action)[0], twin.step(action)[0])
