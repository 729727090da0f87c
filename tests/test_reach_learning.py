"""FPO improves SO100Reach-v1 on the CPU within a CI-sized budget (the full run is a benchmark).

A short fpo-train run (one process, seeded): the mean return of the last training episodes must
clearly exceed that of the first ones, which the initial, nearly random policy collects. The full
training that produced the shipped checkpoint is in src/fpo_policy/checkpoints/README.md.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow
STEPS = 24_576


def test_fpo_improves_reach(tmp_path, maniskill_env):
    config = pytest.importorskip("fpo_policy.core.config", reason="fpo_policy (torch) is not importable")
    from fpo_policy.core.trainer import Trainer

    args = config.TrainArgs(
        algo="fpo",
        env="fpo_sim.envs:SO100Reach-v1",
        total_steps=STEPS,
        num_envs=8,
        seed=1,
        out=str(tmp_path / "reach"),
        eval_every=0,
        eval_episodes=2,
        checkpoint_every=STEPS,
        tensorboard=False,
        progress=False,
        fpo=config.FpoConfig(num_steps=128, gamma=0.95),
    )
    result = Trainer(args).run()
    returns = np.asarray(result.episodic_returns)
    assert result.global_step == STEPS
    assert len(returns) >= 2 * 24
    early, late = returns[:24].mean(), returns[-24:].mean()
    assert late > 1.2 * early, (early, late)
