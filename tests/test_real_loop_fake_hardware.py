"""The real-arm bringup with fake_hardware: driver_node on the emulated STS3215 bus + policy_node with
the shipped reach checkpoint, started exactly as `fpo-bringup real --fake-hardware` starts them (the
declarations behind real.launch.py). This process plays the task: it publishes a reach goal on
task/state and watches joint_states. The same policy that reaches goals in simulation drives the
emulated servos through the calibration, the bus protocol and the safety filter to the goal.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
pytest.importorskip("ament_index_python")

from ros_testing import ros_node, spin_until
from sensor_msgs.msg import JointState

from fpo_msgs.msg import TaskState
from fpo_policy.bringup import BringupArgs, real_loop
from fpo_policy.bringup_runner import start_processes, stop_processes
from so100_common import topics
from so100_common.core.joints import REST_POSE_RAD, reorder
from so100_common.core.kinematics import tcp_position

pytestmark = [pytest.mark.ros, pytest.mark.slow]

# A goal the reach task could sample: the TCP of a pose near the rest pose (about 0.1 m from the
# rest TCP), so the policy is asked for what it was trained on.
GOAL_POSE = np.array(REST_POSE_RAD) + np.array([-0.6, 0.7, -0.5, 0.2, 0.0, 0.0])
GOAL = tcp_position(GOAL_POSE)


def test_the_shipped_policy_drives_the_emulated_arm_to_a_goal(tmp_path):
    start_distance = float(np.linalg.norm(tcp_position(np.array(REST_POSE_RAD)) - GOAL))
    assert start_distance > 0.08
    positions: list[np.ndarray] = []
    procs = start_processes(real_loop(BringupArgs(fake_hardware=True)), "", tmp_path)
    try:
        with ros_node("real_loop_task") as node:
            node.create_subscription(
                JointState,
                topics.JOINT_STATES,
                lambda m: positions.append(reorder(list(m.name), list(m.position))),
                topics.QOS_STATE,
            )
            task = node.create_publisher(TaskState, topics.TASK_STATE, topics.QOS_LATCHED)
            state = TaskState(env_id="SO100Reach-v1", goal=[float(x) for x in GOAL])
            state.header.frame_id = "Base"

            def distance() -> float:
                return float(np.linalg.norm(tcp_position(positions[-1]) - GOAL)) if positions else np.inf

            def reached() -> bool:
                state.header.stamp = node.get_clock().now().to_msg()
                task.publish(state)
                return distance() < 0.03

            assert spin_until(node, lambda: len(positions) > 10, 60.0), "no joint_states from the driver"
            assert np.allclose(positions[0], REST_POSE_RAD, atol=0.05), positions[0]
            assert spin_until(node, reached, 60.0), f"closest {distance():.3f} m of {start_distance:.3f} m"
    finally:
        stop_processes(procs)
    for p in procs:
        assert p.returncode == 0, f"{p.args[0]} exited with {p.returncode}; logs in {tmp_path}"
