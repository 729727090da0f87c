"""Session-wide test settings and simulator fixtures shared by every test folder.

Each test session gets its own ROS domain and keeps discovery on this host, so concurrent test
runs, leftover nodes and benchmarks on the same machine never hear each other's topics.
"""

import os

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Large images over best-effort QoS lose most frames with the default transports (measured).
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")


@pytest.fixture(scope="session")
def maniskill_env():
    """Factory of fpo_sim gym envs (``gym.make("fpo_sim.envs:<id>", **kwargs)``), closed at the end."""
    from fpo_sim.maniskill_adapter import simulator_unavailable

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
    from fpo_sim.maniskill_adapter import simulator_unavailable

    reason = simulator_unavailable()
    if reason:
        pytest.skip(reason)
    from fpo_sim.maniskill_adapter import SO100Sim

    sim = SO100Sim("SO100Reach-v1")
    yield sim
    sim.close()
