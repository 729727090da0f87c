"""Training throughput: env steps/s through fpo-train's loop against the raw vector env.

For each task, in one process and alternating ``--rounds`` times (the best of each kept: other
jobs on a shared machine only ever slow a measurement down):

- ``raw``: the same vector env fpo-train makes (``make_vector_env``: gymnasium's SyncVectorEnv in
  same-step autoreset, each episode reset from its own seed), replaying the actions of the
  trainer's first rollout from the same seeds (the same transitions, so the same physics);
- ``collect``: :meth:`Trainer.collect` (rollout collection: observation normalisation, flow
  sampling, critic values, reward scaling, storage), no update;
- ``train``: whole iterations of :meth:`Trainer.run`'s loop (collect, advantages, update, log and
  checkpoint), i.e. what fpo-train's ``sps`` column reports, evaluation left out.

Rates are per wall second and per CPU second of this process; train / raw is the figure the
target (>= 0.8) is about. Run alone, from the repository root after ``source tools/env.sh``::

    python benchmarks/train_speed.py --num-envs 8 --iterations 2 --rounds 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src" / p) for p in ("so100_common", "fpo_sim", "fpo_policy")]

from fpo_policy.core.config import FpoConfig, TrainArgs  # noqa: E402
from fpo_policy.core.trainer import Trainer, make_vector_env  # noqa: E402

TASKS = ("fpo_sim.envs:SO100Reach-v1", "fpo_sim.envs:SO100PickLift-v1")


def timed(fn) -> tuple[float, float]:
    """(wall s, CPU s of this process) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def raw_rate(env_id: str, num_envs: int, actions: np.ndarray) -> tuple[float, float]:
    """The vector env alone, replaying ``actions`` (T, N, A) from the same episode seeds: the
    very transitions the trainer collected, so both rates pay for the same physics (random actions
    would not: they flail the arm into many more contacts than a policy does)."""
    envs = make_vector_env(env_id, num_envs, seed=0)
    envs.reset()

    def run():
        for a in actions:
            envs.step(a)

    wall, cpu = timed(run)
    envs.close()
    return len(actions) * num_envs / wall, len(actions) * num_envs / cpu


def trainer_rates(env_id: str, num_envs: int, iterations: int, out: Path) -> tuple[tuple, tuple]:
    args = TrainArgs(
        env=env_id,
        num_envs=num_envs,
        total_steps=10**9,
        out=str(out),
        eval_every=0,
        tensorboard=False,
        progress=False,
        fpo=FpoConfig(),
    )
    args = replace(args, seed=0)  # the seed raw_rate replays with
    trainer = Trainer(args)
    from fpo_policy.core.metrics import MetricsLogger

    trainer.metrics = MetricsLogger(trainer.out)
    trainer._next_eval, trainer._next_checkpoint = None, 10**12
    obs = trainer.envs.reset()[0]
    state = {"obs": obs}

    def collect_only():
        _, state["obs"] = trainer.collect(state["obs"])

    c_wall, c_cpu = timed(collect_only)
    actions = trainer.bounds.to_env(trainer.storage.actions.numpy())

    def iterate():
        for _ in range(iterations):
            t0 = time.perf_counter()
            episodes, state["obs"] = trainer.collect(state["obs"])
            batch = trainer.advantages(state["obs"])
            stats, update_time = trainer.improve(batch)
            trainer.log(episodes, stats, update_time, time.perf_counter() - t0)

    t_wall, t_cpu = timed(iterate)
    trainer.metrics.close()
    trainer.envs.close()
    trainer.eval_env.close()
    steps = args.batch_size
    return actions, (steps / c_wall, steps / c_cpu), (iterations * steps / t_wall, iterations * steps / t_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=2, help="training iterations per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    ns = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| task | envs | raw steps/s | collect steps/s | train steps/s | train / raw | raw per CPU s | "
        "train per CPU s | train / raw (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for env_id in ns.tasks:
        best = {"raw": (0.0, 0.0), "collect": (0.0, 0.0), "train": (0.0, 0.0)}
        for _ in range(ns.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                actions, collect, train = trainer_rates(env_id, ns.num_envs, ns.iterations, Path(tmp))
            raw = raw_rate(env_id, ns.num_envs, actions)
            for key, value in (("raw", raw), ("collect", collect), ("train", train)):
                best[key] = tuple(max(a, b) for a, b in zip(best[key], value))
        raw, collect, train = best["raw"], best["collect"], best["train"]
        name = env_id.split(":")[-1]
        print(
            f"| {name} | {ns.num_envs} | {raw[0]:.0f} | {collect[0]:.0f} | {train[0]:.0f} | "
            f"{train[0] / raw[0]:.2f} | {raw[1]:.0f} | {train[1]:.0f} | {train[1] / raw[1]:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
