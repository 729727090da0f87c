"""Learning benchmark: FPO vs our Gaussian PPO (and optionally stable-baselines3 PPO) over seeds.

Runs each (algorithm, seed) one after another in this process (one training process at a time),
each with the trainer behind fpo-train, and writes OUT/summary.json plus OUT/curves.png.
Reported per algorithm: the final zero-noise evaluation return (EVAL episodes, mean over seeds and
the spread across seeds) and the mean training return of the last 10 episodes.

Usage:
  python benchmarks/fpo_vs_ppo.py --env Pendulum-v1 --total-steps 100000 --seeds 1 2 3 \
      --algos fpo ppo --out benchmarks/results/pendulum_100k [--set ppo.gamma=0.9 ...]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from fpo_policy.core.config import TrainArgs
from fpo_policy.core.hyperparameters import apply_table, load_table
from fpo_policy.core.metrics import read_metrics
from fpo_policy.core.trainer import Trainer


def apply_overrides(args: TrainArgs, overrides: list[str]) -> TrainArgs:
    """``args`` with ``section.field=value`` set (section fpo or ppo), value parsed as JSON when possible."""
    for item in overrides:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        target = getattr(args, section)
        if not hasattr(target, name):
            raise SystemExit(f"unknown setting {key}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        parsed = tuple(parsed) if isinstance(parsed, list) else parsed
        args = replace(args, **{section: replace(target, **{name: parsed})})
    return args


def run_one(algo: str, seed: int, ns: argparse.Namespace, out: Path) -> dict:
    args = TrainArgs(
        algo=algo,
        env=ns.env,
        total_steps=ns.total_steps,
        num_envs=ns.num_envs,
        seed=seed,
        out=str(out / f"{algo}_s{seed}"),
        eval_every=ns.eval_every,
        eval_episodes=ns.eval_episodes,
        checkpoint_every=ns.total_steps,
        tensorboard=False,
        progress=False,
    )
    if ns.hyperparameters:
        args = apply_table(args, load_table(ns.hyperparameters))
    args = apply_overrides(args, ns.set)
    t0 = time.perf_counter()
    result = Trainer(args).run()
    wall = time.perf_counter() - t0
    rows = read_metrics(Path(args.out) / "metrics.csv")
    return {
        "algo": algo,
        "label": algo + ns.tag,
        "seed": seed,
        "final_eval_return": result.final_eval.mean_return,
        "last10_train_return": float(np.mean(result.episodic_returns[-10:])),
        "best_eval_return": max(r["eval_return"] for r in rows if r.get("eval_return") is not None),
        "wall_s": wall,
        "env_steps_per_s": result.global_step / wall,
        "stored_cfm_loss_first_last": [rows[0].get("stored_cfm_loss"), rows[-1].get("stored_cfm_loss")],
        "curve": [(r["global_step"], r["eval_return"]) for r in rows if r.get("eval_return") is not None],
    }


def summarise(runs: list[dict]) -> dict:
    out = {}
    for label in sorted({r["label"] for r in runs}):
        mine = [r for r in runs if r["label"] == label]
        finals = [r["final_eval_return"] for r in mine]
        train = [r["last10_train_return"] for r in mine]
        out[label] = {
            "final_eval_mean": float(np.mean(finals)),
            "final_eval_std": float(np.std(finals)),
            "last10_train_mean": float(np.mean(train)),
            "last10_train_std": float(np.std(train)),
            "seeds": [r["seed"] for r in mine],
            "mean_wall_s": float(np.mean([r["wall_s"] for r in mine])),
        }
    return out


def plot(runs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {"fpo": "tab:blue", "ppo": "tab:orange"}
    for r in runs:
        if r["curve"]:
            label = f"{r['label']} s{r['seed']}"
            ax.plot(*zip(*r["curve"]), color=colors.get(r["algo"]), alpha=0.7, label=label)
    ax.set_xlabel("env steps")
    ax.set_ylabel("zero-noise eval return")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--algos", nargs="+", default=["fpo", "ppo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-steps", type=int, default=100_000)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--eval-every", type=int, default=10_240)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument(
        "--hyperparameters",
        default="",
        help="per-task table applied before --set: zoo (the shipped one) or a path",
    )
    parser.add_argument("--set", nargs="*", default=[], help="overrides such as ppo.gamma=0.9")
    parser.add_argument("--tag", default="", help="suffix of the algorithm's label in the summary")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fpo_vs_ppo"))
    ns = parser.parse_args()
    ns.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for algo in ns.algos:
        for seed in ns.seeds:
            runs.append(run_one(algo, seed, ns, ns.out))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "curve"}), flush=True)
    summary = {"settings": {k: str(v) for k, v in vars(ns).items()}, "summary": summarise(runs), "runs": runs}
    (ns.out / "summary.json").write_text(json.dumps(summary, indent=1))
    plot(runs, ns.out / "curves.png", f"{ns.env}, {ns.total_steps} steps")
    print(json.dumps(summary["summary"], indent=1))


if __name__ == "__main__":
    main()
