"""Fixtures for tests that run the simulator (ManiSkill3 on SAPIEN, Vulkan through lavapipe)."""

from __future__ import annotations

import pytest

from fpo_sim.maniskill_adapter import simulator_unavailable


@pytest.fixture(scope="session")
def maniskill_env():
    """Factory of fpo_sim gym envs (``gym.make("fpo_sim.envs:<id>", **kwargs)``), closed at the end."""
    reason = simulator_unavailable()
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


@pytest.fixture(scope="module")
def reach_sim():
    """A one-env SO100Reach-v1 simulator (fpo_sim.maniskill_adapter.SO100Sim), per test module."""
    reason = simulator_unavailable()
    if reason:
        pytest.skip(reason)
    from fpo_sim.maniskill_adapter import SO100Sim

    sim = SO100Sim("SO100Reach-v1")
    yield sim
    sim.close()
