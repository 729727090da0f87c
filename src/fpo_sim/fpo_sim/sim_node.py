"""sim_node: the simulated SO-100 behind the real arm's topic contract.

Thin: declares parameters (onto :class:`fpo_sim.core.sim_loop.SimNodeConfig`), converts messages,
calls :class:`fpo_sim.core.sim_loop.SimLoop`, publishes. Subscription callbacks only queue the
message; the control timer (real time, at the control rate) processes the queue in arrival order
(so a command behind an e-stop is refused), steps the env once and publishes: the joint states and
task state first, then the camera, rendered after them (a render takes about 20 ms on lavapipe
against 1.5 ms for the step; rendered first, it would make a policy ticking in that window act on
the state one step old).

Topics and QoS: :mod:`so100_common.topics`. Publishes ``joint_states`` (sensor_msgs/JointState,
contract names, rad, rad/s), ``camera/image_raw`` + ``camera/camera_info`` (with ``obs_mode:=rgb``),
``task/state`` (fpo_msgs/TaskState), ``task/marker`` (visualization_msgs/Marker: the goal points)
and ``/diagnostics``. Accepts ``joint_trajectory`` (one point of absolute positions) and
``commands`` (Float64MultiArray, contract order); invalid commands are rejected with a throttled
warning and counted in diagnostics. In real time, a ``joint_trajectory`` stamped before the current
episode began is refused and counted (``rejected_previous_episode``): a policy that acted on the
old episode's last state just before the reset would otherwise throw the new episode's arm towards
the old final pose (it cost the pick policy most of its successes through ROS). ``estop``
(std_msgs/Bool, True latches) blocks all commands until ``~/reset_estop``; ``~/reset`` starts a new
episode (both std_srvs/Trigger).

With ``publish_rollouts`` (training) the node runs in lockstep instead of real time: after each
state it waits for the stamped answer (``joint_trajectory`` command and ``policy/action``,
fpo_msgs/PolicyAction), steps once and records the transition; fpo_msgs/RolloutChunk goes out on
``rollouts``. Pairing, timeouts and chunking: :mod:`fpo_sim.core.lockstep`.

With ``publish_clock`` the node keeps simulated time: it publishes rosgraph_msgs/Clock on
``/clock`` after each state (task/state, joint_states, camera), stamps everything with it and
advances it by exactly one control period per env step (and per ``~/reset``, so no two states
share a stamp). It runs in lockstep as fast as its consumers allow: a state waits for the
``joint_trajectory`` command stamped with its time (a policy node with ``use_sim_time:=true``
ticks once per period of simulated time and stamps its command with it), or for
``lockstep_timeout_s`` of wall time, then steps holding the last target. With ``publish_rollouts``
too, a state also waits for its policy/action. The node's own timers run on wall time.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker

from fpo_msgs.msg import PolicyAction, RolloutChunk, TaskState
from fpo_sim.core.lockstep import Lockstep, RolloutRecorder
from fpo_sim.core.sim_loop import SimLoop, SimNodeConfig, StepResult
from so100_common import topics
from so100_common.core import images
from so100_common.core.commands import CommandRejected
from so100_common.core.joints import JOINT_NAMES
from so100_common.core.rollout_chunk import ActionSample, Chunk
from so100_common.node_main import run_node
from so100_common.parameters import declare_config
from so100_common.stamps import nanoseconds, time_msg

# rclpy gives every publisher and subscription two QoS-event handlers (warnings about an
# incompatible QoS or type), each a waitable the executor sets up and checks on every wait: with
# the node's eight that cost a measurable share of a free-running tick. The node's go without; a
# peer with an incompatible QoS or type still reports it from its own side.
_NO_PUB_EVENTS = PublisherEventCallbacks(use_default_callbacks=False)
_NO_SUB_EVENTS = SubscriptionEventCallbacks(use_default_callbacks=False)


class SimNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim_node", **kwargs)
        self.config = declare_config(self, SimNodeConfig)
        from fpo_sim.maniskill_adapter import SO100Sim  # imports ManiSkill (seconds)

        self.loop = SimLoop(SO100Sim(self.config.env_id, obs_mode=self.config.obs_mode), self.config)
        self._inbox: deque = deque(maxlen=1000)

        # Built once and refilled each tick: only the stamp and the changing values are set.
        self._joint_msg = JointState(name=list(JOINT_NAMES))
        self._task_msg = TaskState(env_id=self.loop.spec.env_id)
        self._task_msg.header.frame_id = self.config.frame_id
        self.joint_pub = self._publisher(JointState, topics.JOINT_STATES, topics.QOS_STATE)
        self.task_pub = self._publisher(TaskState, topics.TASK_STATE, topics.QOS_LATCHED)
        self.marker_pub = self._publisher(Marker, topics.TASK_MARKER, topics.QOS_LATCHED)
        self.diag_pub = self._publisher(DiagnosticArray, topics.DIAGNOSTICS, topics.QOS_STATUS)
        self.image_pub = self.info_pub = None
        if self.config.obs_mode == "rgb":
            self.image_pub = self._publisher(Image, topics.CAMERA_IMAGE, topics.QOS_IMAGE)
            self.info_pub = self._publisher(CameraInfo, topics.CAMERA_INFO, topics.QOS_IMAGE)

        self._queue_from(JointTrajectory, topics.JOINT_TRAJECTORY, topics.QOS_COMMAND)
        self._queue_from(Float64MultiArray, topics.COMMANDS, topics.QOS_COMMAND)
        self._queue_from(Bool, topics.ESTOP, topics.QOS_LATCHED)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(Trigger, topics.RESET_ESTOP_SERVICE, self._on_reset_estop)

        self.lockstep: Lockstep | None = None
        self.recorder: RolloutRecorder | None = None
        if self.config.publish_rollouts:
            self.recorder = RolloutRecorder(self.config.rollout_chunk_steps)
            self._published_obs = None
            self.rollout_pub = self._publisher(RolloutChunk, topics.ROLLOUTS, topics.QOS_ROLLOUTS)
            self._queue_from(PolicyAction, topics.POLICY_ACTION, topics.QOS_COMMAND)
        self.clock_pub = None
        if self.config.publish_clock:
            # Simulated time starts one period in (time 0 means "no time yet" to ROS clocks) and
            # steps by the period in ns exactly as rclpy computes a timer's (int(period_s * 1e9)),
            # so a use_sim_time timer at the same rate fires once per step.
            self._period_ns = int(float(1.0 / self.loop.rate_hz) * 1e9)
            self._sim_time_ns = self._period_ns
            self._clock_msg = ClockMsg()
            self.clock_pub = self._publisher(ClockMsg, topics.CLOCK, topics.QOS_CLOCK)
        if self.config.publish_rollouts or self.config.publish_clock:
            self.lockstep = Lockstep(self.config.lockstep_timeout_s, with_sample=self.config.publish_rollouts)
            # Wall time even if this node was given use_sim_time: its own clock must not wait on itself.
            wall = Clock(clock_type=ClockType.STEADY_TIME)
            self.create_timer(self.config.lockstep_poll_s, self._tick_lockstep, clock=wall)
        else:
            self.create_timer(1.0 / self.loop.rate_hz, self._tick)
        self.create_timer(self.config.diagnostics_period_s, self._publish_diagnostics)
        pace = "real time" if self.lockstep is None else "lockstep"
        pace += ", simulated time on /clock" if self.clock_pub is not None else ""
        self.get_logger().info(
            f"{self.loop.spec.env_id} at {self.loop.rate_hz:g} Hz ({pace}), obs_mode={self.config.obs_mode}"
        )

    def _publisher(self, msg_type, topic: str, qos):
        return self.create_publisher(msg_type, topic, qos, event_callbacks=_NO_PUB_EVENTS)

    def _queue_from(self, msg_type, topic: str, qos) -> None:
        """Messages on ``topic`` go to the inbox (processed on the timer)."""
        self.create_subscription(msg_type, topic, self._store, qos, event_callbacks=_NO_SUB_EVENTS)

    # -- inputs, applied on the timer in arrival order ----------------------------------------------
    def _store(self, msg) -> None:
        self._inbox.append(msg)

    def _drain_inbox(self) -> None:
        """Apply the queued messages in arrival order: e-stops (either pace), then each command as
        the pace takes it (real time: now; lockstep: offered as the answer to its state)."""
        take = self._take_command if self.lockstep is None else self._offer_answer
        while self._inbox:
            msg = self._inbox.popleft()
            if isinstance(msg, Bool):
                if self.loop.on_estop_message(msg.data):
                    self.get_logger().warning("e-stop latched: commands refused until ~/reset_estop")
            else:
                take(msg)

    def _take_command(self, msg) -> None:
        try:
            if isinstance(msg, JointTrajectory):
                self.loop.command_trajectory(msg.joint_names, msg.points, nanoseconds(msg.header.stamp))
            else:
                self.loop.command(msg.data)
        except CommandRejected as e:
            self._warn_rejected(e)

    def _warn_rejected(self, err: CommandRejected) -> None:
        if err.reason == "previous_episode":  # expected about once an episode: counted, not warned
            self.get_logger().debug(f"command refused: {err}")
            return
        self.get_logger().warning(
            f"command rejected ({err.reason}): {err}", throttle_duration_sec=self.config.warn_throttle_s
        )

    def _on_reset(self, request, response):
        response.success = True
        response.message = f"episode {self.loop.reset()} started"
        if self.lockstep is None:
            self.loop.episode_started_ns = self.get_clock().now().nanoseconds
        if self.lockstep is not None:  # the state being answered is gone: publish the new one
            self.lockstep.abandon()
            if self.recorder is not None:
                self.recorder.cut()
            if self.clock_pub is not None:  # a fresh stamp, so no answer to the old state pairs with it
                self._sim_time_ns += self._period_ns
        return response

    def _on_reset_estop(self, request, response):
        response.success, response.message = self.loop.reset_estop()
        if response.success:
            self.get_logger().info(response.message)
        return response

    # -- the control step -----------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.loop.reset_pending:  # this tick starts the next episode: older commands are its predecessor's
            self.loop.episode_started_ns = self.get_clock().now().nanoseconds
        self._drain_inbox()
        result = self.loop.tick()
        stamp = self.get_clock().now().to_msg()
        self._publish_joint_state(result, stamp)
        self._publish_task(result, stamp)
        self._publish_camera(stamp)  # after the state: the render takes longer than the step

    # -- lockstep (publish_rollouts) --------------------------------------------------------------
    def _tick_lockstep(self) -> None:
        lock = self.lockstep
        if lock.stamp_ns is None:  # nothing to answer yet (start, or after ~/reset)
            self._publish_lockstep_state(self.loop.state())
            return
        self._drain_inbox()
        answer = lock.poll(time.monotonic())
        if answer is None:
            return
        applied = False
        if answer.command is not None:
            try:
                self.loop.command_trajectory(answer.command.joint_names, answer.command.points)
                applied = True
            except CommandRejected as e:
                self._warn_rejected(e)
        result = self.loop.tick()
        if self.clock_pub is not None:
            self._sim_time_ns += self._period_ns
        if self.recorder is not None:
            self._record(answer, applied, result)
        if self.loop.reset_pending:
            self._publish_task(result, self._now()[0])  # the episode's last step
            self.loop.start_pending_episode()
            result = self.loop.state()
        self._publish_lockstep_state(result)

    def _record(self, answer, applied: bool, result: StepResult) -> None:
        if applied and answer.sample is not None:
            chunks = self.recorder.record(
                answer.sample,
                result.reward,
                result.terminated,
                result.truncated,
                result.observation,
                result.success,
                published_observation=self._published_obs,
            )
            for chunk in chunks:
                self._publish_chunk(chunk)
        else:
            self.recorder.cut()

    def _now(self) -> tuple[Time, int]:
        """The stamp for what is published now, and it in ns: simulated time with publish_clock."""
        if self.clock_pub is None:
            now = self.get_clock().now()
            return now.to_msg(), now.nanoseconds
        ns = self._sim_time_ns
        return time_msg(ns), ns

    def _publish_lockstep_state(self, result: StepResult) -> None:
        """Publish a state (task/state first: the acting policy waits for both; /clock last: a
        use_sim_time policy ticks on it) and wait for its answer."""
        stamp, stamp_ns = self._now()
        self._publish_task(result, stamp)
        self._publish_joint_state(result, stamp)
        self._publish_camera(stamp)
        if self.recorder is not None:
            self._published_obs = result.observation
        if self.clock_pub is not None:
            self._clock_msg.clock = stamp
            self.clock_pub.publish(self._clock_msg)
        self.lockstep.published(stamp_ns, time.monotonic())

    def _offer_answer(self, msg) -> None:
        """Lockstep: a stamped message offered as (part of) the answer to the waiting state."""
        if isinstance(msg, JointTrajectory):
            self.lockstep.offer_command(nanoseconds(msg.header.stamp), msg)
        elif isinstance(msg, PolicyAction):
            self.lockstep.offer_sample(
                ActionSample(
                    nanoseconds(msg.header.stamp),
                    msg.policy_id,
                    msg.policy_version,
                    np.asarray(msg.observation, dtype=np.float32),
                    np.asarray(msg.action, dtype=np.float32),
                )
            )
        else:
            self.get_logger().warning(
                "lockstep: commands on `commands` carry no stamp; use joint_trajectory",
                throttle_duration_sec=self.config.warn_throttle_s,
            )

    def _publish_chunk(self, chunk: Chunk) -> None:
        msg = RolloutChunk()
        msg.header.stamp = self._now()[0]
        msg.source_id = self.get_fully_qualified_name()
        msg.sequence = chunk.sequence
        msg.policy_id, msg.policy_version = chunk.policy_id, chunk.policy_version
        msg.env_id = self.loop.spec.env_id
        msg.num_steps = chunk.num_steps
        msg.obs_dim, msg.act_dim = chunk.observations.shape[1], chunk.actions.shape[1]
        msg.observations = chunk.observations.reshape(-1).tolist()
        msg.actions = chunk.actions.reshape(-1).tolist()
        msg.rewards = chunk.rewards.tolist()
        msg.terminated = chunk.terminated.tolist()
        msg.truncated = chunk.truncated.tolist()
        msg.next_observations = chunk.next_observations.reshape(-1).tolist()
        msg.success = chunk.success.tolist()
        self.rollout_pub.publish(msg)

    def _publish_joint_state(self, result: StepResult, stamp) -> None:
        msg = self._joint_msg
        msg.header.stamp = stamp
        msg.position = result.joint_positions_rad.tolist()
        msg.velocity = result.joint_velocities_rad_s.tolist()
        self.joint_pub.publish(msg)

    def _publish_task(self, result: StepResult, stamp) -> None:
        msg = self._task_msg
        msg.header.stamp = stamp
        msg.episode, msg.step = result.episode, result.step
        msg.goal = result.goal.tolist()
        msg.reward, msg.success = result.reward, result.success
        msg.terminated, msg.truncated = result.terminated, result.truncated
        self.task_pub.publish(msg)
        if self.loop.spec.num_goals and result.step == 1:
            self._publish_marker(result, stamp)

    def _publish_marker(self, result: StepResult, stamp) -> None:
        marker = Marker()
        marker.header.stamp = stamp
        marker.header.frame_id = self.config.frame_id
        marker.ns, marker.id = "goal", 0
        marker.type, marker.action = Marker.SPHERE_LIST, Marker.ADD
        marker.pose.orientation.w = 1.0
        size = 2 * (self.loop.spec.success_threshold_m or 0.02)
        marker.scale.x = marker.scale.y = marker.scale.z = size
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = 0.1, 0.8, 0.1, 0.6
        marker.points = [
            Point(x=float(g[0]), y=float(g[1]), z=float(g[2])) for g in result.goal.reshape(-1, 3)
        ]
        self.marker_pub.publish(marker)

    def _publish_camera(self, stamp) -> None:
        """The camera image of the current state and its camera_info (``obs_mode:=rgb``)."""
        if self.image_pub is None:
            return
        image = images.fill_image(Image(), self.loop.image(), "rgb8")
        image.header.stamp = stamp
        image.header.frame_id = self.config.camera_frame_id
        self.image_pub.publish(image)
        k = self.loop.sim.camera_intrinsics()
        info = CameraInfo()
        info.header = image.header
        info.height, info.width = image.height, image.width
        info.distortion_model = "plumb_bob"
        info.d = [0.0] * 5
        info.k = k.reshape(-1).tolist()
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
        self.info_pub.publish(info)

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus()
        status.name = f"{self.get_fully_qualified_name()}: simulated SO-100"
        status.hardware_id = f"maniskill:{self.loop.spec.env_id}"
        if self.loop.estop_latched:
            status.level, status.message = DiagnosticStatus.WARN, "e-stop latched"
        else:
            status.level, status.message = DiagnosticStatus.OK, "running"
        values = self.loop.diagnostics()
        if self.lockstep is not None:
            values.update({k: str(v) for k, v in self.lockstep.counters().items()})
        if self.recorder is not None:
            values.update({k: str(v) for k, v in self.recorder.counters().items()})
        if self.clock_pub is not None:
            values["sim_time_s"] = f"{self._sim_time_ns * 1e-9:.9f}"
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self._now()[0]
        msg.status = [status]
        self.diag_pub.publish(msg)

    def destroy_node(self) -> None:
        if hasattr(self, "loop"):  # not when the constructor failed before building the simulator
            self.loop.sim.close()
        super().destroy_node()


def main(args=None) -> None:
    run_node(SimNode, args, events_executor=True)


if __name__ == "__main__":
    main()
