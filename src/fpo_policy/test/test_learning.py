"""Learning smoke tests: FPO and PPO each clearly beat a random policy on Pendulum-v1 within a CI budget.

A uniformly random policy scores about -1200 on Pendulum-v1 (200-step episodes); the zero-noise
evaluation of the trained policy must beat it by a wide margin (300, several times the spread of
5-episode means). Budgets and settings are small (short rollouts, gamma 0.9, learning rate 1e-3 as
tuned PPO uses on Pendulum, FPO with the eps-supervised loss) so each run takes well under a minute
on one thread; benchmarks/ holds the full-length comparisons.
"""

from __future__ import annotations

import numpy as np
import pytest

from fpo_policy.core.config import FpoConfig, PpoConfig, TrainArgs
from fpo_policy.core.metrics import read_metrics
from fpo_policy.core.trainer import Trainer, make_env

pytestmark = pytest.mark.slow
STEPS = {"fpo": 20_480, "ppo": 16_384}


def random_return(episodes: int = 5) -> float:
    env = make_env("Pendulum-v1")
    env.action_space.seed(0)
    total = 0.0
    for ep in range(episodes):
        env.reset(seed=10_000 + ep)
        done = False
        while not done:
            _, r, term, trunc, _ = env.step(env.action_space.sample())
            total += float(r)
            done = term or trunc
    return total / episodes


def smoke_args(tmp_path, algo: str) -> TrainArgs:
    common = dict(num_steps=128, gamma=0.9, learning_rate=1e-3, num_minibatches=16, anneal_lr=False)
    return TrainArgs(
        algo=algo,
        env="Pendulum-v1",
        total_steps=STEPS[algo],
        num_envs=8,
        seed=1,
        out=str(tmp_path / algo),
        eval_every=0,
        eval_episodes=5,
        checkpoint_every=STEPS[algo],
        tensorboard=False,
        progress=False,
        fpo=FpoConfig(loss_form="eps", **common),
        ppo=PpoConfig(**common),
    )


@pytest.mark.parametrize("algo", ["fpo", "ppo"])
def test_clearly_beats_random_on_pendulum(tmp_path, algo):
    baseline = random_return()
    assert -1500 < baseline < -900
    result = Trainer(smoke_args(tmp_path, algo)).run()
    assert result.global_step == STEPS[algo]
    assert result.final_eval.mean_return > baseline + 300, (result.final_eval, baseline)
    rows = read_metrics(tmp_path / algo / "metrics.csv")
    assert all(r["first_rho_max_dev"] == 0.0 for r in rows)
    if algo == "fpo":
        stored = [r["stored_cfm_loss"] for r in rows]
        assert np.isfinite(stored).all()
        assert max(stored) < 3 * stored[0]  # the velocity field has not blown up
