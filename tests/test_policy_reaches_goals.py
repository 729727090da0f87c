"""The shipped reach policy reaches its goals in simulation through ROS: sim_node + policy_node over DDS.

Both nodes run as they would be launched (the shipped YAML, the task's 20 Hz); this process only
listens to ``task/state`` and counts the episodes in which the env reported success.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
pytest.importorskip("mani_skill", reason="ManiSkill3 is not installed")

from policy_node_testing import policy_node_args
from ros_testing import child_process, ros_node, spin_until

from fpo_msgs.msg import TaskState
from so100_driver import topics

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "src" / "fpo_sim" / "checkpoints" / "so100_reach_fpo.safetensors"
POLICY_YAML = ROOT / "src" / "fpo_policy" / "config" / "policy_node.yaml"
EPISODES = 5


def test_the_shipped_reach_policy_reaches_its_goals_through_ros():
    policy_args = policy_node_args(str(CHECKPOINT))
    policy_args[policy_args.index("--ros-args") + 1 : policy_args.index("--ros-args") + 1] = [
        "--params-file",
        str(POLICY_YAML),
    ]
    sim_args = ["-m", "fpo_sim.sim_node"]
    success: dict[int, bool] = {}
    with ros_node("reach_listener") as node, child_process(sim_args), child_process(policy_args):

        def on_state(msg: TaskState) -> None:
            success[msg.episode] = success.get(msg.episode, False) or msg.success

        node.create_subscription(TaskState, topics.TASK_STATE, on_state, topics.QOS_LATCHED)
        # The first episode seen may have started before the policy acted: count the ones after it.
        assert spin_until(node, lambda: len(success) >= EPISODES + 2, 180.0), success
    first = min(success)
    full = [success[e] for e in sorted(success) if first < e <= first + EPISODES]
    assert len(full) == EPISODES
    assert sum(full) >= EPISODES - 1, success
