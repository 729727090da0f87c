"""Which grasp a pick policy uses on SO100PickLift-v1, and whether it has more than one.

A grasp strategy is read off the arm at the first step ManiSkill reports the cube grasped, as two
labels:

- approach: the angle between the jaw's pointing direction (the Fixed_Jaw link's origin to the
  midpoint of the two jaw tips) and straight down; ``top`` below 30 degrees, ``tilted`` 30-60,
  ``side`` above 60.
- fixed jaw side: which side of the cube the fixed jaw's tip is on, seen from the robot's base
  looking at the cube (``left`` or ``right``: the sign of the vertical component of
  radial x (fixed tip - cube centre), where radial points from the base to the cube).

For each of ``--starts`` plain-start episodes (reset seeds 20000.., never training seeds), the same
start is rolled out ``--samples`` times with the stochastic policy (fresh sampling noise each time)
and once with zero noise. Prints JSON per checkpoint: success rates, the count of each strategy
over the stochastic grasps, and the number of starts from which the stochastic policy grasped with
two or more strategies (a policy that keeps several strategies can; one that has settled on one per
state cannot).

    python benchmarks/pick_strategies.py CHECKPOINT [CHECKPOINT ...] [--starts 20] [--samples 8]
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from reach_two_goals import main, per_start

ENV = "fpo_sim.envs:SO100PickLift-v1"
SEED = 20_000
BASE_XY_M = np.array([-0.725, 0.0])
"""The robot base's position on the table, ManiSkill world frame (fpo_sim.maniskill_pick)."""


def _p(link) -> np.ndarray:
    return link.pose.p[0].cpu().numpy().astype(np.float64)


def grasp_strategy(ms_env) -> tuple[str, str]:
    """(approach, fixed jaw side) of the arm's current pose in the ManiSkill env ``ms_env``."""
    agent = ms_env.agent
    fixed_tip, moving_tip = _p(agent.finger1_tip), _p(agent.finger2_tip)
    pointing = 0.5 * (fixed_tip + moving_tip) - _p(agent.finger1_link)
    tilt = np.degrees(np.arccos(np.clip(-pointing[2] / np.linalg.norm(pointing), -1.0, 1.0)))
    approach = "top" if tilt < 30.0 else "tilted" if tilt < 60.0 else "side"
    cube = ms_env.cube.pose.p[0].cpu().numpy().astype(np.float64)
    radial = np.append(cube[:2] - BASE_XY_M, 0.0)
    side = "left" if np.cross(radial, fixed_tip - cube)[2] > 0.0 else "right"
    return approach, side


def rollout(env, policy, seed: int, deterministic: bool) -> tuple[str | None, bool]:
    """(strategy label at the first grasped step or None, success at the episode's end)."""
    ms_env = env.unwrapped.sim._env
    obs, _ = env.reset(seed=seed)
    done, label = False, None
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.act(obs, deterministic=deterministic))
        if label is None and bool(ms_env.evaluate()["is_grasped"][0]):
            label = "/".join(grasp_strategy(ms_env))
        done = terminated or truncated
    return label, bool(info["success"])


def measure(path: str, starts: int, samples: int) -> dict:
    policy, greedy, by_start = per_start(path, ENV, rollout, SEED, starts, samples)
    stochastic = [end for ends in by_start for end in ends]
    several = sum(len({label for label, _ in ends if label is not None}) >= 2 for ends in by_start)
    return {
        "checkpoint": path,
        "algorithm": policy.metadata.algorithm,
        "starts": starts,
        "samples_per_start": samples,
        "success_zero_noise": float(np.mean([ok for _, ok in greedy])),
        "success_stochastic": float(np.mean([ok for _, ok in stochastic])),
        "grasp_rate_stochastic": float(np.mean([label is not None for label, _ in stochastic])),
        "zero_noise_strategies": dict(Counter(label for label, _ in greedy if label is not None)),
        "stochastic_strategies": dict(Counter(label for label, _ in stochastic if label is not None)),
        "starts_with_two_or_more_strategies": several,
    }


if __name__ == "__main__":
    main(measure, __doc__)
