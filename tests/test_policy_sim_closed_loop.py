"""sim_node + policy_node in two processes, closing the loop over DDS; this process only listens."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
pytest.importorskip("mani_skill", reason="ManiSkill3 is not installed")

from policy_checkpoints import write_policy
from policy_node_testing import policy_node_args
from ros_testing import child_process, ros_node, spin_until
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from fpo_msgs.msg import PolicyStatus
from fpo_policy.core.safety import SafetyConfig
from so100_driver import topics
from so100_driver.core.joints import reorder

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RATE_HZ = 20.0  # the reach task's rate: what the policy was trained at


def test_commands_arrive_at_the_configured_rate_and_move_the_simulated_arm(tmp_path):
    checkpoint = write_policy(tmp_path / "reach.safetensors", output_scale=3.0)
    # One episode only: without resets the arm moves only as commanded.
    sim_args = [
        "-m",
        "fpo_sim.sim_node",
        "--ros-args",
        "-p",
        f"control_rate_hz:={RATE_HZ}",
        "-p",
        "auto_reset:=false",
    ]
    policy_args = policy_node_args(str(checkpoint), f"control_rate_hz:={RATE_HZ}", "status_rate_hz:=5.0")
    commands: list[tuple[float, np.ndarray]] = []
    states: list[np.ndarray] = []
    statuses: list[PolicyStatus] = []
    with ros_node("closed_loop_listener") as node, child_process(sim_args), child_process(policy_args):
        node.create_subscription(
            JointTrajectory,
            topics.JOINT_TRAJECTORY,
            lambda m: commands.append((time.monotonic(), np.array(m.points[0].positions))),
            topics.QOS_COMMAND,
        )
        node.create_subscription(
            JointState,
            topics.JOINT_STATES,
            lambda m: states.append(reorder(m.name, m.position)),
            topics.QOS_STATE,
        )
        node.create_subscription(PolicyStatus, topics.POLICY_STATUS, statuses.append, topics.QOS_STATUS)
        # ManiSkill takes seconds to build its scene; the policy acts once joint states and a goal arrive.
        assert spin_until(
            node, lambda: any(s.safety_state == PolicyStatus.SAFETY_ACTIVE for s in statuses), 120.0
        ), [s.safety_state_text for s in statuses[-3:]]
        start = time.monotonic()
        first_state = states[-1]
        assert spin_until(node, lambda: time.monotonic() - start > 3.0, 10.0)

    times = np.array([t for t, _ in commands if t > start])
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate == pytest.approx(RATE_HZ, rel=0.15)
    status = statuses[-1]
    assert status.safety_state == PolicyStatus.SAFETY_ACTIVE
    assert status.stale_holds == status.rejected_shape == status.rejected_nonfinite == 0
    # The arm follows the (untrained) policy's commands: it moved, and consecutive commands (each
    # within one filter step of the arm's measured pose) never differ by more than two steps.
    assert np.max(np.abs(states[-1] - first_state)) > 0.05
    steps = np.diff(np.array([c for _, c in commands]), axis=0)
    assert np.all(np.abs(steps) <= 2 * SafetyConfig().step_rad + 1e-9)
