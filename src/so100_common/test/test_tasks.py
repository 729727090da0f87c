"""The task specs: observation layout, action mapping and (de)serialisation pinned."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from so100_common.core import tasks
from so100_common.core.joints import COMMAND_MARGIN_RAD, REST_POSE_RAD, lower_limits, upper_limits
from so100_common.core.kinematics import tcp_position

Q = np.array(REST_POSE_RAD)
QD = np.array([0.1, -0.2, 0.3, -0.4, 0.5, -0.6])


def test_registry():
    assert set(tasks.TASKS) == {
        "SO100Reach-v1",
        "SO100ReachTwoGoals-v1",
        "fpo_sim/PickCubeSO100-v1",
        "fpo_sim/SO100GraspCube-v1",
        "SO100PickLift-v1",
    }
    assert tasks.get("fpo_sim.envs:SO100Reach-v1") is tasks.REACH
    with pytest.raises(KeyError, match="unknown task"):
        tasks.get("Nope-v0")


def test_reach_observation_layout():
    """q | qd | goal | tcp | goal - tcp, float32, obs_dim 21."""
    goal = np.array([0.1, -0.2, 0.15])
    obs = tasks.REACH.observation(Q, QD, goal)
    assert obs.dtype == np.float32
    assert obs.shape == (tasks.REACH.obs_dim,) == (21,)
    tcp = tcp_position(Q)
    expected = np.concatenate([Q, QD, goal, tcp, goal - tcp])
    np.testing.assert_allclose(obs, expected.astype(np.float32))


def test_two_goal_observation_layout():
    goal = np.array([0.1, -0.2, 0.15, -0.1, -0.2, 0.15])
    spec = tasks.REACH_TWO_GOALS
    obs = spec.observation(Q, QD, goal)
    assert obs.shape == (spec.obs_dim,) == (27,)
    tcp = tcp_position(Q)
    expected = np.concatenate([Q, QD, goal, tcp, goal[:3] - tcp, goal[3:] - tcp])
    np.testing.assert_allclose(obs, expected.astype(np.float32))


def test_joints_goal_layout_and_batching():
    spec = tasks.with_goal_dim(tasks.PICK_CUBE, 4)
    goal = np.arange(4.0)
    obs = spec.observation(Q, QD, goal)
    np.testing.assert_allclose(obs, np.concatenate([Q, QD, goal]).astype(np.float32))
    batch = spec.observation(np.stack([Q, Q]), np.stack([QD, QD]), np.stack([goal, goal]))
    assert batch.shape == (2, 16)
    np.testing.assert_array_equal(batch[1], obs)


@pytest.mark.parametrize(
    ("q", "qd", "goal", "match"),
    [
        (np.zeros(5), np.zeros(5), np.zeros(3), "must both be"),
        (np.zeros(6), np.zeros(5), np.zeros(3), "must both be"),
        (np.zeros(6), np.zeros(6), np.zeros(6), "needs"),
    ],
)
def test_observation_rejects_wrong_shapes(q, qd, goal, match):
    with pytest.raises(ValueError, match=match):
        tasks.REACH.observation(q, qd, goal)


def test_action_mapping_known_answers():
    q = np.zeros(6)
    np.testing.assert_allclose(tasks.REACH.action_to_target(np.ones(6), q), [0.1] * 5 + [0.2])
    np.testing.assert_allclose(tasks.REACH.action_to_target(-0.5 * np.ones(6), q), [-0.05] * 5 + [-0.1])
    # Out-of-range actions are clipped to +-1 before scaling.
    np.testing.assert_allclose(tasks.REACH.action_to_target(10 * np.ones(6), q), [0.1] * 5 + [0.2])
    # The shipped ManiSkill tasks keep ManiSkill's so100 bounds.
    np.testing.assert_allclose(tasks.PICK_CUBE.action_to_target(np.ones(6), q), [0.05] * 5 + [0.2])
    # Targets stay the command margin (the safety filter's default) inside the joint limits.
    margin = COMMAND_MARGIN_RAD
    np.testing.assert_allclose(
        tasks.REACH.action_to_target(np.ones(6), upper_limits()), upper_limits() - margin
    )
    np.testing.assert_allclose(
        tasks.REACH.action_to_target(-np.ones(6), lower_limits()), lower_limits() + margin
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_action_mapping_rejects_non_finite(bad):
    a = np.zeros(6)
    a[2] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        tasks.REACH.action_to_target(a, np.zeros(6))


def test_action_mapping_rejects_wrong_length():
    with pytest.raises(ValueError, match="must both be"):
        tasks.REACH.action_to_target(np.zeros(7), np.zeros(6))


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, 6, elements=finite), arrays(np.float64, 6, elements=st.floats(-4, 4)))
def test_action_mapping_bounded_and_within_limits(action, q):
    target = tasks.REACH.action_to_target(action, q)
    assert np.all(target >= lower_limits())
    assert np.all(target <= upper_limits())
    q_in = np.clip(q, lower_limits(), upper_limits())
    step = tasks.REACH.action_to_target(action, q_in) - q_in
    assert np.all(np.abs(step) <= np.array(tasks.REACH.max_delta_rad) + 1e-12)


@pytest.mark.parametrize("spec", list(tasks.TASKS.values()))
def test_dict_round_trip_through_json(spec):
    d = json.loads(json.dumps(spec.to_dict()))
    assert tasks.from_dict(d) == spec


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(extra=1), "unknown task spec keys"),
        (lambda d: d.pop("env_id"), "misses"),
        (lambda d: d.update(observation_layout="pixels"), "unknown observation_layout"),
        (lambda d: d.update(goal_dim=4), "goal_dim = 3 K"),
        (lambda d: d.update(goal_dim=2.5), "integer"),
        (lambda d: d.update(max_delta_rad=[0.1] * 5), "max_delta_rad"),
        (lambda d: d.update(max_delta_rad=[0.1] * 5 + [-0.1]), "max_delta_rad"),
        (lambda d: d.update(control_rate_hz=0), "positive"),
        (lambda d: d.update(limit_margin_rad=-0.01), "limit_margin_rad"),
        (lambda d: d.update(limit_margin_rad=1.6), "limit_margin_rad"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d.update(control_rate_hz="fast"), "invalid task spec"),
        (lambda d: d.update(env_id=3), "env_id"),
    ],
)
def test_from_dict_rejects_bad_input(mutate, match):
    d = tasks.REACH.to_dict()
    mutate(d)
    with pytest.raises(ValueError, match=match):
        tasks.from_dict(d)


def test_a_spec_stored_before_the_command_margin_maps_to_the_plain_limits():
    """Checkpoints written before ``limit_margin_rad`` existed keep the mapping they learned."""
    d = tasks.REACH.to_dict()
    del d["limit_margin_rad"]
    old = tasks.from_dict(d)
    assert old.limit_margin_rad == 0.0
    np.testing.assert_allclose(old.action_to_target(np.ones(6), upper_limits()), upper_limits())


def test_from_dict_rejects_non_dict():
    with pytest.raises(ValueError, match="must be a dict"):
        tasks.from_dict(["SO100Reach-v1"])
