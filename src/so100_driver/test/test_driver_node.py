"""driver_node with fake hardware, in its own process, over real rclpy and DDS."""

import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from ros_testing import child_process, ros_node, spin_until

from so100_common.core.joints import JOINT_NAMES
from so100_driver.core.driver import DriverConfig

pytestmark = pytest.mark.ros

LEROBOT_FILE = str(Path(__file__).parent / "data" / "lerobot_so100_follower.json")
CONFIG_YAML = Path(__file__).parents[1] / "config" / "so100_driver.yaml"
POSE = [0.5, -0.8, 0.9, 0.3, -1.0, 0.2]


def node_args(*params: str) -> list[str]:
    args = ["-m", "so100_driver.driver_node", "--ros-args", "-p", "fake_hardware:=true"]
    args += ["-p", f"calibration_file:={LEROBOT_FILE}"]
    for p in params:
        args += ["-p", p]
    return args


def test_the_yaml_holds_valid_driver_parameters():
    params = yaml.safe_load(CONFIG_YAML.read_text())["/**"]["ros__parameters"]
    DriverConfig(**params)


@pytest.mark.slow
def test_joint_states_commands_diagnostics_estop_and_clean_exit():
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64MultiArray
    from std_srvs.srv import SetBool, Trigger

    from so100_common import topics

    with ros_node("driver_node_test") as node, child_process(node_args()) as proc:
        states, diagnostics = [], []
        node.create_subscription(
            JointState, topics.JOINT_STATES, lambda m: states.append((time.monotonic(), m)), topics.QOS_STATE
        )
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, diagnostics.append, topics.QOS_STATUS)
        commands = node.create_publisher(Float64MultiArray, topics.COMMANDS, topics.QOS_COMMAND)
        estop = node.create_publisher(Bool, topics.ESTOP, topics.QOS_LATCHED)

        assert spin_until(node, lambda: len(states) >= 10, 60.0), "no joint_states from driver_node"
        msg = states[-1][1]
        assert tuple(msg.name) == JOINT_NAMES
        assert len(msg.position) == len(msg.velocity) == 6
        # The emulated arm starts at the rest pose (gripper and the clamped joints at their limits).
        np.testing.assert_allclose(msg.position, [0.0, -1.5708, 1.5708, 0.66, 0.0, -1.1], atol=0.01)

        # Rate: configured 100 Hz; well above 50 Hz even on a busy machine.
        start, n = time.monotonic(), len(states)
        spin_until(node, lambda: time.monotonic() - start > 1.0, 2.0)
        assert (len(states) - n) / (time.monotonic() - start) > 50

        # A command moves the emulated arm (streamed, as a controller would).
        def reached():
            commands.publish(Float64MultiArray(data=POSE))
            return np.allclose(states[-1][1].position, POSE, atol=0.01)

        assert spin_until(node, reached, 20.0), states[-1][1].position

        def bus_status():
            for array in reversed(diagnostics):
                for status in array.status:
                    if status.name == "so100_driver: bus":
                        return status, {kv.key: kv.value for kv in status.values}
            return None, {}

        assert spin_until(node, lambda: bus_status()[0] is not None, 10.0)
        _, values = bus_status()
        assert values["state"] == "running"
        assert float(values["bus_rate_hz"]) > 0
        assert {"packet_error_rate", "corrupt_replies", "missing_replies"} <= set(values)
        joint_names = {s.name for a in diagnostics for s in a.status}
        assert "so100_driver: gripper" in joint_names

        # E-stop: latched over the topic, visible in diagnostics, cleared only by the service.
        estop.publish(Bool(data=True))
        assert spin_until(node, lambda: bus_status()[1].get("state") == "estop", 10.0)
        estop.publish(Bool(data=False))
        diagnostics.clear()
        assert spin_until(node, lambda: bus_status()[1].get("state") == "estop", 10.0)
        reset = node.create_client(Trigger, "/so100_driver/reset_estop")
        assert spin_until(node, reset.service_is_ready, 10.0)
        future = reset.call_async(Trigger.Request())
        assert spin_until(node, future.done, 10.0)
        assert future.result().success
        diagnostics.clear()
        assert spin_until(node, lambda: bus_status()[1].get("state") in ("running",), 10.0)

        protective = node.create_client(SetBool, "/so100_driver/protective_stop")
        assert spin_until(node, protective.service_is_ready, 10.0)
        future = protective.call_async(SetBool.Request(data=True))
        assert spin_until(node, future.done, 10.0)
        diagnostics.clear()
        assert spin_until(node, lambda: bus_status()[1].get("state") == "protective_stop", 10.0)

        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
        assert "shutdown (hold): holding the present pose with torque on" in output


def test_bad_calibration_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{")
    with child_process(node_args(f"calibration_file:={bad}")) as proc:
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "broken.json" in output
    assert "not valid JSON" in output


@pytest.mark.slow
def test_no_arm_then_plugged_then_unplugged(tmp_path):
    """Disconnected: diagnostics only. Plugged in: joint states within ~1 s. Unplugged: they stop again."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from sensor_msgs.msg import JointState

    from so100_common import topics
    from so100_common.core.joints import REST_POSE_RAD
    from so100_driver.core.calibration import load_calibration
    from so100_driver.core.driver import _make_fake_bus
    from so100_driver.core.emulator import PtyServer

    link = str(tmp_path / "so100")
    args = [
        "-m",
        "so100_driver.driver_node",
        "--ros-args",
        "-p",
        f"port:={link}",
        "-p",
        "diagnostics_period_s:=0.2",
    ]
    with ros_node("driver_node_replug_test") as node, child_process(args):
        states, bus = [], []

        def on_diagnostics(array):
            bus.extend(s for s in array.status if s.name == "so100_driver: bus")

        node.create_subscription(JointState, topics.JOINT_STATES, states.append, topics.QOS_STATE)
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diagnostics, topics.QOS_STATUS)
        assert spin_until(node, lambda: len(bus) >= 3, 60.0)
        assert bus[-1].level == DiagnosticStatus.ERROR
        assert "cannot open" in bus[-1].message
        assert states == []

        emulator = _make_fake_bus(load_calibration(), REST_POSE_RAD, 1_000_000)
        server = PtyServer(emulator, link_path=link).start()
        try:
            assert spin_until(node, lambda: len(states) >= 20, 10.0), bus[-1].message
            assert all(s.torque_on() for s in emulator.servos.values())
        finally:
            server.stop()
        bus.clear()
        assert spin_until(node, lambda: bus and bus[-1].level == DiagnosticStatus.ERROR, 10.0)
        n = len(states)
        assert spin_until(node, lambda: len(bus) >= 4, 10.0)  # a second of diagnostics...
        assert len(states) <= n + 1  # ...and no joint states (one may have been in flight)
