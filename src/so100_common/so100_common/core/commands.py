"""Validation of joint position commands, before anything reaches an arm.

A command is six absolute joint positions in rad (the contract of :mod:`so100_common.core.joints`),
given either with joint names (``trajectory_msgs/JointTrajectory``: any order, reordered to the
contract) or without (``std_msgs/Float64MultiArray``: contract order). It is rejected, never
clipped or partly applied, when:

- ``wrong_names``: a contract joint is missing, a name is unknown or repeated;
- ``wrong_length``: not exactly six values (or not as many as names);
- ``not_one_point``: a trajectory without exactly one point;
- ``non_finite``: any value is NaN or Inf;
- ``out_of_limits``: any value is outside the joint limits, as
  :func:`so100_common.core.joints.outside_limits` defines them (the URDF limits widened by
  float32 rounding room; the policy's safety filter uses the same definition);
- ``estop``: a valid command that arrived while the e-stop is latched (decided by the caller);
- ``previous_episode``: the simulator only: a trajectory stamped before the current episode began,
  computed from the previous episode's last state (decided by the caller).
"""

from __future__ import annotations

import numpy as np

from so100_common.core.joints import JOINT_NAMES, NUM_JOINTS, clip_to_limits, outside_limits, reorder

REASONS = (
    "wrong_names",
    "wrong_length",
    "not_one_point",
    "non_finite",
    "out_of_limits",
    "estop",
    "previous_episode",
)


class CommandRejected(ValueError):
    """A command that must not be applied; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason = reason


def validate_positions(positions, names=None) -> np.ndarray:
    """(6,) float64 joint positions in contract order, or :class:`CommandRejected`."""
    values = np.asarray(positions, dtype=np.float64).reshape(-1)
    if names is not None and len(names) > 0:
        if len(names) != values.size:
            raise CommandRejected("wrong_length", f"{len(names)} joint names but {values.size} positions")
        try:
            values = reorder(list(names), values)
        except ValueError as e:
            raise CommandRejected("wrong_names", str(e)) from e
    elif values.size != NUM_JOINTS:
        raise CommandRejected("wrong_length", f"{values.size} positions; expected {NUM_JOINTS} {JOINT_NAMES}")
    if not np.all(np.isfinite(values)):
        raise CommandRejected("non_finite", f"positions hold NaN or Inf: {values.tolist()}")
    outside = [f"{JOINT_NAMES[i]}={float(values[i])!r}" for i in np.flatnonzero(outside_limits(values))]
    if outside:
        raise CommandRejected("out_of_limits", f"outside the joint limits: {', '.join(outside)}")
    return clip_to_limits(values)


def validate_trajectory(names, points) -> np.ndarray:
    """Positions of a one-point trajectory (``points``: a sequence of objects with ``positions``)."""
    if len(points) != 1:
        raise CommandRejected("not_one_point", f"trajectory with {len(points)} points; one is accepted")
    if len(names) == 0:
        raise CommandRejected("wrong_names", "trajectory without joint names")
    return validate_positions(points[0].positions, names)
