"""The shipped reach checkpoint: loads without executing code, matches the env, and reaches goals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from so100_common.core import tasks

CHECKPOINT = Path(__file__).resolve().parents[1] / "src/fpo_policy/checkpoints/so100_reach_fpo.safetensors"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def policy():
    core = pytest.importorskip("fpo_policy.core", reason="fpo_policy (torch) is not importable")
    assert CHECKPOINT.is_file(), f"{CHECKPOINT} is missing"
    return core.load_policy(str(CHECKPOINT))


def test_metadata_matches_the_env_spaces_and_task(policy, maniskill_env):
    meta = policy.metadata
    env = maniskill_env("SO100Reach-v1")
    assert meta.algorithm == "fpo"
    assert meta.env_id.split(":")[-1] == "SO100Reach-v1"
    assert (meta.obs_dim,) == env.observation_space.shape
    assert (meta.act_dim,) == env.action_space.shape
    np.testing.assert_array_equal(meta.action_low, env.action_space.low)
    np.testing.assert_array_equal(meta.action_high, env.action_space.high)
    assert tasks.from_dict(meta.task) == tasks.from_dict(env.unwrapped.task_spec) == tasks.REACH


def test_the_policy_reaches_goals(policy, maniskill_env):
    """Zero-noise actions from the spec's observation reach the goal in most of a few episodes."""
    env = maniskill_env("SO100Reach-v1")
    reached = []
    for episode in range(4):
        obs, info = env.reset(seed=9000 + episode)
        done, hit = False, False
        while not done:
            action = policy.act(obs[None].astype(np.float32), deterministic=True)[0]
            obs, _, terminated, truncated, info = env.step(action)
            hit = hit or info["success"]
            done = terminated or truncated
        reached.append(hit)
    assert sum(reached) >= 3, reached


def test_a_checkpoint_of_an_older_version_of_the_task_is_refused_by_name(tmp_path, maniskill_env):
    """fpo-eval and the trainer's evaluation refuse a checkpoint whose stored task spec differs from
    the env's (here: the reach task before its 0.1 rad steps), naming the file and the fields."""
    from fpo_policy.core import CheckpointError, load_policy
    from fpo_policy.core.checkpoint import read_checkpoint, save_checkpoint
    from fpo_policy.core.trainer import evaluate

    data = read_checkpoint(CHECKPOINT)
    older = tmp_path / "older.safetensors"
    task = {**data.metadata["task"], "max_delta_rad": [0.05] * 5 + [0.2]}
    save_checkpoint(older, data.tensors, {**data.metadata, "task": task})
    env = maniskill_env("SO100Reach-v1")
    with pytest.raises(CheckpointError, match=rf"{older}.*another version of SO100Reach-v1.*max_delta_rad"):
        evaluate(load_policy(older), "fpo_sim.envs:SO100Reach-v1", 1, env=env)
