"""Which goal a policy goes to on SO100ReachTwoGoals-v1, where either of two mirrored goals counts.

For each of ``--starts`` episodes (reset seeds 10000..), the same start pose and goals are rolled
out ``--samples`` times with the stochastic policy (fresh sampling noise each time) and once with
zero-noise / mean actions. An episode is credited to the goal it first reached (or, failing, the
goal nearest the tip at its end). Prints
JSON per checkpoint: success rates, the share of stochastic episodes ending at goal 0, and the
number of start states from which the stochastic policy reached *both* goals (a policy with two
modes can; one that has settled on one answer per state cannot).

    python benchmarks/reach_two_goals.py CHECKPOINT [CHECKPOINT ...] [--starts 20] [--samples 8]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from fpo_policy.core.policy import load_policy
from fpo_policy.core.trainer import make_env
from so100_common.core import tasks

ENV = "fpo_sim.envs:SO100ReachTwoGoals-v1"
SEED = 10_000


def rollout(env, policy, seed: int, deterministic: bool) -> tuple[int, bool]:
    """(goal index, success) of one episode: the goal the tip first came within the success
    distance of, or, without a success, the goal nearest the tip at the last step."""
    spec = tasks.get(ENV)
    obs, _ = env.reset(seed=seed)
    done, reached = False, None
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.act(obs, deterministic=deterministic))
        # Reach layout: ... | goal_k - tcp for k = 1..K (the last 3 K entries).
        nearest = int(np.argmin(np.linalg.norm(obs[-spec.goal_dim :].reshape(spec.num_goals, 3), axis=1)))
        if reached is None and bool(info["success"]):
            reached = nearest
        done = terminated or truncated
    return (nearest, False) if reached is None else (reached, True)


def per_start(path: str, env_id: str, rollout, first_seed: int, starts: int, samples: int):
    """The checkpoint at ``path`` on ``env_id``: for each of ``starts`` reset seeds from
    ``first_seed``, one zero-noise ``rollout`` and ``samples`` stochastic ones (torch seeded per
    sample). Returns (policy, zero-noise results, per start the list of stochastic results);
    ``rollout(env, policy, seed, deterministic)``."""
    policy = load_policy(path)
    env = make_env(env_id)
    greedy, stochastic = [], []
    try:
        for i in range(starts):
            greedy.append(rollout(env, policy, first_seed + i, deterministic=True))
            ends = []
            for k in range(samples):
                torch.manual_seed(1000 * i + k)
                ends.append(rollout(env, policy, first_seed + i, deterministic=False))
            stochastic.append(ends)
    finally:
        env.close()
    return policy, greedy, stochastic


def measure(path: str, starts: int, samples: int) -> dict:
    policy, greedy, by_start = per_start(path, ENV, rollout, SEED, starts, samples)
    stochastic = [end for ends in by_start for end in ends]
    both = sum(len({goal for goal, ok in ends if ok}) == 2 for ends in by_start)
    return {
        "checkpoint": path,
        "algorithm": policy.metadata.algorithm,
        "starts": starts,
        "samples_per_start": samples,
        "success_zero_noise": float(np.mean([ok for _, ok in greedy])),
        "success_stochastic": float(np.mean([ok for _, ok in stochastic])),
        "stochastic_share_goal0": float(np.mean([goal == 0 for goal, _ in stochastic])),
        "starts_with_both_goals_reached": both,
    }


def main(measure_one=measure, doc: str = __doc__) -> None:
    """Print ``measure_one(checkpoint, starts, samples)`` as JSON for each checkpoint on the command line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--samples", type=int, default=8)
    ns = parser.parse_args()
    for path in ns.checkpoints:
        print(json.dumps(measure_one(path, ns.starts, ns.samples)), flush=True)


if __name__ == "__main__":
    main()
