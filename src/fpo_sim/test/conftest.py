"""Fixtures for tests that run the simulator (ManiSkill3 on SAPIEN, Vulkan through lavapipe)."""

from __future__ import annotations

import os
from importlib.util import find_spec

import pytest


def simulator_missing() -> str | None:
    """Why the simulator cannot run on this machine, or None when it can."""
    if find_spec("mani_skill") is None:
        return "mani_skill is not installed (requirements/sim.txt; make setup installs it)"
    from fpo_sim.sim_env import LVP_ICD, NVIDIA_ICDS

    drivers = (LVP_ICD, *NVIDIA_ICDS)
    if not os.environ.get("VK_ICD_FILENAMES") and not any(os.path.exists(p) for p in drivers):
        return (
            "no Vulkan driver: SAPIEN needs Mesa >= 25 lavapipe or an NVIDIA driver (tools/install_vulkan.sh)"
        )
    return None


@pytest.fixture(scope="session")
def maniskill_env():
    """Factory of fpo_sim gym envs (``gym.make("fpo_sim.envs:<id>", **kwargs)``), closed at the end."""
    reason = simulator_missing()
    if reason:
        pytest.skip(reason)
    import gymnasium as gym

    import fpo_sim.envs  # noqa: F401

    made = []

    def make(env_id: str, **kwargs):
        env = gym.make(f"fpo_sim.envs:{env_id}", **kwargs)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
