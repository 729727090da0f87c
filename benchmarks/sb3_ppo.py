"""The peer: stable-baselines3 PPO with the task's ``sb3`` row of the hyperparameter table
(src/fpo_policy/fpo_policy/core/hyperparameters.yaml), evaluated the way our runs are: zero-noise
(deterministic) actions, episodes seeded 10000, 10001, ..., success when the env reports it at any
step (fpo_policy.core.trainer.run_episodes, what fpo-train's evaluation runs).

Needs requirements/bench.txt (stable-baselines3). One process, one torch thread, seeds in sequence.
Per seed, OUT/s<seed>/ holds evals.csv (env steps, return, success rate at every evaluation) and
model.zip (saved at every evaluation); ``--resume`` continues from model.zip (the step count and
weights are kept; the envs start new episodes, so a resumed run is close to, not bit-equal with,
an uninterrupted one).

Usage: python benchmarks/sb3_ppo.py --env Pendulum-v1 --seeds 1 2 3 --total-steps 102400 \
    --out benchmarks/results/sb3 [--eval-every 20480] [--eval-episodes 20] [--sb3-defaults]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from fpo_policy.core.config import TrainArgs
from fpo_policy.core.hyperparameters import ZOO, apply_table, load_table, task_rows
from fpo_policy.core.trainer import make_env, run_episodes

EVAL_SEED = 10_000


def evaluate(model, env_id: str, episodes: int, normalize=None) -> tuple[float, float | None]:
    """(mean return, success rate or None) of ``episodes`` deterministic episodes; ``normalize``
    maps raw observations to the model's input (VecNormalize's, frozen), or None."""
    env = make_env(env_id)

    def act(obs):
        return model.predict(obs if normalize is None else normalize(obs), deterministic=True)[0]

    try:
        result = run_episodes(env, act, episodes, EVAL_SEED)
    finally:
        env.close()
    return result.mean_return, result.success_rate


def train_seed(ns: argparse.Namespace, seed: int, settings: dict, env_kwargs: dict) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    out = ns.out / f"s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(settings)
    n_envs = int(settings.pop("n_envs", 1))
    normalize = bool(settings.pop("normalize", False))
    env = make_vec_env(lambda: make_env(ns.env, **env_kwargs), n_envs=n_envs, seed=seed)
    saved, stats = out / "model.zip", out / "vecnormalize.pkl"
    if normalize:
        env = VecNormalize.load(str(stats), env) if ns.resume and stats.exists() else VecNormalize(env)
    if ns.resume and saved.exists():
        model = PPO.load(saved, env=env, device="cpu")
    else:
        model = PPO("MlpPolicy", env, seed=seed, verbose=0, device="cpu", **settings)
    evals = out / "evals.csv"
    if not (ns.resume and evals.exists()):
        evals.write_text("global_step,eval_return,eval_success_rate,wall_s\n")
    t0 = time.perf_counter()
    every = ns.eval_every or ns.total_steps
    while model.num_timesteps < ns.total_steps:
        chunk = min(every - model.num_timesteps % every, ns.total_steps - model.num_timesteps)
        model.learn(total_timesteps=chunk, reset_num_timesteps=False)
        ret, success = evaluate(model, ns.env, ns.eval_episodes, env.normalize_obs if normalize else None)
        with evals.open("a", newline="") as f:
            csv.writer(f).writerow(
                [
                    model.num_timesteps,
                    ret,
                    "" if success is None else success,
                    round(time.perf_counter() - t0, 1),
                ]
            )
        model.save(saved)
        if normalize:
            env.save(str(stats))
        print(
            json.dumps(
                {"seed": seed, "step": model.num_timesteps, "eval_return": ret, "eval_success_rate": success}
            ),
            flush=True,
        )
    env.close()
    return {
        "seed": seed,
        "final_eval_return": ret,
        "final_eval_success_rate": success,
        "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-steps", type=int, default=102_400)
    parser.add_argument(
        "--eval-every", type=int, default=0, help="env steps between evaluations (0: at the end)"
    )
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sb3_ppo"))
    parser.add_argument("--resume", action="store_true", help="continue each seed from OUT/s<seed>/model.zip")
    parser.add_argument(
        "--sb3-defaults",
        action="store_true",
        help="stable-baselines3's own PPO defaults and one env, instead of the table's row",
    )
    ns = parser.parse_args()
    table = load_table(ZOO)
    settings = {} if ns.sb3_defaults else task_rows(table, ns.env).get("sb3", {})
    # The run row's training-env keyword arguments (the pick task's start curriculum) are every
    # algorithm's; evaluation always runs the plain env.
    env_kwargs = {} if ns.sb3_defaults else apply_table(TrainArgs(env=ns.env), table).train_env_options
    torch.set_num_threads(1)
    ns.out.mkdir(parents=True, exist_ok=True)
    runs = [train_seed(ns, seed, settings, env_kwargs) for seed in ns.seeds]
    finals = [r["final_eval_return"] for r in runs]
    summary = {
        "final_eval_mean": float(np.mean(finals)),
        "final_eval_std": float(np.std(finals)),
        "runs": runs,
        "settings": {
            **settings,
            "train_env_kwargs": env_kwargs,
            "total_steps": ns.total_steps,
            "env": ns.env,
            "eval_episodes": ns.eval_episodes,
        },
    }
    (ns.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
