"""The action squashing convention and running observation normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fpo_policy.core.normalization import RunningMeanStd
from fpo_policy.core.squash import SQUASH, ActionBounds

BOUNDS = ActionBounds(np.array([-2.0, 0.0]), np.array([2.0, 1.0]))


def test_squash_convention_is_tanh_affine_into_the_bounds():
    assert SQUASH == "tanh"
    u = np.array([[0.0, 0.0], [np.arctanh(0.5), -np.arctanh(0.5)], [50.0, -50.0]])
    expected = np.array([[0.0, 0.5], [1.0, 0.25], [2.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(BOUNDS.to_env(u), expected, atol=1e-6)


@given(arrays(np.float64, (7, 2), elements=st.floats(-1e6, 1e6)))
def test_squashed_actions_always_lie_inside_the_bounds(u):
    a = BOUNDS.to_env(u)
    assert a.dtype == np.float32
    assert np.all(a >= BOUNDS.low.astype(np.float32))
    assert np.all(a <= BOUNDS.high.astype(np.float32))


@pytest.mark.parametrize(
    ("low", "high"),
    [([-1.0], [1.0, 2.0]), ([-np.inf], [1.0]), ([1.0], [1.0]), ([np.nan], [1.0])],
)
def test_bad_bounds_are_refused(low, high):
    with pytest.raises(ValueError, match="action bounds"):
        ActionBounds(np.array(low), np.array(high))


def test_running_statistics_match_the_whole_data():
    rng = np.random.default_rng(0)
    data = rng.normal(loc=[3.0, -1.0], scale=[2.0, 0.5], size=(1000, 2))
    rms = RunningMeanStd.zeros(2)
    for chunk in np.array_split(data, 13):
        rms.update(chunk)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-4)
    z = rms.normalize(data)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-3)
    assert np.all(np.abs(rms.normalize(np.array([[1e9, -1e9]]))) == rms.clip)
