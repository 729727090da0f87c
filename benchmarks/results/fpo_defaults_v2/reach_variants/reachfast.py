"""Experiment: SO100Reach with a 0.1 rad per-step joint delta for the arm joints."""
from dataclasses import replace
import gymnasium as gym
from fpo_sim.core import tasks
from fpo_sim import sim_env
spec = replace(tasks.REACH, env_id="SO100ReachFast-v1", max_delta_rad=(0.1, 0.1, 0.1, 0.1, 0.1, 0.2))
tasks.TASKS[spec.env_id] = spec
sim_env.BACKINGS[spec.env_id] = sim_env.BACKINGS[tasks.REACH.env_id]
if spec.env_id not in gym.registry:
    gym.register(spec.env_id, entry_point="fpo_sim.sim_env:SO100Env", kwargs={"task": spec.env_id})
