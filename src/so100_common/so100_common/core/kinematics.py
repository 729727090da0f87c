"""Forward kinematics of the SO-100 arm, without ROS or a simulator.

The chain is that of ManiSkill3's so100 URDF (``mani_skill/assets/robots/so100/so100.urdf``): each
joint's fixed origin (xyz in m, rpy in rad, URDF convention R = Rz(yaw) Ry(pitch) Rx(roll)), then a
rotation by the joint angle about its axis. Joint angles follow the contract of
:mod:`so100_common.core.joints` (rad, contract order, zero = URDF zero).

Positions are in m, in the frame of the robot's ``Base`` link (the robot's root; the frame of
``fpo_msgs/TaskState.goal``). The tool centre point (TCP) is ManiSkill's: the midpoint of the
fixed jaw's tip and the moving jaw's tip, so it depends on all six joints, gripper included.

A test parses the URDF and checks these constants against it, and another checks the TCP against
ManiSkill's own ``agent.tcp_pos``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UrdfJoint:
    """One joint of the chain: fixed origin relative to the parent link, then the joint axis."""

    name: str
    xyz_m: tuple[float, float, float]
    rpy_rad: tuple[float, float, float]
    axis: tuple[float, float, float]


# The revolute joints in contract order; each one's parent is the previous one's child, except the
# gripper, whose parent is the fixed jaw (wrist_roll's child) like the fixed-jaw tip's.
CHAIN: tuple[UrdfJoint, ...] = (
    UrdfJoint("shoulder_pan", (0.0, -0.0452, 0.0165), (1.5708, 0.0, 0.0), (0.0, -1.0, 0.0)),
    UrdfJoint("shoulder_lift", (0.0, 0.1025, 0.0306), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0)),
    UrdfJoint("elbow_flex", (0.0, 0.11257, 0.028), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0)),
    UrdfJoint("wrist_flex", (0.0, 0.0052, 0.1349), (-1.5708, 0.0, 0.0), (1.0, 0.0, 0.0)),
    UrdfJoint("wrist_roll", (0.0, -0.0601, 0.0), (0.0, 1.5708, 0.0), (0.0, 1.0, 0.0)),
    UrdfJoint("gripper", (-0.0202, -0.0244, 0.0), (0.0, 3.14159, -0.9), (0.0, 0.0, 1.0)),
)
# Jaw tips: fixed offsets in the fixed jaw's frame and the moving jaw's frame (URDF fixed joints).
FIXED_JAW_TIP_M = (0.01, -0.097, 0.0)
MOVING_JAW_TIP_M = (-0.01, -0.073, 0.0)


def _rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr = np.cos(roll), np.sin(roll)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _axis_angle_matrices(axis: tuple[float, float, float], angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations by ``angle`` (...,) about the unit ``axis`` (Rodrigues)."""
    k = np.asarray(axis, dtype=float)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    s = np.sin(angle)[..., None, None]
    c = np.cos(angle)[..., None, None]
    return np.eye(3) + s * kx + (1 - c) * (kx @ kx)


_ORIGINS = [(_rpy_matrix(*j.rpy_rad), np.asarray(j.xyz_m)) for j in CHAIN]


def link_frames(joint_positions_rad) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rotation (..., 3, 3) and position (..., 3) in the Base frame of each joint's child link.

    ``joint_positions_rad``: (..., 6) in contract order. Returns six (R, p) pairs, contract order.
    """
    q = np.asarray(joint_positions_rad, dtype=float)
    if q.shape[-1] != len(CHAIN):
        raise ValueError(f"expected (..., {len(CHAIN)}) joint positions, got shape {q.shape}")
    batch = q.shape[:-1]
    rot = np.broadcast_to(np.eye(3), (*batch, 3, 3))
    pos = np.zeros((*batch, 3))
    frames = []
    for i, (joint, (r0, p0)) in enumerate(zip(CHAIN, _ORIGINS)):
        parent_rot, parent_pos = frames[4] if joint.name == "gripper" else (rot, pos)
        pos = parent_pos + parent_rot @ p0
        rot = parent_rot @ r0 @ _axis_angle_matrices(joint.axis, q[..., i])
        frames.append((rot, pos))
    return frames


def jaw_tip_positions(joint_positions_rad) -> tuple[np.ndarray, np.ndarray]:
    """(fixed jaw's tip, moving jaw's tip), each (..., 3) in m, Base frame."""
    frames = link_frames(joint_positions_rad)
    (r_fixed, p_fixed), (r_moving, p_moving) = frames[4], frames[5]
    return p_fixed + r_fixed @ np.asarray(FIXED_JAW_TIP_M), p_moving + r_moving @ np.asarray(MOVING_JAW_TIP_M)


def tcp_position(joint_positions_rad) -> np.ndarray:
    """(..., 3) tool centre point in m, Base frame: the midpoint of the two jaw tips."""
    fixed_tip, moving_tip = jaw_tip_positions(joint_positions_rad)
    return (fixed_tip + moving_tip) / 2
