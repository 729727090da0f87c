"""The joint contract: names, order, limits, and reordering by name.

That the contract matches the simulator's URDF is pinned in test_description.py."""

import numpy as np
import pytest

from so100_common.core import joints


def test_contract_order_and_servo_ids():
    assert joints.JOINT_NAMES == (
        "shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper",
    )  # fmt: skip
    assert joints.SERVO_IDS == (1, 2, 3, 4, 5, 6)
    assert joints.lower_limits().shape == (6,)
    assert np.all(joints.lower_limits() < 0) and np.all(joints.upper_limits() > 0)  # noqa: PT018
    rest = np.array(joints.REST_POSE_RAD)
    assert np.all(rest >= joints.lower_limits()) and np.all(rest <= joints.upper_limits())  # noqa: PT018


def test_reorder_maps_any_order_to_contract_order():
    names = ["gripper", "wrist_roll", "wrist_flex", "elbow_flex", "shoulder_lift", "shoulder_pan"]
    assert list(joints.reorder(names, [6, 5, 4, 3, 2, 1])) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("names", "values", "message"),
    [
        (list(joints.JOINT_NAMES[:5]), [0.0] * 5, "missing"),
        ([*joints.JOINT_NAMES[:5], "elbow"], [0.0] * 6, "unknown"),
        ([*joints.JOINT_NAMES[:5], "gripper", "gripper"], [0.0] * 7, "repeated"),
        (list(joints.JOINT_NAMES), [0.0] * 5, "joint names but values"),
    ],
)
def test_reorder_rejects_bad_names(names, values, message):
    with pytest.raises(ValueError, match=message):
        joints.reorder(names, values)
