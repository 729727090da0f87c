"""``driver_node``: the real SO-100 on its Feetech bus, on the topic contract of :mod:`so100_common.topics`.

A thin node over :class:`so100_driver.core.driver.Driver`: it declares the parameters of
:class:`~so100_driver.core.driver.DriverConfig`, converts messages, and publishes.

**Why a dedicated bus thread, not a timer.** All serial I/O runs on one thread of its own
(:class:`~so100_driver.core.driver.DriverThread`), which owns the port and calls ``Driver.cycle``
at ``rate_hz``. A cycle normally takes about a millisecond, but a bring-up or reconnection
attempt reads and writes some eighty registers with patient timeouts, and a lost reply costs a
timeout: on an executor timer that would delay every other callback (parameter services, the
e-stop) by as much, and the executor's own jitter would set the bus rate. With the thread, the
executor never waits on the bus: subscription callbacks only hand the latest command or stop to
the driver (a lock held for microseconds), a timer publishes each new joint sample at
``publish_rate_hz``, and another publishes /diagnostics.

Topics: publishes ``joint_states`` (only while connected) and ``/diagnostics`` (always); takes
``joint_trajectory`` (one point of absolute positions; names in any order), ``commands`` (six
absolute positions, contract order) and ``estop`` (latched, True engages). Services:
``~/reset_estop`` (std_srvs/Trigger) and ``~/protective_stop`` (std_srvs/SetBool: true holds and
ignores commands, false releases).
"""

from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.time import Duration
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from so100_common import topics
from so100_common.core import joints
from so100_common.core.commands import CommandRejected
from so100_common.node_main import run_node
from so100_common.parameters import declare_config
from so100_driver.core.driver import Driver, DriverConfig, DriverState, DriverThread
from so100_driver.core.protocol import StatusError

_LEVEL = {
    DriverState.RUNNING: DiagnosticStatus.OK,
    DriverState.PROTECTIVE_STOP: DiagnosticStatus.WARN,
    DriverState.ESTOP: DiagnosticStatus.WARN,
    DriverState.DISCONNECTED: DiagnosticStatus.ERROR,
    DriverState.SHUT_DOWN: DiagnosticStatus.STALE,
}


class DriverNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("so100_driver", **kwargs)
        self.config = declare_config(self, DriverConfig)
        self.driver = Driver(self.config)
        self.bus_thread = DriverThread(self.driver).start()
        self._last_seq = 0
        self._last_cycles = (0, time.monotonic())
        self._published = 0

        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, topics.QOS_STATE)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, topics.QOS_STATUS)
        self.create_subscription(
            JointTrajectory, topics.JOINT_TRAJECTORY, self._on_trajectory, topics.QOS_COMMAND
        )
        self.create_subscription(Float64MultiArray, topics.COMMANDS, self._on_commands, topics.QOS_COMMAND)
        self.create_subscription(Bool, topics.ESTOP, self._on_estop, topics.QOS_LATCHED)
        self.create_service(Trigger, topics.RESET_ESTOP_SERVICE, self._on_reset_estop)
        self.create_service(SetBool, topics.PROTECTIVE_STOP_SERVICE, self._on_protective_stop)
        self.create_timer(1.0 / self.config.publish_rate_hz, self._publish_joint_state)
        self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics)
        where = f"fake hardware on {self.driver.fake.path}" if self.driver.fake else self.config.port
        self.get_logger().info(f"driving the SO-100 on {where}; shutdown mode: {self.config.shutdown_mode}")

    # Inputs: convert and hand over; nothing here waits for the bus.
    def _command(self, store, *args) -> None:
        try:
            store(*args)
        except CommandRejected as exc:
            self.get_logger().warning(f"command rejected ({exc.reason}): {exc}", throttle_duration_sec=1.0)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        self._command(self.driver.command_trajectory, list(msg.joint_names), msg.points)

    def _on_commands(self, msg: Float64MultiArray) -> None:
        self._command(self.driver.command_positions, msg.data)

    def _on_estop(self, msg: Bool) -> None:
        if msg.data and not self.driver.estop_latched:
            self.driver.engage_estop()
            self.get_logger().warning("e-stop engaged: torque off until ~/reset_estop")

    def _on_reset_estop(self, request, response):
        response.success, response.message = self.driver.reset_estop()
        return response

    def _on_protective_stop(self, request, response):
        response.success, response.message = self.driver.set_protective_stop(request.data)
        return response

    # Outputs.
    def _publish_joint_state(self) -> None:
        sample = self.driver.latest_sample()
        if sample is None or sample.seq == self._last_seq:
            return
        self._last_seq = sample.seq
        msg = JointState()
        age_s = max(0.0, time.monotonic() - sample.stamp)
        msg.header.stamp = (self.get_clock().now() - Duration(nanoseconds=int(age_s * 1e9))).to_msg()
        msg.name = list(joints.JOINT_NAMES)
        msg.position = sample.position_rad.tolist()
        msg.velocity = sample.velocity_rad_s.tolist()
        self.joint_pub.publish(msg)
        self._published += 1

    def _publish_diagnostics(self) -> None:
        status = self.driver.status()
        now = time.monotonic()
        cycles, since = self._last_cycles
        self._last_cycles = (status.cycles, now)
        bus = status.bus
        values = {
            "state": status.state.value,
            "port": self.driver.fake.path if self.driver.fake else self.config.port,
            "fake_hardware": str(self.config.fake_hardware),
            "command_fresh": str(status.command_fresh),
            "estop_latched": str(self.driver.estop_latched),
            "bus_rate_hz": f"{(status.cycles - cycles) / max(now - since, 1e-6):.1f}",
            "cycle_time_mean_ms": f"{status.cycle_time_mean_ms:.3f}",
            "cycle_time_max_ms": f"{status.cycle_time_max_ms:.3f}",
            "cycles": str(status.cycles),
            "failed_cycles": str(status.failed_cycles),
            "reconnects": str(status.reconnects),
            "packet_error_rate": f"{bus.packet_error_rate:.5f}",
            "missing_replies": str(bus.missing),
            "short_replies": str(bus.short),
            "corrupt_replies": str(bus.corrupt),
            "foreign_replies": str(bus.foreign),
            "stale_bytes": str(bus.stale_bytes),
            "joint_states_published": str(self._published),
            "commands_accepted": str(status.commands_accepted),
            **{f"commands_rejected_{r}": str(n) for r, n in sorted((status.commands_rejected or {}).items())},
        }
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status.append(self._status("so100_driver: bus", _LEVEL[status.state], status.message, values))
        if status.state != DriverState.DISCONNECTED:
            for name, servo_id in zip(joints.JOINT_NAMES, joints.SERVO_IDS):
                servo = status.servos.get(servo_id)
                if servo is None:
                    continue
                level = DiagnosticStatus.WARN if servo.error_bits else DiagnosticStatus.OK
                values = {
                    "servo_id": str(servo_id),
                    "temperature_c": str(servo.temperature_c),
                    "voltage_v": f"{servo.voltage_v:.1f}",
                    "load_percent": f"{servo.load_percent:.1f}",
                    "error_flags": StatusError.describe(servo.error_bits),
                }
                message = StatusError.describe(servo.error_bits)
                array.status.append(self._status(f"so100_driver: {name}", level, message, values))
        self.diag_pub.publish(array)

    def _status(self, name: str, level: int, message: str, values: dict[str, str]) -> DiagnosticStatus:
        return DiagnosticStatus(
            level=level,
            name=name,
            message=message,
            hardware_id=f"so100:{self.config.port}",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )

    def close(self) -> str:
        """Stop the bus thread and leave the arm as ``shutdown_mode`` says (blocking)."""
        self.bus_thread.stop()
        outcome = self.driver.shutdown()
        self.get_logger().info(f"shutdown ({self.config.shutdown_mode}): {outcome}")
        return outcome

    def destroy_node(self) -> None:
        if hasattr(self, "bus_thread"):  # not when the constructor failed before starting it
            self.close()
        super().destroy_node()


def main(args=None) -> None:
    run_node(DriverNode, args)


if __name__ == "__main__":
    main()
