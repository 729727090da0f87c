"""Checkpoints: round trip, refusal of corrupt/truncated/mismatched files, resume, fpo-eval."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from fpo_policy.core import CheckpointError, Policy, load_policy
from fpo_policy.core.checkpoint import METADATA_KEY, read_checkpoint, save_checkpoint
from fpo_policy.core.config import FpoConfig, PpoConfig, TrainArgs
from fpo_policy.core.metrics import read_metrics
from fpo_policy.core.normalization import RunningMeanStd
from fpo_policy.core.policy import PolicyMetadata, save_policy
from fpo_policy.core.trainer import Trainer, evaluate
from fpo_policy.core.update import make_agent

OBS = np.array([[0.5, -0.2, 1.0], [-1.0, 0.3, 0.0]], dtype=np.float32)


def write_policy(path: Path, algo: str = "fpo") -> tuple[Policy, PolicyMetadata]:
    torch.manual_seed(0)
    cfg = FpoConfig() if algo == "fpo" else PpoConfig()
    agent = make_agent(algo, cfg, 3, 1)
    rms = RunningMeanStd(mean=np.array([0.1, 0.2, 0.3]), var=np.array([1.0, 2.0, 3.0]), count=50.0)
    solver, steps = agent.sampler_settings()
    meta = PolicyMetadata(
        algorithm=algo,
        env_id="Pendulum-v1",
        obs_dim=3,
        act_dim=1,
        action_low=(-2.0,),
        action_high=(2.0,),
        policy_id="unit",
        version=3,
        step=1234,
        solver=solver,
        steps=steps,
        network=agent.actor_config(),
        obs_count=50.0,
        task={"name": "reach", "goal_dim": 3},
    )
    save_policy(path, agent.actor, agent.critic, rms, meta)
    return Policy(agent.actor, meta, rms), meta


@pytest.mark.parametrize("algo", ["fpo", "ppo"])
def test_round_trip_reproduces_actions_and_metadata(tmp_path, algo):
    path = tmp_path / "p.safetensors"
    live, meta = write_policy(path, algo)
    loaded = load_policy(path)
    assert loaded.metadata == meta
    assert loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    actions = loaded.act(OBS)
    assert actions.shape == (2, 1)
    assert actions.dtype == np.float32
    np.testing.assert_array_equal(actions, live.act(OBS))
    assert np.all(np.abs(actions) <= 2.0)
    assert loaded.act(OBS[0]).shape == (1,)
    assert loaded.metadata.task == {"name": "reach", "goal_dim": 3}
    assert loaded.metadata.time_convention == "t0_noise_t1_action"
    with pytest.raises(ValueError, match=r"expected observations of shape \(B, 3\)"):
        loaded.act(np.zeros((2, 4), np.float32))


def test_solver_and_steps_can_be_overridden_at_act_time(tmp_path):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    policy = load_policy(path)
    assert policy.metadata.solver == "euler"
    assert policy.metadata.steps == 10
    default = policy.act(OBS)
    rk4 = policy.act(OBS, solver="rk4", steps=4)
    assert not np.array_equal(default, rk4)
    stochastic = policy.act(np.repeat(OBS[:1], 64, axis=0), deterministic=False)
    assert stochastic.std() > 0.0


def refused(path: Path, match: str) -> None:
    with pytest.raises(CheckpointError, match=match) as info:
        load_policy(path)
    assert str(path) in str(info.value)


def test_missing_file_is_refused(tmp_path):
    refused(tmp_path / "nope.safetensors", "no such checkpoint file")


@pytest.mark.parametrize(
    ("keep", "match"), [(4, "shorter than the 8-byte"), (100, "truncated"), (-7, "truncated")]
)
def test_truncated_files_are_refused(tmp_path, keep, match):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    refused(path, match)


def test_flipped_tensor_byte_is_refused(tmp_path):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    refused(path, "corrupt: tensor data does not match the checksum")


def test_corrupt_header_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    data = bytearray(path.read_bytes())
    data[9] = ord("#")
    path.write_bytes(bytes(data))
    refused(path, "corrupt header")
    pickled = tmp_path / "pickle.pt"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    refused(pickled, "not a safetensors file|truncated")
    plain = tmp_path / "plain.safetensors"
    save_checkpoint(plain, {"x": torch.zeros(2)}, {"hello": 1})
    meta = read_checkpoint(plain).metadata
    assert meta["hello"] == 1
    refused(plain, "metadata lacks")


def rewrite(path: Path, **changes) -> None:
    """Rewrite the metadata as is (bypassing save_checkpoint, which sets format_version)."""
    data = read_checkpoint(path)
    meta = {**data.metadata, **changes}
    path.write_bytes(st_save(data.tensors, metadata={METADATA_KEY: json.dumps(meta)}))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"time_convention": "t0_action_t1_noise"}, "mismatched flow time convention"),
        ({"squash": "clip"}, "mismatched action squashing"),
        ({"format_version": 99}, "format version 99 is not supported"),
        ({"algorithm": "sac"}, "unknown algorithm"),
        ({"action_low": [-2.0, -2.0]}, "action bounds do not have act_dim=1"),
        ({"obs_dim": 4}, "network dims differ"),
    ],
)
def test_mismatched_metadata_is_refused(tmp_path, changes, match):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    rewrite(path, **changes)
    refused(path, match)


def test_weights_not_matching_the_network_config_are_refused(tmp_path):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    data = read_checkpoint(path)
    network = {**data.metadata["network"], "hidden": [32, 32, 32]}
    save_checkpoint(path, data.tensors, {**data.metadata, "network": network})
    refused(
        path, r"mismatched actor tensor 'net\.0\.weight': shape \(64, 12\), network config expects \(32, 12\)"
    )
    tensors = {k: v for k, v in data.tensors.items() if k != "obs_rms.var"}
    save_checkpoint(path, tensors, data.metadata)
    refused(path, "missing observation normalisation")


def test_policy_and_env_mismatch_is_refused(tmp_path):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    with pytest.raises(
        CheckpointError, match="mismatched with env MountainCarContinuous-v0: checkpoint obs_dim 3"
    ):
        evaluate(load_policy(path), "MountainCarContinuous-v0", episodes=1)


def test_writes_are_atomic_and_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not JSON compliant"):
        save_checkpoint(path, {"x": torch.zeros(1)}, {"bad": float("nan")})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.safetensors"]


def tiny_args(out: Path, **kw) -> TrainArgs:
    args = TrainArgs(
        algo="fpo",
        env="Pendulum-v1",
        total_steps=256,
        num_envs=2,
        seed=3,
        out=str(out),
        eval_every=0,
        eval_episodes=1,
        checkpoint_every=128,
        tensorboard=False,
        progress=False,
        fpo=FpoConfig(num_steps=64, num_minibatches=4, update_epochs=2),
    )
    for k, v in kw.items():
        setattr(args, k, v)
    return args


@pytest.mark.slow
def test_resume_continues_from_the_saved_state(tmp_path):
    out = tmp_path / "run"
    first = Trainer(tiny_args(out)).run()
    assert (first.global_step, first.updates) == (256, 2)
    saved = load_policy(out / "checkpoints" / "latest.safetensors")
    assert (saved.metadata.version, saved.metadata.step) == (2, 256)
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*")) == [
        "step_000000128.safetensors",
        "step_000000256.safetensors",
    ]
    resumed = Trainer(tiny_args(out, total_steps=512, resume=True))
    assert (resumed.global_step, resumed.updates) == (256, 2)
    for name, p in resumed.agent.actor.state_dict().items():
        assert torch.equal(p, saved.actor.state_dict()[name])
    np.testing.assert_array_equal(resumed.obs_rms.mean, saved.obs_rms.mean)
    assert resumed.optimizer.state_dict()["state"][0]["step"] == 2 * 2 * 4
    result = resumed.run()
    assert (result.global_step, result.updates) == (512, 4)
    rows = read_metrics(out / "metrics.csv")
    assert [r["update"] for r in rows] == [1, 2, 3, 4]
    assert [r["global_step"] for r in rows] == [128, 256, 384, 512]
    assert (out / "curve.png").stat().st_size > 0


@pytest.mark.slow
def test_a_resumed_run_continues_exactly_where_the_first_one_stopped(tmp_path):
    """Stopped mid-episode (2 x 64 steps per env of 200-step episodes) and resumed, a run writes
    the same metrics and ends with the same weights as the run that never stopped."""
    fpo = FpoConfig(num_steps=64, num_minibatches=4, update_epochs=2, anneal_lr=False)
    straight = Trainer(tiny_args(tmp_path / "straight", total_steps=512, fpo=fpo))
    straight.run()
    Trainer(tiny_args(tmp_path / "stopped", total_steps=256, fpo=fpo)).run()
    resumed = Trainer(tiny_args(tmp_path / "stopped", total_steps=512, fpo=fpo, resume=True))
    resumed.run()
    timing = {"sps", "update_time_s", "time_s"}
    a, b = (read_metrics(tmp_path / name / "metrics.csv") for name in ("straight", "stopped"))
    assert len(a) == len(b) == 4
    for row_a, row_b in zip(a, b):
        assert {k: v for k, v in row_a.items() if k not in timing} == {
            k: v for k, v in row_b.items() if k not in timing
        }
    for name, p in straight.agent.actor.state_dict().items():
        assert torch.equal(p, resumed.agent.actor.state_dict()[name]), name


def test_episodes_are_seeded_one_by_one_and_replayed_on_restore():
    import gymnasium as gym

    from fpo_policy.core.episode_seeds import EpisodeSeeds, episode_seed

    seeds = {episode_seed(1, i, k) for i in range(4) for k in range(50)}
    assert len(seeds) == 200  # independent per env and episode
    env = EpisodeSeeds(gym.make("Pendulum-v1"), run_seed=1, env_index=2)
    first, _ = env.reset(seed=123)  # the vector env's seed is ignored
    fresh = gym.make("Pendulum-v1")
    np.testing.assert_array_equal(first, fresh.reset(seed=episode_seed(1, 2, 0))[0])
    rng = np.random.default_rng(0)
    for _ in range(30):
        obs, *_ = env.step(rng.uniform(-2, 2, size=1).astype(np.float32))
    assert len(env.actions) == 30
    twin = EpisodeSeeds(gym.make("Pendulum-v1"), run_seed=1, env_index=2)
    np.testing.assert_array_equal(twin.restore(0, np.stack(env.actions)), obs)
    assert (twin.episode, len(twin.actions)) == (0, 30)
    with pytest.raises(ValueError, match="replay of episode 0 ended"):
        twin.restore(0, np.zeros((200, 1), np.float32))


def test_resume_into_another_algorithm_is_refused(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_args(out, total_steps=128)).run()
    with pytest.raises(CheckpointError, match="mismatched run: checkpoint is fpo on Pendulum-v1"):
        Trainer(tiny_args(out, algo="ppo", resume=True, ppo=PpoConfig(num_steps=64)))
    (out / "checkpoints" / "trainer_state.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointError, match=r"trainer_state\.safetensors: truncated"):
        Trainer(tiny_args(out, resume=True))


def installed(script: str) -> str:
    root = Path(__file__).resolve().parents[3]
    path = root / "install" / "fpo_policy" / "lib" / "fpo_policy" / script
    if not path.exists():
        pytest.skip(f"{path} not built (run make setup)")
    return str(path)


@pytest.mark.slow
def test_fpo_eval_prints_json_and_refuses_a_corrupt_file(tmp_path):
    path = tmp_path / "p.safetensors"
    write_policy(path)
    ok = subprocess.run(
        [installed("fpo-eval"), str(path), "--env", "Pendulum-v1", "--episodes", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2
    assert -2000.0 < result["mean_return"] <= 0.0
    assert "success_rate" not in result
    path.write_bytes(path.read_bytes()[:-10])
    bad = subprocess.run([installed("fpo-eval"), str(path)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "truncated" in bad.stderr
    assert str(path) in bad.stderr
