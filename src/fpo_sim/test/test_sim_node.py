"""sim_node in its own process, observed and commanded over DDS from this one."""

from __future__ import annotations

import numpy as np
import pytest
from ros_testing import child_process, ros_node, spin_until

from fpo_sim.maniskill_adapter import simulator_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.ros]
pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
if simulator_unavailable():
    pytest.skip(simulator_unavailable(), allow_module_level=True)

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Bool, Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: E402

from fpo_msgs.msg import TaskState  # noqa: E402
from so100_common import topics  # noqa: E402
from so100_common.core.joints import JOINT_NAMES, lower_limits, upper_limits  # noqa: E402

RATE_HZ = 25.0
TARGET = np.array([0.4, -1.0, 1.2, 0.5, 0.3, -0.5])


class Probe:
    """The test's side: subscriptions that store, publishers, service clients."""

    def __init__(self, node):
        self.node = node
        self.states: list[JointState] = []
        self.tasks: list[TaskState] = []
        self.diagnostics: dict[str, str] = {}
        node.create_subscription(JointState, topics.JOINT_STATES, self.states.append, topics.QOS_STATE)
        node.create_subscription(TaskState, topics.TASK_STATE, self.tasks.append, topics.QOS_LATCHED)
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, topics.QOS_STATUS)
        self.commands = node.create_publisher(Float64MultiArray, topics.COMMANDS, topics.QOS_COMMAND)
        self.trajectory = node.create_publisher(JointTrajectory, topics.JOINT_TRAJECTORY, topics.QOS_COMMAND)
        self.estop = node.create_publisher(Bool, topics.ESTOP, topics.QOS_LATCHED)
        self.reset = node.create_client(Trigger, "/sim_node/reset")
        self.reset_estop = node.create_client(Trigger, "/sim_node/reset_estop")

    def _on_diag(self, msg):
        for status in msg.status:
            if "sim_node" in status.name:
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def position(self) -> np.ndarray:
        return np.array(self.states[-1].position)

    def wait_position(self, predicate, timeout_s=20.0) -> bool:
        return spin_until(self.node, lambda: bool(self.states) and predicate(self.position()), timeout_s)

    def settle(self, ticks=10) -> np.ndarray:
        """Positions after ``ticks`` more joint_states."""
        n = len(self.states)
        assert spin_until(self.node, lambda: len(self.states) >= n + ticks)
        return self.position()

    def call(self, client) -> Trigger.Response:
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(Trigger.Request())
        assert spin_until(self.node, future.done)
        return future.result()

    def diag(self, key) -> int:
        return int(self.diagnostics.get(key, "-1"))

    def wait_diag(self, key, value) -> bool:
        return spin_until(self.node, lambda: self.diag(key) == value, timeout_s=30)

    def send(self, publisher, msg) -> None:
        assert spin_until(self.node, lambda: publisher.get_subscription_count() > 0)
        publisher.publish(msg)


@pytest.fixture(scope="module")
def probe():
    args = ["-m", "fpo_sim.sim_node", "--ros-args", "-p", f"control_rate_hz:={RATE_HZ}"]
    with child_process(args) as proc, ros_node("sim_node_probe") as node:
        p = Probe(node)
        if not spin_until(node, lambda: len(p.states) >= 5 and p.diagnostics, timeout_s=60):
            proc.terminate()
            pytest.fail(f"sim_node published nothing:\n{proc.stdout.read()}")
        yield p


def _trajectory(names, positions) -> JointTrajectory:
    msg = JointTrajectory()
    msg.joint_names = list(names)
    msg.points = [JointTrajectoryPoint(positions=[float(x) for x in positions])]
    return msg


@pytest.mark.parametrize(
    ("parameter", "message"),
    [("env_id:=Nope-v1", "unknown task 'Nope-v1'"), ("obs_mode:=depth", "obs_mode must be one of")],
)
def test_a_bad_parameter_is_one_line_and_exit_code_2(parameter, message):
    with child_process(["-m", "fpo_sim.sim_node", "--ros-args", "-p", parameter]) as proc:
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("sim_node: "), output
    assert message in lines[0], output


