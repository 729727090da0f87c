"""The sim node's ROS-free loop on the real simulator: commands, e-stop, episodes, counters."""

from __future__ import annotations

import numpy as np
import pytest

from fpo_sim.core.sim_loop import SimLoop, SimNodeConfig
from so100_common.core.commands import CommandRejected
from so100_common.core.joints import JOINT_NAMES

pytestmark = pytest.mark.slow

TARGET = np.array([0.4, -1.0, 1.2, 0.5, 0.3, -0.5])


@pytest.fixture
def sim(reach_sim):
    return reach_sim


def _run(loop, ticks):
    for _ in range(ticks):
        result = loop.tick()
    return result


def test_command_moves_the_arm_to_the_target(sim):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    start = _run(loop, 3).joint_positions_rad
    loop.command(TARGET)
    end = _run(loop, 40).joint_positions_rad
    assert np.abs(end - TARGET).max() < 0.05, end
    assert np.abs(start - TARGET).max() > 0.3
    assert loop.accepted == 1


def test_without_commands_the_arm_holds_its_start_pose(sim):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    start = sim.joint_positions[0].copy()
    end = _run(loop, 20).joint_positions_rad
    np.testing.assert_allclose(end, start, atol=0.02)


@pytest.mark.parametrize(
    ("positions", "names", "reason"),
    [
        (TARGET[:5], None, "wrong_length"),
        (np.where(np.arange(6) == 2, np.nan, TARGET), None, "non_finite"),
        (TARGET + np.array([0, 0, 0, 0, 0, 2.0]), None, "out_of_limits"),
        (TARGET, [*JOINT_NAMES[:5], "jaw"], "wrong_names"),
    ],
)
def test_invalid_commands_are_counted_and_never_applied(sim, positions, names, reason):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    before = _run(loop, 2).joint_positions_rad
    with pytest.raises(CommandRejected):
        loop.command(positions, names)
    assert loop.rejected[reason] == 1
    assert sum(loop.rejected.values()) == 1
    assert loop.accepted == 0
    after = _run(loop, 15).joint_positions_rad
    np.testing.assert_allclose(after, before, atol=0.02)
    assert loop.diagnostics()[f"rejected_{reason}"] == "1"


def test_estop_blocks_commands_until_reset(sim):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    _run(loop, 2)
    loop.engage_estop()
    held = sim.joint_positions[0].copy()
    with pytest.raises(CommandRejected) as info:
        loop.command(TARGET)
    assert info.value.reason == "estop"
    np.testing.assert_allclose(_run(loop, 20).joint_positions_rad, held, atol=0.02)
    assert loop.diagnostics()["estop_latched"] == "True"
    ok, _ = loop.reset_estop()
    assert ok
    assert loop.reset_estop() == (False, "no e-stop is latched")
    np.testing.assert_allclose(_run(loop, 5).joint_positions_rad, held, atol=0.02)
    loop.command(TARGET)
    assert np.abs(_run(loop, 40).joint_positions_rad - TARGET).max() < 0.05


def test_estop_latches_across_an_episode_reset(sim):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    loop.engage_estop()
    loop.reset()
    with pytest.raises(CommandRejected):
        loop.command(TARGET)
    assert loop.estop_latched


def test_episodes_end_and_auto_reset(sim):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=True, seed=7))
    steps = loop.spec.episode_steps
    first_goal = loop.tick().goal
    results = [loop.tick() for _ in range(steps - 1)]
    assert results[-1].truncated
    assert results[-1].step == steps
    nxt = loop.tick()
    assert (nxt.episode, nxt.step) == (2, 1)
    assert not np.allclose(nxt.goal, first_goal)
    assert nxt.observation.shape == (loop.spec.obs_dim,)


def test_the_estop_topic_latches_once_and_false_never_clears(sim):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    assert not loop.on_estop_message(False)
    assert not loop.estop_latched
    assert loop.on_estop_message(True)  # newly latched: the node logs it once
    assert not loop.on_estop_message(True)
    assert not loop.on_estop_message(False)
    assert loop.estop_latched
    with pytest.raises(CommandRejected):
        loop.command(TARGET)


def test_a_pending_episode_starts_when_asked_or_at_the_next_tick(sim):
    loop = SimLoop(sim, SimNodeConfig(auto_reset=True, seed=3))
    for _ in range(loop.spec.episode_steps - 1):
        loop.tick()
        assert not loop.reset_pending
    last = loop.tick()
    assert last.truncated
    assert loop.reset_pending
    assert loop.start_pending_episode()  # what the lockstep node does, to publish the new state
    assert (loop.episode, loop.state().step) == (2, 0)
    assert not loop.reset_pending
    assert not loop.start_pending_episode()
    assert loop.tick().step == 1  # no second reset
    manual = SimLoop(sim, SimNodeConfig(auto_reset=False))
    for _ in range(manual.spec.episode_steps):
        manual.tick()
    assert not manual.reset_pending


def test_a_trajectory_stamped_before_the_episode_began_is_refused_and_counted(sim):
    """A command the policy computed from the previous episode's last state must not move the new
    episode's arm; unstamped commands and ones stamped after the start pass."""
    point = type("Point", (), {"positions": list(TARGET)})()
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    loop.command_trajectory(JOINT_NAMES, [point], stamp_ns=5)  # no start known yet: accepted
    loop.reset()
    hold = loop.target.copy()
    loop.episode_started_ns = 1_000_000_000
    with pytest.raises(CommandRejected, match="before episode 2 began") as err:
        loop.command_trajectory(JOINT_NAMES, [point], stamp_ns=999_000_000)
    assert err.value.reason == "previous_episode"
    assert loop.rejected["previous_episode"] == 1
    np.testing.assert_array_equal(loop.target, hold)  # nothing applied
    assert loop.diagnostics()["rejected_previous_episode"] == "1"
    loop.command_trajectory(JOINT_NAMES, [point], stamp_ns=1_000_000_001)
    np.testing.assert_allclose(loop.target, TARGET)
    loop.command_trajectory(JOINT_NAMES, [point])  # unstamped (0): an external commander's
    assert loop.accepted == 3


def test_a_results_observation_is_the_simulators(sim):
    """Built on demand from the result's own joints and goal, it equals the adapter's observation."""
    loop = SimLoop(sim, SimNodeConfig(auto_reset=False))
    loop.command(TARGET)
    result = _run(loop, 3)
    np.testing.assert_array_equal(result.observation, sim.observation()[0])
    assert result.observation.dtype == np.float32
    assert loop.state().observation.shape == (loop.spec.obs_dim,)


def test_config_ranges():
    with pytest.raises(ValueError, match="control_rate_hz"):
        SimNodeConfig(control_rate_hz=-1.0)
    with pytest.raises(ValueError, match="obs_mode"):
        SimNodeConfig(obs_mode="depth")
    with pytest.raises(ValueError, match=r"env_id: unknown task 'Nope-v1'; known: \[.*'SO100Reach-v1'"):
        SimNodeConfig(env_id="Nope-v1")
    assert SimNodeConfig(env_id="fpo_sim.envs:SO100Reach-v1").env_id == "fpo_sim.envs:SO100Reach-v1"
