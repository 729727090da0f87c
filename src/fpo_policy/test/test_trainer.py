"""Trainer plumbing: `module:Env-v0` ids, success_rate, task_spec into checkpoints, outputs."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from fpo_policy.core import load_policy
from fpo_policy.core.config import FpoConfig, PpoConfig, TrainArgs
from fpo_policy.core.metrics import read_metrics
from fpo_policy.core.trainer import Trainer, evaluate

ENV_MODULE = textwrap.dedent(
    '''
    """One step: success when the action is within 0.5 of the goal 0.6; has a task_spec."""
    import gymnasium as gym
    import numpy as np


    class Target(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

        def __init__(self):
            self.task_spec = {"name": "target", "goal": 0.6}

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.array([0.6, 0.0], np.float32), {}

        def step(self, action):
            error = abs(float(action[0]) - 0.6)
            return np.zeros(2, np.float32), -error, True, False, {"success": error < 0.5}


    gym.register("Target-v0", entry_point=Target)
    '''
)


@pytest.fixture
def env_module(tmp_path, monkeypatch):
    (tmp_path / "target_env_mod.py").write_text(ENV_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "target_env_mod:Target-v0"


def tiny_run(tmp_path, env: str, **overrides) -> TrainArgs:
    """A run of a few 64-transition updates (2 envs x 32 steps), evaluated every 128 steps."""
    small = dict(num_steps=32, num_minibatches=4, update_epochs=2)
    defaults = dict(
        env=env,
        num_envs=2,
        seed=0,
        out=str(tmp_path / "run"),
        eval_every=128,
        eval_episodes=3,
        tensorboard=False,
        progress=False,
        fpo=FpoConfig(**small),
        ppo=PpoConfig(**small),
    )
    return TrainArgs(**{**defaults, **overrides})


@pytest.mark.parametrize("algo", ["fpo", "ppo"])
def test_module_env_with_success_and_task_spec(tmp_path, env_module, algo):
    args = tiny_run(tmp_path, env_module, algo=algo, total_steps=256, checkpoint_every=256, tensorboard=True)
    result = Trainer(args).run()
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 4
    assert {"success_rate", "eval_success_rate", "episodic_return", "global_step"} <= set(rows[0])
    assert all(0.0 <= r["success_rate"] <= 1.0 for r in rows)
    assert result.final_eval.success_rate is not None
    policy = load_policy(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert policy.metadata.task == {"name": "target", "goal": 0.6}
    assert policy.metadata.env_id == env_module
    assert policy.metadata.algorithm == algo
    again = evaluate(policy, env_module, episodes=3)
    assert again.success_rate == result.final_eval.success_rate
    assert (tmp_path / "run" / "curve.png").exists()
    assert any((tmp_path / "run" / "tb").iterdir())


def test_final_evaluation_is_of_the_final_policy(tmp_path, env_module):
    """eval_every not dividing the run: the last update is evaluated all the same, and the
    reported final evaluation is that of the policy the run ends with."""
    result = Trainer(tiny_run(tmp_path, env_module, total_steps=192)).run()
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [r["global_step"] for r in rows if r.get("eval_return") is not None] == [128, 192]
    assert rows[-1]["eval_return"] == pytest.approx(result.final_eval.mean_return, rel=1e-5)
    policy = load_policy(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    again = evaluate(policy, env_module, episodes=3)
    assert again.mean_return == pytest.approx(result.final_eval.mean_return)


def test_envs_without_bounded_box_actions_are_refused(tmp_path):
    args = TrainArgs(env="CartPole-v1", out=str(tmp_path / "x"), progress=False)
    with pytest.raises(ValueError, match="needs a 1-D Box action space"):
        Trainer(args)


@pytest.mark.slow
def test_fpo_train_console_script_writes_its_outputs(tmp_path):
    script = (
        Path(__file__).resolve().parents[3] / "install" / "fpo_policy" / "lib" / "fpo_policy" / "fpo-train"
    )
    if not script.exists():
        pytest.skip(f"{script} not built (run make setup)")
    out = tmp_path / "cli"
    cmd = [str(script), "--algo", "ppo", "--env", "Pendulum-v1", "--total-steps", "1024", "--num-envs", "2"]
    cmd += [
        "--seed",
        "4",
        "--out",
        str(out),
        "--no-progress",
        "--eval-episodes",
        "1",
        "--ppo.num-steps",
        "256",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["global_step"], summary["updates"]) == (1024, 2)
    assert summary["eval"]["episodes"] == 1
    rows = read_metrics(out / "metrics.csv")
    assert [r["global_step"] for r in rows] == [512, 1024]
    assert "success_rate" not in rows[0]
    assert load_policy(out / "checkpoints" / "latest.safetensors").metadata.policy_id == "cli"
    assert (out / "curve.png").exists()
    bad = subprocess.run([str(script), "--algo", "sac"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
