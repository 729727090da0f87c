"""policy_node: a flow policy acting on the arm at a fixed rate, behind the safety filter.

Thin: callbacks store the newest joint state, task goal, e-stop and policy announcement; a
fixed-rate timer runs one :class:`fpo_policy.core.control_loop.ControlLoop` tick and publishes the
filtered command; a second timer publishes ``policy_status`` and ``/diagnostics``. Checkpoints
are (re)loaded in a background thread and swapped in between ticks.

Topics (names and QoS: :mod:`so100_common.topics`):
  subscribes ``joint_states`` (sensor_msgs/JointState), ``task/state`` (fpo_msgs/TaskState),
  ``estop`` (std_msgs/Bool, latched), ``policy_update`` (fpo_msgs/PolicyUpdate);
  publishes ``joint_trajectory`` (trajectory_msgs/JointTrajectory) and/or ``commands``
  (std_msgs/Float64MultiArray), ``policy_status`` (fpo_msgs/PolicyStatus), ``/diagnostics``;
  with ``publish_actions`` (acting for training) also ``policy/action`` (fpo_msgs/PolicyAction).

Acting for training (``publish_actions:=true``, with a lockstep sim node, see
:mod:`fpo_sim.core.lockstep`): a tick acts only when a joint state has arrived that it has not
acted on and the task/state with the same stamp has arrived too; the command and the PolicyAction
(the observation and the unsquashed sample behind the command) both carry that joint state's
stamp. Ticks without such a state do nothing, so the timer runs fast (``control_rate_hz``).
Services: ``~/reset_estop`` and ``~/reload`` (std_srvs/Trigger).
Parameters: the fields of :class:`NodeConfig`, :class:`ControlConfig` and, prefixed ``safety.``,
:class:`SafetyConfig`; ``checkpoint`` may be set at run time (it reloads).

Time: with ``use_sim_time:=true`` (a sim node with ``publish_clock``) the control and status timers
run on simulated time, so the node ticks once per control period of the simulation however fast
it runs, and stamps its commands with that time; the stale-state watchdog and the tick statistics
then measure simulated time too. Without it they use the monotonic clock (immune to wall-clock
steps). Compute times (inference) are always measured on the monotonic clock.
"""

from __future__ import annotations

import gc
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker

from fpo_msgs.msg import PolicyAction, PolicyStatus, PolicyUpdate, TaskState
from fpo_policy.core.control_loop import ControlConfig, ControlLoop, NodeConfig
from fpo_policy.core.safety import SafetyConfig, SafetyFilter, SafetyState
from so100_common import topics
from so100_common.core.joints import JOINT_NAMES
from so100_common.node_main import run_node
from so100_common.parameters import declare_config
from so100_common.stamps import duration_msg, nanoseconds


