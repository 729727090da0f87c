"""Closed loop over DDS: sim_node + policy_node as two processes, this process only listens.

Both nodes run as they would be launched (the shipped policy YAML, the task's 20 Hz) with a
shipped checkpoint (reach, then pick): commands arrive at the configured rate, the filter never
has to reject a policy output, and the policy succeeds in simulation through ROS.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
pytest.importorskip("mani_skill", reason="ManiSkill3 is not installed")

from policy_node_testing import SHIPPED_CHECKPOINT, SHIPPED_PICK_CHECKPOINT, deployed_policy_args
from ros_testing import child_process, ros_node, spin_until
from trajectory_msgs.msg import JointTrajectory

from fpo_msgs.msg import PolicyStatus, TaskState
from so100_common import topics

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RATE_HZ = 20.0  # the tasks' control rate, which both nodes take from the task by default

# task id, shipped checkpoint, episodes counted, fewest successes among them
CASES = {
    "reach": ("SO100Reach-v1", SHIPPED_CHECKPOINT, 5, 4),
    "pick": ("SO100PickLift-v1", SHIPPED_PICK_CHECKPOINT, 4, 1),
}


@pytest.mark.parametrize("task", CASES)
def test_a_shipped_policy_succeeds_in_simulation_through_ros(task):
    env_id, checkpoint, episodes, fewest = CASES[task]
    policy_args = deployed_policy_args("status_rate_hz:=2.0", checkpoint=checkpoint)
    success: dict[int, bool] = {}
    commands: list[float] = []
    statuses: list[PolicyStatus] = []
    with (
        ros_node("closed_loop_listener") as node,
        child_process(["-m", "fpo_sim.sim_node", "--ros-args", "-p", f"env_id:={env_id}"]),
        child_process(policy_args),
    ):

        def on_state(msg: TaskState) -> None:
            success[msg.episode] = success.get(msg.episode, False) or msg.success

        node.create_subscription(TaskState, topics.TASK_STATE, on_state, topics.QOS_LATCHED)
        node.create_subscription(
            JointTrajectory,
            topics.JOINT_TRAJECTORY,
            lambda m: commands.append(time.monotonic()),
            topics.QOS_COMMAND,
        )
        node.create_subscription(PolicyStatus, topics.POLICY_STATUS, statuses.append, topics.QOS_STATUS)
        # The first episode seen may have started before the policy acted: count the ones after it.
        assert spin_until(node, lambda: len(success) >= episodes + 2, 180.0), success

    times = np.array(commands[len(commands) // 4 :])  # after start-up
    assert (len(times) - 1) / (times[-1] - times[0]) == pytest.approx(RATE_HZ, rel=0.15)
    status = statuses[-1]
    assert status.safety_state == PolicyStatus.SAFETY_ACTIVE
    assert status.control_rate_hz == pytest.approx(RATE_HZ)
    # (stale holds may occur: an episode reset or a loaded machine can pause joint states > 0.25 s)
    assert status.rejected_shape == status.rejected_nonfinite == 0
    assert status.policy_version > 0
    assert len(status.checkpoint_sha256) == 64

    first = min(success)
    full = [success[e] for e in sorted(success) if first < e <= first + episodes]
    assert len(full) == episodes
    assert sum(full) >= fewest, success
