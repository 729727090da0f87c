"""Driving a policy_node child process over DDS: an arm's joint states and task goal in, its commands out."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_testing import child_process, ros_node, spin_until
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from fpo_msgs.msg import PolicyStatus, TaskState
from so100_common import topics
from so100_common.core.joints import JOINT_NAMES

HOME = (0.0, -0.5, 0.5, 0.3, 0.0, 0.0)
REACH_GOAL = (0.1, -0.2, 0.15)
ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CHECKPOINT = ROOT / "src" / "fpo_policy" / "checkpoints" / "so100_reach_fpo.safetensors"
SHIPPED_PICK_CHECKPOINT = ROOT / "src" / "fpo_policy" / "checkpoints" / "so100_pick_fpo.safetensors"
POLICY_YAML = ROOT / "src" / "fpo_policy" / "config" / "policy_node.yaml"


def policy_node_args(checkpoint: str, *params: str, name: str = "policy_node") -> list[str]:
    """``python`` arguments that start the policy node with ``checkpoint`` and ``-p`` overrides."""
    args = [
        "-m",
        "fpo_policy.policy_node",
        "--ros-args",
        "-r",
        f"__node:={name}",
        "-p",
        f"checkpoint:={checkpoint}",
    ]
    for p in params:
        args += ["-p", p]
    return args


def deployed_policy_args(*params: str, checkpoint: Path = SHIPPED_CHECKPOINT) -> list[str]:
    """:func:`policy_node_args` for a shipped checkpoint (reach by default) with the shipped policy
    YAML, as the bringups start it."""
    args = policy_node_args(str(checkpoint), *params)
    at = args.index("--ros-args") + 1
    args[at:at] = ["--params-file", str(POLICY_YAML)]
    return args


@dataclass
class Arm:
    """The test side of the wire: joint states (while ``publishing``) and a goal in; output recorded."""

    node: object
    position: np.ndarray = field(default_factory=lambda: np.array(HOME))
    publishing: bool = True
    commands: list[tuple[float, np.ndarray]] = field(default_factory=list)
    trajectories: list[tuple[float, np.ndarray]] = field(default_factory=list)
    statuses: list = field(default_factory=list)
    diagnostics: list[dict[str, str]] = field(default_factory=list)
    """Key-values of the policy node's /diagnostics statuses, as received."""

    def __post_init__(self) -> None:
        self._names = list(JOINT_NAMES)
        self._joint_pub = self.node.create_publisher(JointState, topics.JOINT_STATES, topics.QOS_STATE)
        self.task_pub = self.node.create_publisher(TaskState, topics.TASK_STATE, topics.QOS_LATCHED)
        self.estop_pub = self.node.create_publisher(Bool, topics.ESTOP, topics.QOS_LATCHED)
        self.node.create_subscription(
            Float64MultiArray,
            topics.COMMANDS,
            lambda m: self.commands.append((time.monotonic(), np.array(m.data))),
            topics.QOS_COMMAND,
        )
        self.node.create_subscription(
            JointTrajectory,
            topics.JOINT_TRAJECTORY,
            lambda m: self.trajectories.append((time.monotonic(), np.array(m.points[0].positions))),
            topics.QOS_COMMAND,
        )
        self.node.create_subscription(
            PolicyStatus, topics.POLICY_STATUS, self.statuses.append, topics.QOS_STATUS
        )
        self.node.create_subscription(
            DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, topics.QOS_STATUS
        )
        self.node.create_timer(0.01, self._publish_joint_state)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith("policy_node: policy"):
                self.diagnostics.append(
                    {"message": status.message, **{kv.key: kv.value for kv in status.values}}
                )

    def _publish_joint_state(self) -> None:
        if self.publishing:
            msg = JointState(name=self._names, position=[float(x) for x in self.position])
            msg.header.stamp = self.node.get_clock().now().to_msg()
            self._joint_pub.publish(msg)

    def publish_goal(self, goal=REACH_GOAL, env_id: str = "SO100Reach-v1") -> None:
        self.task_pub.publish(TaskState(env_id=env_id, goal=[float(x) for x in goal]))

    def spin_until(self, predicate, timeout_s: float = 30.0) -> bool:
        return spin_until(self.node, predicate, timeout_s)

    def status_where(self, predicate, timeout_s: float = 30.0):
        """The first status received from now on that satisfies ``predicate``; None on timeout."""
        start = len(self.statuses)

        def hit():
            return next((s for s in self.statuses[start:] if predicate(s)), None)

        return hit() if self.spin_until(lambda: hit() is not None, timeout_s) else None

    def commands_after(self, t: float) -> list[np.ndarray]:
        return [c for ts, c in self.commands if ts > t]

    def call(self, srv_type, name: str, request=None, timeout_s: float = 20.0):
        client = self.node.create_client(srv_type, name)
        assert self.spin_until(client.service_is_ready, timeout_s), f"service {name} not available"
        future = client.call_async(request or srv_type.Request())
        assert self.spin_until(future.done, timeout_s), f"service {name} did not answer"
        return future.result()

    def set_parameters(self, remote: str, **values) -> None:
        client = AsyncParameterClient(self.node, remote)
        assert self.spin_until(lambda: client.services_are_ready(), 20.0)
        future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
        assert self.spin_until(future.done, 20.0)
        results = future.result().results
        assert all(r.successful for r in results), [r.reason for r in results]


@contextmanager
def policy_node_and_arm(args: Sequence[str], test_name: str = "policy_node_test") -> Iterator[Arm]:
    """A policy node child process (``python args``) and an :class:`Arm` talking to it."""
    with ros_node(test_name) as node, child_process(list(args)):
        yield Arm(node)
