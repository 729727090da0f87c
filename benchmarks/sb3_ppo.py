"""The peer: stable-baselines3 PPO with the rl-zoo hyperparameters for Pendulum-v1, evaluated the
same way as our runs (zero-noise/deterministic actions, EVAL episodes seeded 10000, 10001, ...).

Needs requirements/bench.txt (stable-baselines3). One process, one torch thread, seeds in sequence.

Usage: python benchmarks/sb3_ppo.py --seeds 1 2 3 --total-steps 102400 --out benchmarks/results/sb3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

# rl-zoo hyperparams/ppo.yml, Pendulum-v1.
ZOO_PENDULUM = dict(
    n_steps=1024,
    gae_lambda=0.95,
    gamma=0.9,
    n_epochs=10,
    ent_coef=0.0,
    learning_rate=1e-3,
    clip_range=0.2,
    use_sde=True,
    sde_sample_freq=4,
)


def evaluate(model, env_id: str, episodes: int) -> float:
    import gymnasium as gym

    env = gym.make(env_id)
    returns = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=10_000 + ep)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(action)
            total += float(r)
            done = term or trunc
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def main() -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-steps", type=int, default=102_400)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sb3_ppo"))
    parser.add_argument(
        "--sb3-defaults",
        action="store_true",
        help="stable-baselines3's own PPO defaults and one env, instead of rl-zoo's Pendulum settings",
    )
    ns = parser.parse_args()
    hyperparameters, n_envs = ({}, 1) if ns.sb3_defaults else (ZOO_PENDULUM, 4)
    torch.set_num_threads(1)
    ns.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in ns.seeds:
        env = make_vec_env(ns.env, n_envs=n_envs, seed=seed)
        model = PPO("MlpPolicy", env, seed=seed, verbose=0, device="cpu", **hyperparameters)
        t0 = time.perf_counter()
        model.learn(total_timesteps=ns.total_steps)
        wall = time.perf_counter() - t0
        runs.append(
            {"seed": seed, "final_eval_return": evaluate(model, ns.env, ns.eval_episodes), "wall_s": wall}
        )
        print(json.dumps(runs[-1]), flush=True)
    finals = [r["final_eval_return"] for r in runs]
    summary = {
        "final_eval_mean": float(np.mean(finals)),
        "final_eval_std": float(np.std(finals)),
        "runs": runs,
    }
    summary["settings"] = {**hyperparameters, "n_envs": n_envs, "total_steps": ns.total_steps, "env": ns.env}
    (ns.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
