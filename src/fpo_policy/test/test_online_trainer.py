"""The trainer node's loop without ROS (fpo_policy.core.online_trainer): versions, checkpoints, stale data."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest

from fpo_policy.core.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from fpo_policy.core.config import FpoConfig
from fpo_policy.core.online_trainer import OnlineTrainer, TrainerNodeConfig
from fpo_policy.core.policy import load_policy
from so100_common.core import tasks
from so100_common.core.rollout_chunk import Chunk

SPEC = tasks.REACH
ALGO = FpoConfig(num_minibatches=2, update_epochs=1, n_pairs=2, actor_hidden=(16,), critic_hidden=(16,))


def chunk(trainer: OnlineTrainer, version: int, sequence: int, steps: int = 32, seed: int = 0) -> Chunk:
    rng = np.random.default_rng(seed + sequence)
    obs = rng.normal(size=(steps + 1, SPEC.obs_dim)).astype(np.float32)
    truncated = np.zeros(steps, bool)
    truncated[-1] = sequence % 2 == 1
    return Chunk(
        sequence=sequence,
        policy_id=trainer.learner.run_name,
        policy_version=version,
        observations=obs[:-1],
        actions=rng.normal(size=(steps, SPEC.act_dim)),
        rewards=rng.uniform(size=steps),
        terminated=np.zeros(steps, bool),
        truncated=truncated,
        next_observations=obs[1:],
        success=np.zeros(steps, bool),
    )


def finish(trainer: OnlineTrainer, timeout_s: float = 60.0):
    """Poll until the running update's announcement arrives."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        announcement = trainer.poll()
        if announcement is not None:
            return announcement
        time.sleep(0.01)
    raise AssertionError("no announcement")


def test_fresh_start_is_written_first_then_each_update_is_a_new_announced_version(tmp_path):
    config = TrainerNodeConfig(out=str(tmp_path / "run"), batch_size=64, keep_checkpoints=2)
    trainer = OnlineTrainer(config, ALGO)
    first = trainer.latest
    assert first.version == 0
    assert first.policy_id == "run"
    assert read_checkpoint(first.path).sha256 == first.sha256
    policy = load_policy(first.path)
    assert tasks.from_dict(policy.metadata.task) == SPEC
    assert (policy.metadata.obs_dim, policy.metadata.act_dim) == (SPEC.obs_dim, SPEC.act_dim)

    assert trainer.add("/sim0/sim_node", SPEC.env_id, chunk(trainer, 0, 0)) == "accepted"
    assert trainer.poll() is None  # 32 of 64: nothing to do
    assert trainer.add("/sim0/sim_node", SPEC.env_id, chunk(trainer, 0, 1)) == "accepted"
    assert trainer.poll() is None  # starts the update in the worker
    assert trainer.updating
    # While it runs, version-0 data is stale for the policy it produces.
    assert trainer.add("/sim0/sim_node", SPEC.env_id, chunk(trainer, 0, 2)) == "stale"
    second = finish(trainer)
    assert not trainer.updating
    assert second.version == 1
    assert second.sha256 != first.sha256
    assert trainer.learner.global_step == 64
    assert load_policy(second.path).metadata.version == 1
    assert trainer.report.stats["first_rho_max_dev"] == 0.0

    for version in (2, 3):
        for sequence in (3, 4):
            trainer.add("/sim0/sim_node", SPEC.env_id, chunk(trainer, version - 1, sequence + 2 * version))
        trainer.poll()
        assert finish(trainer).version == version
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("policy_*.safetensors"))
    assert kept == ["policy_000002.safetensors", "policy_000003.safetensors"]
    trainer.close()
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["update"]) for r in rows] == [1, 2, 3]
    assert rows[0]["transitions_stale"] == "32"
    assert (tmp_path / "run" / "curve.png").is_file()


def test_total_steps_stops_updates(tmp_path):
    trainer = OnlineTrainer(TrainerNodeConfig(out=str(tmp_path), batch_size=32, total_steps=32), ALGO)
    trainer.add("s", SPEC.env_id, chunk(trainer, 0, 0))
    trainer.poll()
    finish(trainer)
    assert trainer.done
    trainer.add("s", SPEC.env_id, chunk(trainer, 1, 1))
    assert trainer.poll() is None
    assert not trainer.updating


