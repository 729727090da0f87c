"""Benchmark variant: SO100Reach-v1 with a 0.1 rad per-step joint delta for the arm joints.

Importing this module registers ``SO100ReachFast-v1`` (``--env reachfast:SO100ReachFast-v1`` with
this folder on PYTHONPATH). Everything else is SO100Reach-v1's, as it was when these runs were made
(targets up to the plain joint limits, pinned here). Since then SO100Reach-v1 itself takes 0.1 rad
steps, a command margin and only reachable goals; the goal sampling of the time is not kept, so
this no longer reproduces the runs exactly.
"""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym

from fpo_sim import maniskill_adapter as sim_env
from so100_common.core import tasks

SPEC = replace(
    tasks.REACH,
    env_id="SO100ReachFast-v1",
    max_delta_rad=(0.1, 0.1, 0.1, 0.1, 0.1, 0.2),
    limit_margin_rad=0.0,
)
tasks.TASKS[SPEC.env_id] = SPEC
sim_env.BACKINGS[SPEC.env_id] = sim_env.BACKINGS[tasks.REACH.env_id]
if SPEC.env_id not in gym.registry:
    gym.register(SPEC.env_id, entry_point="fpo_sim.maniskill_adapter:SO100Env", kwargs={"task": SPEC.env_id})
