"""Command validation: a table of what is refused, and no invalid input ever passes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from so100_common.core.commands import CommandRejected, validate_positions, validate_trajectory
from so100_common.core.joints import JOINT_NAMES, REST_POSE_RAD, lower_limits, upper_limits

REST = list(REST_POSE_RAD)


def _with(index, value):
    values = list(REST)
    values[index] = value
    return values


@pytest.mark.parametrize(
    ("positions", "names", "reason"),
    [
        (REST[:5], None, "wrong_length"),
        ([*REST, 0.0], None, "wrong_length"),
        ([], None, "wrong_length"),
        (REST, list(JOINT_NAMES[:5]), "wrong_length"),
        (REST, [*JOINT_NAMES[:5], "elbow"], "wrong_names"),
        (REST, [*JOINT_NAMES[:5], "shoulder_pan"], "wrong_names"),
        (_with(0, float("nan")), None, "non_finite"),
        (_with(3, float("inf")), None, "non_finite"),
        (_with(5, -float("inf")), list(JOINT_NAMES), "non_finite"),
        (_with(0, 2.01), None, "out_of_limits"),
        (_with(1, -1.6), None, "out_of_limits"),
        (_with(5, 1.2), list(JOINT_NAMES), "out_of_limits"),
    ],
)
def test_rejections(positions, names, reason):
    with pytest.raises(CommandRejected) as info:
        validate_positions(positions, names)
    assert info.value.reason == reason


def test_named_command_is_reordered_to_the_contract():
    names = list(reversed(JOINT_NAMES))
    out = validate_positions(list(reversed(REST)), names)
    np.testing.assert_allclose(out, REST)


def test_limits_themselves_are_accepted():
    np.testing.assert_allclose(validate_positions(upper_limits()), upper_limits())
    np.testing.assert_allclose(validate_positions(lower_limits()), lower_limits())


@pytest.mark.parametrize(
    ("names", "points", "reason"),
    [
        (list(JOINT_NAMES), [], "not_one_point"),
        (list(JOINT_NAMES), [SimpleNamespace(positions=REST)] * 2, "not_one_point"),
        ([], [SimpleNamespace(positions=REST)], "wrong_names"),
        (list(JOINT_NAMES), [SimpleNamespace(positions=_with(2, 9.0))], "out_of_limits"),
    ],
)
def test_trajectory_rejections(names, points, reason):
    with pytest.raises(CommandRejected) as info:
        validate_trajectory(names, points)
    assert info.value.reason == reason


def test_one_point_trajectory_accepted():
    out = validate_trajectory(list(JOINT_NAMES), [SimpleNamespace(positions=REST)])
    np.testing.assert_allclose(out, REST)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=8))
def test_whatever_passes_is_six_finite_values_within_limits(values):
    arr = np.asarray(values, dtype=float)
    valid = (
        arr.size == 6
        and bool(np.all(np.isfinite(arr)))
        and bool(np.all(arr >= lower_limits() - 1e-6))
        and bool(np.all(arr <= upper_limits() + 1e-6))
    )
    if not valid:
        with pytest.raises(CommandRejected):
            validate_positions(values)
        return
    out = validate_positions(values)
    assert out.shape == (6,)
    assert np.all(out >= lower_limits())
    assert np.all(out <= upper_limits())
