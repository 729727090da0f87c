"""The SO-100 joint contract, shared by the simulator, the real driver and the policy.

Every topic of the stack (``joint_states``, ``joint_trajectory``, ``commands``) follows it, in sim
and on the real arm alike:

- **Joint names and order**: ``shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll,
  gripper``. These are the joint names of the so100 URDF shipped with ManiSkill3 (and of our
  RViz description); servo ids 1..6 on the Feetech bus, in the same order. Arrays without names
  (``std_msgs/Float64MultiArray`` commands, policy actions) use this order.
- **Units**: positions in rad, velocities in rad/s; the gripper too is an angle in rad (the moving
  jaw's revolute joint), not a percentage.
- **Zero**: each joint's zero is the URDF's zero, i.e. the simulator's ``qpos = 0`` (arm stretched
  straight up, gripper jaw half open). A calibrated real arm reports and accepts the same values:
  the tick-to-radian mapping in :mod:`so100_driver.core.calibration` makes it so.
- **Limits**: the URDF's position limits below; nothing in the stack commands outside them.
  "Within the limits" has one definition, :func:`outside_limits` (each limit widened by
  :data:`LIMIT_TOLERANCE_RAD`, the rounding room of a limit value that went through float32).
- **Out-of-limit commands**: one policy, the same in sim and on the real arm. A command with a
  position that :func:`outside_limits` flags (or of the wrong length, with unknown or repeated
  names, or not finite) is **rejected whole**: the sim node and the real driver keep their previous
  target and count the rejection by reason (:mod:`so100_common.core.commands` holds that one
  validation). Nothing clips a bad command into a good one, so a wrong unit or joint order shows up
  as a counted rejection, not as motion. The policy's safety filter only emits
  :func:`clip_to_limits` output, which is never flagged; what a policy commands stays
  :data:`COMMAND_MARGIN_RAD` further inside by default, in training as on the arm. Every reset
  starts inside the limits too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "elbow_flex",
    "wrist_flex",
    "wrist_roll",
    "gripper",
)
NUM_JOINTS = len(JOINT_NAMES)

# Feetech servo id of each joint, in contract order.
SERVO_IDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class JointLimit:
    """Position limits of one joint, in rad."""

    lower_rad: float
    upper_rad: float


# The limits of ManiSkill3's so100 URDF (mani_skill/assets/robots/so100/so100.urdf), in rad.
JOINT_LIMITS: dict[str, JointLimit] = {
    "shoulder_pan": JointLimit(-2.0, 2.0),
    "shoulder_lift": JointLimit(-1.5708, 1.5708),
    "elbow_flex": JointLimit(-1.5708, 1.5708),
    "wrist_flex": JointLimit(-1.8, 1.8),
    "wrist_roll": JointLimit(-3.14159, 3.14159),
    "gripper": JointLimit(-1.1, 1.1),
}

# The URDF agent's "rest" keyframe (arm folded, gripper closed), rad, contract order.
REST_POSE_RAD: tuple[float, ...] = (0.0, -1.5708, 1.5708, 0.66, 0.0, -1.1)


def lower_limits() -> np.ndarray:
    """(6,) lower position limits in rad, contract order."""
    return np.array([JOINT_LIMITS[n].lower_rad for n in JOINT_NAMES])


def upper_limits() -> np.ndarray:
    """(6,) upper position limits in rad, contract order."""
    return np.array([JOINT_LIMITS[n].upper_rad for n in JOINT_NAMES])


_LOWER, _UPPER = lower_limits(), upper_limits()
_LOWER.flags.writeable = _UPPER.flags.writeable = False  # built once for the per-tick checks below

LIMIT_TOLERANCE_RAD = 1e-6
"""How far beyond a limit a commanded position may lie and still count as at the limit (rad).

A limit value rounded through float32 moves by at most half a float32 ulp (1.2e-7 at pi)."""


COMMAND_MARGIN_RAD = 0.05
"""How far inside each limit a policy's commands stay by default (rad): the policy node's safety
filter clamps its commands there (``SafetyConfig.position_margin_rad``) and the tasks' action
mapping clips its targets there (``TaskSpec.limit_margin_rad``), so what a policy learned in the
simulator is what the filter lets through on the arm."""


def shrunk_limits(margin_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper), each (6,) in rad, contract order: the limits moved ``margin_rad`` inward."""
    return _LOWER + margin_rad, _UPPER - margin_rad


def outside_limits(positions) -> np.ndarray:
    """(6,) bool: which of the (6,) contract-order positions (rad) are not within the limits.

    The one definition of "within the limits" for commands: ``lower - LIMIT_TOLERANCE_RAD <= q <=
    upper + LIMIT_TOLERANCE_RAD``. NaN counts as outside. ``positions`` must have shape (6,).
    """
    q = np.asarray(positions, dtype=np.float64)
    if q.shape != (NUM_JOINTS,):
        raise ValueError(f"positions of shape {q.shape}, expected ({NUM_JOINTS},)")
    return ~((q >= _LOWER - LIMIT_TOLERANCE_RAD) & (q <= _UPPER + LIMIT_TOLERANCE_RAD))


def clip_to_limits(positions) -> np.ndarray:
    """(..., 6) float64 positions (contract order) clipped to the limits; never flagged by
    :func:`outside_limits`."""
    return np.clip(np.asarray(positions, dtype=np.float64), _LOWER, _UPPER)


def reorder(names: list[str] | tuple[str, ...], values) -> np.ndarray:
    """Values given for ``names`` (any order) as a (6,) array in contract order.

    Raises ValueError when a contract joint is missing, a name is unknown or repeated, or the
    lengths differ. Extra information is never silently dropped.
    """
    names = list(names)
    values = np.asarray(values, dtype=float)
    if values.shape != (len(names),):
        raise ValueError(f"{len(names)} joint names but values of shape {values.shape}")
    if len(set(names)) != len(names):
        raise ValueError(f"repeated joint names: {names}")
    unknown = sorted(set(names) - set(JOINT_NAMES))
    if unknown:
        raise ValueError(f"unknown joints {unknown}; the contract's joints are {list(JOINT_NAMES)}")
    missing = [n for n in JOINT_NAMES if n not in names]
    if missing:
        raise ValueError(f"missing joints {missing}")
    index = {n: i for i, n in enumerate(names)}
    return values[[index[n] for n in JOINT_NAMES]]