def test_a_start_checkpoint_continues_its_version_and_keeps_its_weights(tmp_path):
    first = OnlineTrainer(TrainerNodeConfig(out=str(tmp_path / "a"), batch_size=32), ALGO)
    first.add("s", SPEC.env_id, chunk(first, 0, 0))
    first.poll()
    start = finish(first)
    resumed = OnlineTrainer(
        TrainerNodeConfig(out=str(tmp_path / "b"), checkpoint=str(start.path), batch_size=32), FpoConfig()
    )
    assert resumed.latest.version == 1
    assert resumed.latest.policy_id == "b"
    obs = np.random.default_rng(0).normal(size=(4, SPEC.obs_dim)).astype(np.float32)
    before, after = load_policy(start.path), load_policy(resumed.latest.path)
    np.testing.assert_array_equal(before.act(obs), after.act(obs))  # network shape taken from the file


def test_a_start_checkpoint_of_another_task_is_refused(tmp_path):
    config = TrainerNodeConfig(out=str(tmp_path / "a"), env_id="SO100ReachTwoGoals-v1", batch_size=32)
    other = OnlineTrainer(config, ALGO).latest.path
    with pytest.raises(CheckpointError, match="its task is not SO100Reach-v1"):
        OnlineTrainer(TrainerNodeConfig(out=str(tmp_path / "b"), checkpoint=str(other)), ALGO)


def test_a_start_checkpoint_of_an_older_version_of_the_task_is_refused(tmp_path):
    """Same task id, another spec (here the reach task before its 0.1 rad steps and command margin):
    the acting nodes would map its actions differently from how it learned them."""
    fresh = OnlineTrainer(TrainerNodeConfig(out=str(tmp_path / "a"), batch_size=32), ALGO).latest.path
    data = read_checkpoint(fresh)
    task = {k: v for k, v in data.metadata["task"].items() if k != "limit_margin_rad"}
    older = tmp_path / "older.safetensors"
    save_checkpoint(
        older, data.tensors, {**data.metadata, "task": {**task, "max_delta_rad": [0.05] * 5 + [0.2]}}
    )
    with pytest.raises(
        CheckpointError, match=r"another version of SO100Reach-v1: .*limit_margin_rad.*max_delta_rad"
    ):
        OnlineTrainer(TrainerNodeConfig(out=str(tmp_path / "b"), checkpoint=str(older)), ALGO)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algo": "sac"}, "algo must be fpo or ppo"),
        ({"batch_size": 0}, "batch_size must be in"),
        ({"env_id": "Nope-v0"}, "unknown task"),
    ],
)
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        TrainerNodeConfig(**kwargs)


def test_every_update_trains_on_normalised_observations_the_first_included(tmp_path, monkeypatch):
    """The statistics take in each batch before its update, so the networks train on the inputs
    the announced version will see. Far from zero mean and unit variance (joint angles, positions
    in m), the first batch would otherwise be trained on raw, as the fresh policy's statistics are
    empty, and its version would then act on inputs normalised unlike those it learned from."""
    from fpo_policy.core import online_trainer as online

    seen = []
    real_update = online.update

    def spy(agent, optimizer, batch, cfg):
        seen.append(batch.obs.numpy().copy())
        return real_update(agent, optimizer, batch, cfg)

    monkeypatch.setattr(online, "update", spy)
    trainer = OnlineTrainer(TrainerNodeConfig(out=str(tmp_path / "run"), batch_size=64), ALGO)
    raw = []
    for version in range(2):
        for sequence in range(2 * version, 2 * version + 2):
            c = chunk(trainer, version, sequence)
            c = Chunk(**{**c.__dict__, "observations": 3.0 * c.observations + 5.0})
            raw.append(c.observations)
            assert trainer.add("sim0", SPEC.env_id, c) == "accepted"
        trainer.poll()
        announcement = finish(trainer)
        obs = seen[-1]
        assert np.abs(obs.mean(axis=0)).max() < 0.5, obs.mean(axis=0)
        assert np.all(np.abs(obs.std(axis=0) - 1.0) < 0.5), obs.std(axis=0)
        # The announced version normalises its inputs as its update's batch was normalised.
        policy = load_policy(announcement.path)
        np.testing.assert_allclose(
            policy.obs_rms.normalize(np.concatenate(raw[-2:])), obs, rtol=1e-5, atol=1e-5
        )