def test_joint_states_at_the_set_rate_with_contract_names_and_units(probe):
    n = len(probe.states)
    assert spin_until(probe.node, lambda: len(probe.states) >= n + 50)
    window = probe.states[n:]
    stamps = np.array([m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in window])
    assert np.mean(np.diff(stamps)) == pytest.approx(1 / RATE_HZ, rel=0.15)
    for msg in window:
        assert tuple(msg.name) == JOINT_NAMES
        assert len(msg.velocity) == 6
    positions = np.array([m.position for m in window])
    # rad: within the URDF limits (in degrees many values would lie far outside them).
    assert np.all(positions >= lower_limits() - 0.05)
    assert np.all(positions <= upper_limits() + 0.05)
    assert probe.tasks
    assert probe.tasks[-1].env_id == "SO100Reach-v1"
    assert len(probe.tasks[-1].goal) == 3
    assert probe.tasks[-1].header.frame_id == "Base"


def test_commands_move_the_arm_to_the_target(probe):
    probe.call(probe.reset)
    start = probe.settle()
    assert np.abs(start - TARGET).max() > 0.3
    probe.send(probe.commands, Float64MultiArray(data=TARGET.tolist()))
    assert probe.wait_position(lambda q: np.abs(q - TARGET).max() < 0.05), probe.position()
    # A one-point trajectory, joints in another order, moves it back.
    back = start[::-1]
    probe.send(probe.trajectory, _trajectory(JOINT_NAMES[::-1], back))
    assert probe.wait_position(lambda q: np.abs(q - start).max() < 0.05), probe.position()


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (Float64MultiArray(data=TARGET[:5].tolist()), "wrong_length"),
        (Float64MultiArray(data=[*TARGET[:5].tolist(), float("nan")]), "non_finite"),
        (Float64MultiArray(data=[*TARGET[:5].tolist(), 3.0]), "out_of_limits"),
        (_trajectory([*JOINT_NAMES[:5], "jaw"], TARGET), "wrong_names"),
        (_trajectory(JOINT_NAMES, [*TARGET[:5], float("inf")]), "non_finite"),
    ],
)
def test_invalid_commands_are_rejected_counted_and_do_not_move_the_arm(probe, msg, reason):
    probe.call(probe.reset)
    before_count = probe.diag(f"rejected_{reason}")
    before = probe.settle()
    publisher = probe.trajectory if isinstance(msg, JointTrajectory) else probe.commands
    probe.send(publisher, msg)
    assert probe.wait_diag(f"rejected_{reason}", before_count + 1), probe.diagnostics
    after = probe.settle(20)
    np.testing.assert_allclose(after, before, atol=0.02)


def test_estop_blocks_commands_until_reset(probe):
    probe.call(probe.reset)
    start = probe.settle()
    probe.send(probe.estop, Bool(data=True))
    assert spin_until(probe.node, lambda: probe.diagnostics.get("estop_latched") == "True", timeout_s=10)
    blocked = probe.diag("rejected_estop")
    probe.send(probe.commands, Float64MultiArray(data=TARGET.tolist()))
    assert probe.wait_diag("rejected_estop", blocked + 1)
    np.testing.assert_allclose(probe.settle(20), start, atol=0.02)
    # False on the topic does not clear the latch.
    probe.send(probe.estop, Bool(data=False))
    probe.send(probe.commands, Float64MultiArray(data=TARGET.tolist()))
    assert probe.wait_diag("rejected_estop", blocked + 2)
    np.testing.assert_allclose(probe.settle(10), start, atol=0.02)
    response = probe.call(probe.reset_estop)
    assert response.success, response.message
    probe.send(probe.commands, Float64MultiArray(data=TARGET.tolist()))
    assert probe.wait_position(lambda q: np.abs(q - TARGET).max() < 0.05), probe.position()
