"""The topic contract of the SO-100 stack: default names and the QoS of each, in one place.

The sim node and the real driver publish and accept exactly these; the policy node consumes and
produces them. All names are relative, so a namespace or a remap moves them together.

Joint names, order, units and zero of every joint-valued message: :mod:`so100_common.core.joints`.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Robot state: sensor_msgs/JointState (rad, rad/s), contract joint names.
JOINT_STATES = "joint_states"
# Camera: sensor_msgs/Image and sensor_msgs/CameraInfo.
CAMERA_IMAGE = "camera/image_raw"
CAMERA_INFO = "camera/camera_info"
# Commands: trajectory_msgs/JointTrajectory with one point of absolute positions (rad), the topic
# interface of ros2_control's joint_trajectory_controller; and std_msgs/Float64MultiArray of six
# absolute positions in contract order, as forward_position_controller takes.
JOINT_TRAJECTORY = "joint_trajectory"
COMMANDS = "commands"
# Latched e-stop: std_msgs/Bool; True latches a stop that only the node's `~/reset_estop`
# service (std_srvs/Trigger) clears. False on the topic does not clear it.
ESTOP = "estop"
RESET_ESTOP_SERVICE = "~/reset_estop"
# Protective stop of the real driver (std_srvs/SetBool): true holds the pose with torque on and
# ignores commands; false releases (commands sent meanwhile are dropped).
PROTECTIVE_STOP_SERVICE = "~/protective_stop"
# Task state (fpo_msgs/TaskState) and its RViz marker (visualization_msgs/Marker).
TASK_STATE = "task/state"
TASK_MARKER = "task/marker"
# Policy status (fpo_msgs/PolicyStatus), rollouts for the trainer (fpo_msgs/RolloutChunk), and new
# policy announcements (fpo_msgs/PolicyUpdate).
POLICY_STATUS = "policy_status"
# The same as a text marker (visualization_msgs/Marker) for RViz.
POLICY_STATUS_MARKER = "policy_status_marker"
ROLLOUTS = "rollouts"
POLICY_UPDATE = "policy_update"
# Training: each action of a policy node acting for training (fpo_msgs/PolicyAction, QOS_COMMAND),
# and the trainer's progress (fpo_msgs/TrainerStatus, QOS_STATUS).
POLICY_ACTION = "policy/action"
TRAINER_STATUS = "trainer_status"
# diagnostic_msgs/DiagnosticArray: absolute, as every ROS diagnostics tool expects.
DIAGNOSTICS = "/diagnostics"
# Simulated time (rosgraph_msgs/Clock) from a sim node with publish_clock: absolute, where every
# node started with use_sim_time:=true reads it.
CLOCK = "/clock"

# Joint states and commands: reliable, keep the last few. A controller wants every command in
# order, and at 100 Hz reliable delivery costs nothing measurable on one host.
QOS_STATE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
QOS_COMMAND = QOS_STATE
# Camera frames: sensor-data QoS (best effort, shallow): a late frame is worthless. Large frames
# need FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA to arrive over best effort (measured: 59% lost without).
QOS_IMAGE = qos_profile_sensor_data
# Latched topics (e-stop, policy updates, task state for late joiners): reliable and
# transient-local, depth 1, so a node that starts later still receives the last value.
QOS_LATCHED = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)
# Simulated time: only the newest matters; best effort, as rclpy and rclcpp subscribe to it.
QOS_CLOCK = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
# Status and diagnostics: reliable, shallow.
QOS_STATUS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# Rollout chunks: reliable and deep, so a briefly busy trainer loses nothing.
QOS_ROLLOUTS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
