"""FPO improves SO100Reach-v1, and the pick task's staged reward, on the CPU within CI-sized budgets
(the full runs are benchmarks).

A short fpo-train run (one process, seeded): the mean return of the last training episodes must
clearly exceed that of the first ones, which the initial, nearly random policy collects. The full
training that produced the shipped checkpoint is in src/fpo_policy/checkpoints/README.md.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow
STEPS = 24_576


def short_fpo_run(out, env: str, steps: int, num_envs: int, seed: int, num_steps: int, **extra):
    """A seeded fpo-train run without evaluation, TensorBoard or step checkpoints; its TrainResult."""
    config = pytest.importorskip("fpo_policy.core.config", reason="fpo_policy (torch) is not importable")
    from fpo_policy.core.trainer import Trainer

    args = config.TrainArgs(
        algo="fpo",
        env=env,
        total_steps=steps,
        num_envs=num_envs,
        seed=seed,
        out=str(out),
        eval_every=0,
        eval_episodes=1,
        checkpoint_every=steps,
        tensorboard=False,
        progress=False,
        fpo=config.FpoConfig(num_steps=num_steps, gamma=0.95),
        **extra,
    )
    return Trainer(args).run()


def test_fpo_improves_reach(tmp_path, maniskill_env):
    result = short_fpo_run(tmp_path / "reach", "fpo_sim.envs:SO100Reach-v1", STEPS, 8, seed=1, num_steps=128)
    returns = np.asarray(result.episodic_returns)
    assert result.global_step == STEPS
    assert len(returns) >= 2 * 24
    early, late = returns[:24].mean(), returns[-24:].mean()
    assert late > 1.2 * early, (early, late)


PICK_STEPS = 8192
PICK_ENVS = 4


def test_fpo_raises_the_staged_pick_reward_from_the_pre_grasp_start(tmp_path, maniskill_env):
    """SO100PickLift-v1 with every training episode started with the open jaw around the cube: the
    staged reward (reach, grasp, lift) of the last episodes clearly exceeds that of the first."""
    from so100_common.core import tasks

    result = short_fpo_run(
        tmp_path / "pick",
        "fpo_sim.envs:SO100PickLift-v1",
        PICK_STEPS,
        PICK_ENVS,
        seed=4,
        num_steps=256,
        train_env_kwargs='{"pre_grasp_start_fraction": 1.0}',
    )
    returns = np.asarray(result.episodic_returns)
    episodes_per_env = PICK_STEPS // PICK_ENVS // tasks.PICK_LIFT.episode_steps
    assert len(returns) == PICK_ENVS * episodes_per_env
    early, late = returns[:8].mean(), returns[-8:].mean()
    assert late > early + 3.0, (early, late)
