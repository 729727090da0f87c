"""The ROS-free forward kinematics against the URDF it was written from and against ManiSkill."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from so100_common.core import kinematics
from so100_common.core.joints import JOINT_NAMES, REST_POSE_RAD


def _urdf_path() -> Path:
    spec = find_spec("mani_skill")
    if spec is None or spec.origin is None:
        pytest.skip("mani_skill is not installed (requirements/sim.txt)")
    return Path(spec.origin).parent / "assets/robots/so100/so100.urdf"


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split())


def test_chain_constants_match_the_urdf():
    root = ET.parse(_urdf_path()).getroot()
    joints = {j.get("name"): j for j in root.findall("joint")}
    assert tuple(j.name for j in kinematics.CHAIN) == JOINT_NAMES
    for joint in kinematics.CHAIN:
        urdf = joints[joint.name]
        assert urdf.get("type") == "revolute"
        assert _floats(urdf.find("origin").get("xyz")) == joint.xyz_m
        assert _floats(urdf.find("origin").get("rpy")) == joint.rpy_rad
        assert _floats(urdf.find("axis").get("xyz")) == joint.axis
    assert _floats(joints["Fixed_Jaw_tip_joint"].find("origin").get("xyz")) == kinematics.FIXED_JAW_TIP_M
    assert _floats(joints["Moving_Jaw_tip_joint"].find("origin").get("xyz")) == kinematics.MOVING_JAW_TIP_M
    # The gripper hangs off the fixed jaw, like the fixed jaw's tip.
    assert joints["gripper"].find("parent").get("link") == joints["wrist_roll"].find("child").get("link")


def test_known_answers():
    """Rest pose: the TCP is in front of the base (-y), low; shoulder_pan turns it about the base's -z.

    shoulder_pan's axis is -y in a frame rolled +90 deg about x, i.e. -z in the base frame, through
    the pivot (0, -0.0452): +90 deg of pan swings the TCP from -y towards -x.
    """
    rest = np.array(REST_POSE_RAD)
    tcp = kinematics.tcp_position(rest)
    np.testing.assert_allclose(tcp, [0.0, -0.2167, 0.0512], atol=1e-4)
    turned = rest.copy()
    turned[0] = np.pi / 2
    pivot = np.array([0.0, -0.0452])
    rel = tcp[:2] - pivot
    expected_xy = pivot + np.array([rel[1], -rel[0]])
    np.testing.assert_allclose(kinematics.tcp_position(turned), [*expected_xy, tcp[2]], atol=1e-4)


def test_batched_equals_single():
    rng = np.random.default_rng(0)
    q = rng.uniform(-1.5, 1.5, size=(4, 3, 6))
    batched = kinematics.tcp_position(q)
    assert batched.shape == (4, 3, 3)
    for i in range(4):
        for j in range(3):
            np.testing.assert_allclose(batched[i, j], kinematics.tcp_position(q[i, j]), atol=1e-12)


def test_rejects_wrong_length():
    with pytest.raises(ValueError, match="joint positions"):
        kinematics.tcp_position(np.zeros(5))
