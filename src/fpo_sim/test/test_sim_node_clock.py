"""sim_node with publish_clock in its own process; this process plays the consumer over DDS."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_testing import child_process, ros_node, spin_until

from fpo_sim.maniskill_adapter import simulator_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.ros]
pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
if simulator_unavailable():
    pytest.skip(simulator_unavailable(), allow_module_level=True)

from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: E402

from fpo_msgs.msg import TaskState  # noqa: E402
from so100_common import topics  # noqa: E402
from so100_common.core.joints import JOINT_NAMES  # noqa: E402

RATE_HZ = 25.0
PERIOD_NS = 40_000_000
TIMEOUT_S = 0.3
TARGET = np.array([0.4, -1.0, 1.2, 0.5, 0.3, -0.5])
DEEP = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class Consumer:
    """Stores what the sim publishes (with the wall time it arrived) and answers states on request."""

    def __init__(self, node):
        self.node = node
        self.states: list[tuple[float, int, np.ndarray]] = []
        self.tasks: list[int] = []
        self.clocks: list[int] = []
        self.diagnostics: dict[str, str] = {}
        node.create_subscription(JointState, topics.JOINT_STATES, self._on_state, DEEP)
        node.create_subscription(
            TaskState, topics.TASK_STATE, lambda m: self.tasks.append(_ns(m.header.stamp)), DEEP
        )
        node.create_subscription(
            Clock, topics.CLOCK, lambda m: self.clocks.append(_ns(m.clock)), topics.QOS_CLOCK
        )
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, topics.QOS_STATUS)
        self.trajectory = node.create_publisher(JointTrajectory, topics.JOINT_TRAJECTORY, topics.QOS_COMMAND)
        self.reset = node.create_client(Trigger, "/sim_node/reset")

    def _on_state(self, msg):
        self.states.append((time.monotonic(), _ns(msg.header.stamp), np.array(msg.position)))

    def _on_diag(self, msg):
        for status in msg.status:
            if "sim_node" in status.name:
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def counter(self, key) -> int:
        return int(float(self.diagnostics.get(key, "-1")))

    def answer(self, stamp_ns: int, positions) -> None:
        msg = JointTrajectory()
        msg.header.stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        msg.joint_names = list(JOINT_NAMES)
        msg.points = [JointTrajectoryPoint(positions=[float(x) for x in positions])]
        self.trajectory.publish(msg)

    def answer_each_state(self, positions, steps: int) -> None:
        """Answer the newest state, ``steps`` times, each as soon as it arrives."""
        for _ in range(steps):
            n = len(self.states)
            self.answer(self.states[-1][1], positions)
            assert spin_until(self.node, lambda n=n: len(self.states) > n, 10.0)


@pytest.fixture(scope="module")
def consumer():
    args = ["-m", "fpo_sim.sim_node", "--ros-args", "-p", "publish_clock:=true"]
    args += ["-p", f"control_rate_hz:={RATE_HZ}", "-p", f"lockstep_timeout_s:={TIMEOUT_S}"]
    with child_process(args) as proc, ros_node("sim_clock_consumer") as node:
        c = Consumer(node)
        if not spin_until(node, lambda: len(c.states) >= 3 and c.tasks and c.diagnostics, timeout_s=90):
            proc.terminate()
            pytest.fail(f"sim_node published nothing:\n{proc.stdout.read()}")
        assert spin_until(node, lambda: c.trajectory.get_subscription_count() > 0)
        yield c


def test_unanswered_states_wait_the_timeout_and_time_advances_one_period_per_step(consumer):
    n = len(consumer.states)
    timeouts = consumer.counter("lockstep_timeouts")
    assert spin_until(consumer.node, lambda: len(consumer.states) >= n + 4, 10.0)
    window = consumer.states[n - 1 :]
    stamps = np.array([s for _, s, _ in window])
    assert np.all(np.diff(stamps) == PERIOD_NS)  # simulated time: one control period per step
    gaps = np.diff([w for w, _, _ in window])
    assert np.all(gaps > 0.5 * TIMEOUT_S)  # each state waited for its answer (wall time)
    assert spin_until(consumer.node, lambda: consumer.counter("lockstep_timeouts") >= timeouts + 3, 10.0)
    assert set(consumer.clocks) <= {s for _, s, _ in consumer.states}
    # task/state goes out with each state, stamped alike (from the first one this process heard)
    stamped = {int(s) for s in stamps if s > consumer.tasks[0]}
    assert spin_until(consumer.node, lambda: set(consumer.tasks) >= stamped, 5.0), (consumer.tasks, stamped)


def test_answered_states_step_at_once_and_the_command_moves_the_arm(consumer):
    answered = consumer.counter("lockstep_answered")
    start = time.monotonic()
    consumer.answer_each_state(TARGET, 60)
    took = time.monotonic() - start
    assert took < 60 * TIMEOUT_S / 3  # no state waited for the timeout
    assert np.abs(consumer.states[-1][2] - TARGET).max() < 0.05, consumer.states[-1][2]
    stamps = np.array([s for _, s, _ in consumer.states[-61:]])
    assert np.all(np.diff(stamps) == PERIOD_NS)
    assert spin_until(consumer.node, lambda: consumer.counter("lockstep_answered") >= answered + 60, 10.0)


def test_an_answer_to_an_earlier_state_is_late_and_not_applied(consumer):
    late = consumer.counter("lockstep_late_commands")
    held = consumer.states[-1][2]
    consumer.answer(consumer.states[-1][1] - PERIOD_NS, -TARGET * 0.5)
    assert spin_until(consumer.node, lambda: consumer.counter("lockstep_late_commands") == late + 1, 10.0)
    n = len(consumer.states)
    assert spin_until(consumer.node, lambda: len(consumer.states) >= n + 3, 10.0)
    np.testing.assert_allclose(consumer.states[-1][2], held, atol=0.02)


def test_a_reset_moves_time_on_so_no_earlier_answer_pairs_with_the_new_episode(consumer):
    before = consumer.states[-1][1]
    assert consumer.reset.wait_for_service(timeout_sec=20)
    future = consumer.reset.call_async(Trigger.Request())
    assert spin_until(consumer.node, future.done)
    assert spin_until(consumer.node, lambda: consumer.states[-1][1] > before, 10.0)
    stamps = [s for _, s, _ in consumer.states]
    assert all(s % PERIOD_NS == 0 for s in stamps)
    assert len(stamps) == len(set(stamps))  # the new episode's first state has a stamp of its own