def status_marker(status: PolicyStatus) -> Marker:
    """The status as a text marker above the arm, for RViz (which cannot show PolicyStatus)."""
    marker = Marker(ns="policy_status", id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
    marker.header.frame_id = "Base"
    marker.pose.position.z = 0.45
    marker.pose.orientation.w = 1.0
    marker.scale.z = 0.025
    marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
    policy = f"{status.policy_id} v{status.policy_version}" if status.policy_id else "no policy"
    marker.text = (
        f"{policy} | {status.safety_state_text} | tick {1000 * status.tick_period_mean_s:.1f} ms"
        f" | inference {1000 * status.inference_time_mean_s:.1f} ms | overruns {status.overruns}"
    )
    return marker


def trajectory_message(command: np.ndarray, stamp, period_s: float) -> JointTrajectory:
    """A filtered (6,) command as a one-point JointTrajectory (contract names, reached in a period)."""
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.joint_names = list(JOINT_NAMES)
    msg.points = [
        JointTrajectoryPoint(
            positions=[float(x) for x in command],
            time_from_start=duration_msg(period_s),
        )
    ]
    return msg


def multiarray_message(command: np.ndarray) -> Float64MultiArray:
    """A filtered (6,) command as a Float64MultiArray in contract order."""
    return Float64MultiArray(data=[float(x) for x in command])


class PolicyNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("policy_node", **kwargs)
        self.node_config = declare_config(self, NodeConfig, mutable=("checkpoint",))
        control = declare_config(self, ControlConfig)
        safety = declare_config(self, SafetyConfig, prefix="safety.")
        torch.set_num_threads(self.node_config.torch_threads)
        self.loop = ControlLoop(control, SafetyFilter(safety))
        if self.node_config.checkpoint:
            self._load_now(self.node_config.checkpoint)
        else:
            self.get_logger().warning("no checkpoint parameter: nothing is commanded until one is loaded")

        self._joint_state: tuple[JointState, float] | None = None
        self._task_state: TaskState | None = None
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_state, topics.QOS_STATE)
        self.create_subscription(TaskState, topics.TASK_STATE, self._on_task_state, topics.QOS_LATCHED)
        self.create_subscription(Bool, topics.ESTOP, self._on_estop, topics.QOS_LATCHED)
        self.create_subscription(
            PolicyUpdate, topics.POLICY_UPDATE, self._on_policy_update, topics.QOS_LATCHED
        )
        self.create_service(Trigger, topics.RESET_ESTOP_SERVICE, self._on_reset_estop)
        self.create_service(Trigger, "~/reload", self._on_reload)
        self.add_post_set_parameters_callback(self._on_parameters_set)

        self._trajectory_pub = (
            self.create_publisher(JointTrajectory, topics.JOINT_TRAJECTORY, topics.QOS_COMMAND)
            if self.node_config.publish_joint_trajectory
            else None
        )
        self._commands_pub = (
            self.create_publisher(Float64MultiArray, topics.COMMANDS, topics.QOS_COMMAND)
            if self.node_config.publish_commands
            else None
        )
        self._action_pub = (
            self.create_publisher(PolicyAction, topics.POLICY_ACTION, topics.QOS_COMMAND)
            if self.node_config.publish_actions
            else None
        )
        self._status_pub = self.create_publisher(PolicyStatus, topics.POLICY_STATUS, topics.QOS_STATUS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, topics.QOS_STATUS)
        self._status_marker_pub = self.create_publisher(
            Marker, topics.POLICY_STATUS_MARKER, topics.QOS_STATUS
        )

        self._period_s = self.loop.period_s()
        self.loop.start_timing()
        self._reason = ""
        self._timer = self.create_timer(self._period_s, self._tick)
        self._old_timers: list = []
        self.create_timer(1.0 / self.node_config.status_rate_hz, self._publish_status)
        self.get_logger().info(f"control loop at {1.0 / self._period_s:g} Hz")

    # Callbacks: store only ----------------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        self._joint_state = (msg, self._now_s())

    def _now_s(self) -> float:
        """Now, s, on the clock of the watchdog and tick statistics (see the module docstring)."""
        clock = self.get_clock()
        return clock.now().nanoseconds * 1e-9 if clock.ros_time_is_active else time.monotonic()

    def _on_task_state(self, msg: TaskState) -> None:
        self._task_state = msg

    def _on_estop(self, msg: Bool) -> None:
        if self.loop.on_estop_message(msg.data):
            self.get_logger().warning("e-stop latched: nothing is commanded until ~/reset_estop")

    def _on_reset_estop(self, request, response):
        response.success = True
        response.message = (
            "e-stop cleared; commands ramp from the measured pose"
            if self.loop.reset_estop()
            else "no e-stop latched"
        )
        self.get_logger().info(response.message)
        return response

    def _on_reload(self, request, response):
        path = self.get_parameter("checkpoint").value
        if not path:
            response.success, response.message = False, "the checkpoint parameter is empty"
            return response
        self.loop.reloader.request(path)
        response.success = True
        response.message = f"loading {path} in the background; policy_status reports the outcome"
        return response

    def _on_policy_update(self, msg: PolicyUpdate) -> None:
        if self.loop.request_update(msg.checkpoint_path, msg.sha256):
            self.get_logger().info(
                f"policy update {msg.policy_id} v{msg.version}: loading {msg.checkpoint_path}"
            )

    def _on_parameters_set(self, parameters) -> None:
        for p in parameters:
            if p.name == "checkpoint" and p.value:
                self.loop.reloader.request(p.value)

    # Loading ------------------------------------------------------------------------------------

    def _load_now(self, path: str) -> None:
        """Load the start-up checkpoint; a bad one leaves the node safe in NO_POLICY."""
        error = self.loop.load_now(path)
        if error:
            self.get_logger().error(f"checkpoint refused, nothing is commanded: {error}")
            return
        loaded = self.loop.current
        self.get_logger().info(
            f"loaded {loaded.policy_id} v{loaded.version} ({loaded.task.env_id}) from {path} "
            f"sha256 {loaded.sha256[:12]}"
        )

    # The control tick ---------------------------------------------------------------------------

    def _tick(self) -> None:
        started = time.monotonic()
        start = self._now_s()
        if self._action_pub is not None and not self._answerable():
            self.loop.record_tick(start, time.monotonic() - started)
            return
        stamp = None
        if self._joint_state is not None:
            msg, received = self._joint_state
            self._joint_state = None
            stamp = msg.header.stamp
            self.loop.safety.observe(msg.name, msg.position, msg.velocity, stamp_s=received)
        if self._task_state is not None:
            task = self._task_state
            self.loop.observe_goal(task.goal, task.env_id, nanoseconds(task.header.stamp))
            self._task_state = None

        result = self.loop.tick(start)
        decision = result.decision
        if decision.command is not None:
            self._publish_command(decision.command, stamp if self._action_pub is not None else None)
        if self._action_pub is not None and result.sample is not None:
            self._publish_action(result.sample, stamp)
        self._reason = decision.reason
        self.loop.record_tick(start, time.monotonic() - started)

        for r in result.reloads:
            if r.loaded is not None:
                self.get_logger().info(f"swapped in {r.loaded.policy_id} v{r.loaded.version} from {r.path}")
            else:
                self.get_logger().error(f"reload refused, the running policy stays: {r.error}")
        if result.reloads and abs(self.loop.period_s() - self._period_s) > 1e-9:
            self._set_period(self.loop.period_s())

    def _set_period(self, period_s: float) -> None:
        """The task rate changed with a reload: re-create the timer (the old one is destroyed later)."""
        for timer in self._old_timers:
            self.destroy_timer(timer)
        self._timer.cancel()
        self._old_timers = [self._timer]
        self._period_s = period_s
        self.loop.retime(period_s)
        self._timer = self.create_timer(period_s, self._tick)
        self.get_logger().info(f"control loop now at {1.0 / period_s:g} Hz")

    def _answerable(self) -> bool:
        """Acting for training: the control loop's rule, on the stamps of what is waiting."""
        state, task = self._joint_state, self._task_state
        return self.loop.ready_to_act(
            None if state is None else nanoseconds(state[0].header.stamp),
            None if task is None else nanoseconds(task.header.stamp),
        )

    def _publish_action(self, sample, stamp) -> None:
        msg = PolicyAction()
        msg.header.stamp = stamp
        msg.policy_id, msg.policy_version = sample.policy_id, sample.policy_version
        msg.observation = sample.observation.astype(np.float32).tolist()
        msg.action = sample.raw_action.astype(np.float32).tolist()
        self._action_pub.publish(msg)

    def _publish_command(self, command: np.ndarray, stamp=None) -> None:
        if self._trajectory_pub is not None:
            stamp = stamp if stamp is not None else self.get_clock().now().to_msg()
            self._trajectory_pub.publish(trajectory_message(command, stamp, self._period_s))
        if self._commands_pub is not None:
            self._commands_pub.publish(multiarray_message(command))

    # Status -------------------------------------------------------------------------------------

    def status(self) -> PolicyStatus:
        """The current PolicyStatus: timing over the last status window, counters since the start."""
        msg = PolicyStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        loaded = self.loop.current
        if loaded is not None:
            msg.policy_id, msg.policy_version = loaded.policy_id, loaded.version
            msg.checkpoint_path, msg.checkpoint_sha256 = loaded.path, loaded.sha256
        state = self.loop.state
        msg.safety_state, msg.safety_state_text = int(state), state.name
        msg.control_rate_hz = 1.0 / self._period_s
        window = self.loop.window.summary()
        msg.tick_period_mean_s, msg.tick_period_p99_s = window.tick_period_mean_s, window.tick_period_p99_s
        msg.inference_time_mean_s = window.inference_time_mean_s
        msg.inference_time_p99_s = window.inference_time_p99_s
        msg.ticks, msg.overruns = self.loop.stats.ticks, self.loop.stats.overruns
        for name, value in self.loop.safety.counters.as_dict().items():
            if hasattr(msg, name):
                setattr(msg, name, value)
        msg.reloads_ok, msg.reloads_failed = self.loop.reloads.reloads_ok, self.loop.reloads.reloads_failed
        return msg

    def _publish_status(self) -> None:
        msg = self.status()
        self._status_pub.publish(msg)
        self._diagnostics_pub.publish(self._diagnostics(msg))
        self._status_marker_pub.publish(status_marker(msg))
        self.loop.next_window()

    def _diagnostics(self, status: PolicyStatus) -> DiagnosticArray:
        state = SafetyState(status.safety_state)
        level = (
            DiagnosticStatus.OK
            if state in (SafetyState.ACTIVE, SafetyState.RAMPING)
            else DiagnosticStatus.WARN
        )
        summary = self.loop.stats.summary()
        values = {
            "policy_id": status.policy_id,
            "policy_version": status.policy_version,
            "checkpoint_path": status.checkpoint_path,
            "checkpoint_sha256": status.checkpoint_sha256,
            "safety_state": status.safety_state_text,
            "reason": self._reason,
            "control_rate_hz": f"{status.control_rate_hz:g}",
            "tick_period_mean_s": f"{status.tick_period_mean_s:.6f}",
            "tick_period_p99_s": f"{status.tick_period_p99_s:.6f}",
            "inference_time_mean_s": f"{status.inference_time_mean_s:.6f}",
            "inference_time_p99_s": f"{status.inference_time_p99_s:.6f}",
            "ticks": status.ticks,
            "overruns": status.overruns,
            "missed_ticks": summary.missed,
            **self.loop.safety.counters.as_dict(),
            "policy_act_errors": self.loop.act_errors,
            "reloads_ok": status.reloads_ok,
            "reloads_failed": status.reloads_failed,
            "last_reload_error": self.loop.reloads.last_error,
        }
        message = state.name if not self._reason else f"{state.name}: {self._reason}"
        return DiagnosticArray(
            header=status.header,
            status=[
                DiagnosticStatus(
                    level=level,
                    name=f"{self.get_fully_qualified_name()}: policy",
                    message=message,
                    hardware_id="so100",
                    values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
                )
            ],
        )

    def destroy_node(self) -> None:
        if hasattr(self, "loop"):  # not when the constructor failed before building it
            self.loop.reloader.close()  # a load still running at exit would abort the process
        super().destroy_node()


def _started_policy_node(**kwargs) -> PolicyNode:
    node = PolicyNode(**kwargs)
    # Everything built so far (torch, the policy, rclpy) lives as long as the node: keep it out
    # of the cyclic collector, so a full collection never walks it in the middle of a tick.
    gc.collect()
    gc.freeze()
    return node


def main(args=None) -> None:
    run_node(_started_policy_node, args)


if __name__ == "__main__":
    main()
