"""The shipped checkpoints (reach, pick): load without executing code, match their envs, succeed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from so100_common.core import tasks

SHIPPED = Path(__file__).resolve().parents[1] / "src/fpo_policy/checkpoints"
CHECKPOINT = SHIPPED / "so100_reach_fpo.safetensors"

# file, env id, task spec, direct episodes, fewest successes among them
CASES = {
    "reach": ("so100_reach_fpo.safetensors", "SO100Reach-v1", tasks.REACH, 4, 3),
    "pick": ("so100_pick_fpo.safetensors", "SO100PickLift-v1", tasks.PICK_LIFT, 10, 6),
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=list(CASES))
def shipped(request):
    core = pytest.importorskip("fpo_policy.core", reason="fpo_policy (torch) is not importable")
    name, env_id, spec, episodes, fewest = CASES[request.param]
    path = SHIPPED / name
    assert path.is_file(), f"{path} is missing"
    return core.load_policy(str(path)), env_id, spec, episodes, fewest


def test_metadata_matches_the_env_spaces_and_task(shipped, maniskill_env):
    policy, env_id, spec, _, _ = shipped
    meta = policy.metadata
    env = maniskill_env(env_id)
    assert meta.algorithm == "fpo"
    assert meta.env_id.split(":")[-1] == env_id
    assert (meta.obs_dim,) == env.observation_space.shape
    assert (meta.act_dim,) == env.action_space.shape
    np.testing.assert_array_equal(meta.action_low, env.action_space.low)
    np.testing.assert_array_equal(meta.action_high, env.action_space.high)
    stored = tasks.from_dict(meta.task)
    assert stored == tasks.from_dict(env.unwrapped.task_spec)
    assert stored == tasks.with_goal_dim(spec, stored.goal_dim)  # the pick goal's length is the env's


def test_the_policy_succeeds_in_most_direct_episodes(shipped, maniskill_env):
    """Zero-noise actions from the spec's observation succeed (reach the goal; hold the cube lifted)
    in most of a few episodes whose seeds the training never used."""
    policy, env_id, _, episodes, fewest = shipped
    env = maniskill_env(env_id)
    succeeded = []
    for episode in range(episodes):
        obs, info = env.reset(seed=9000 + episode)
        done, hit = False, False
        while not done:
            action = policy.act(obs[None].astype(np.float32), deterministic=True)[0]
            obs, _, terminated, truncated, info = env.step(action)
            hit = hit or info["success"]
            done = terminated or truncated
        succeeded.append(hit)
    assert sum(succeeded) >= fewest, succeeded


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
