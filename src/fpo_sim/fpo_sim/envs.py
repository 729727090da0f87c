"""Gymnasium registration of fpo_sim's SO-100 tasks: ``gym.make("fpo_sim.envs:SO100Reach-v1")``.

Ids (each the ``env_id`` of a :mod:`so100_common.core.tasks` spec): ``SO100Reach-v1``,
``SO100ReachTwoGoals-v1``, and the shipped ManiSkill tasks through our adapter,
``fpo_sim/PickCubeSO100-v1`` and ``fpo_sim/SO100GraspCube-v1``. Keyword arguments of
``gym.make`` reach :class:`fpo_sim.maniskill_adapter.SO100Env` (``obs_mode``, ``render_mode``,
``sim_backend``).
Importing this module imports neither ManiSkill nor SAPIEN; making an env does.
"""

from __future__ import annotations

import gymnasium as gym

from so100_common.core import tasks

for _spec in tasks.TASKS.values():
    if _spec.env_id not in gym.registry:
        # TimeLimit is the adapter's own (spec.episode_steps); no wrapper is added here.
        gym.register(
            _spec.env_id, entry_point="fpo_sim.maniskill_adapter:SO100Env", kwargs={"task": _spec.env_id}
        )
