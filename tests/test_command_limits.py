"""The safety filter's commands pass every command check downstream, at and near the limits.

The policy node's filter (fpo_policy.core.safety) and the command checks of the sim node
(``SimLoop.command``) and of the driver (``Driver.command_positions`` / ``command_trajectory``)
share one definition of "within the limits", :func:`so100_common.core.joints.outside_limits`,
and one validation, :mod:`so100_common.core.commands`: an out-of-limit command is rejected whole
and counted by both, and the previous target stays (the joint contract's out-of-limit policy).

Here any sequence of joint states (at, just past, float32-rounded and well past the limits) and
policy targets goes through the filter; every
command it sends is put into the messages the policy node publishes, serialized and deserialized
as DDS carries them, and handed to each check, which must accept it; so must the same values
rounded through float32 (a float32 pipeline in between).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from fpo_policy.core.safety import SafetyConfig, SafetyFilter
from fpo_policy.policy_node import multiarray_message, trajectory_message
from so100_common.core import joints, tasks
from so100_common.core.commands import validate_positions, validate_trajectory
from so100_driver.core.driver import Driver, DriverConfig

LO, HI = joints.lower_limits(), joints.upper_limits()
LIMITS = np.concatenate([LO, HI])


def _f32(x: float) -> float:
    return float(np.float32(x))


@st.composite
def near_limit_value(draw, joint: int) -> float:
    """A position at, just inside, just past, float32-rounded or well past a limit of ``joint``."""
    limit = draw(st.sampled_from([LO[joint], HI[joint]]))
    outward = 1.0 if limit == HI[joint] else -1.0
    kind = draw(st.sampled_from(["at", "f32", "ulps", "tiny", "small", "inside"]))
    if kind == "at":
        return float(limit)
    if kind == "f32":
        return _f32(limit)
    if kind == "ulps":
        value = float(limit)
        for _ in range(draw(st.integers(1, 4))):
            value = float(np.nextafter(value, outward * np.inf if draw(st.booleans()) else -outward * np.inf))
        return value
    if kind == "tiny":
        return float(limit + outward * draw(st.floats(-1e-5, 1e-5)))
    if kind == "small":
        return float(limit + outward * draw(st.floats(0.0, 0.29)))  # past it, within the misread tolerance
    return float(limit - outward * draw(st.floats(0.0, 0.2)))


@st.composite
def joint_positions(draw) -> list[float]:
    """(6,) positions, each joint independently near a limit or anywhere inside."""
    values = []
    for j in range(joints.NUM_JOINTS):
        if draw(st.booleans()):
            values.append(draw(near_limit_value(j)))
        else:
            values.append(draw(st.floats(float(LO[j]), float(HI[j]))))
    if draw(st.booleans()):
        values = [_f32(v) for v in values]  # the sim's float32 joint states
    return values


targets = st.one_of(
    joint_positions(),
    st.lists(st.floats(-4.0, 4.0), min_size=6, max_size=6),
    st.lists(
        st.sampled_from([*LIMITS.tolist(), *[_f32(v) for v in LIMITS], 1e300, -1e300]), min_size=6, max_size=6
    ),
)


@pytest.fixture(scope="module")
def driver():
    driver = Driver(DriverConfig(fake_hardware=True))
    yield driver
    driver.shutdown("release")


def _round_trip(msg):
    return deserialize_message(serialize_message(msg), type(msg))


def assert_accepted_downstream(command: np.ndarray, driver: Driver) -> None:
    trajectory = _round_trip(trajectory_message(command, Time(sec=1), 0.02))
    multiarray = _round_trip(multiarray_message(command))
    assert isinstance(trajectory, JointTrajectory) and isinstance(multiarray, Float64MultiArray)  # noqa: PT018
    # The sim node's checks (fpo_sim.core.sim_loop applies these) accept it, unchanged.
    np.testing.assert_array_equal(validate_trajectory(trajectory.joint_names, trajectory.points), command)
    np.testing.assert_array_equal(validate_positions(multiarray.data), command)
    # The driver's checks, fed as its node feeds them, accept it.
    driver.command_trajectory(list(trajectory.joint_names), trajectory.points)
    np.testing.assert_array_equal(driver.command_rad, command)
    driver.command_positions(multiarray.data)
    np.testing.assert_array_equal(driver.command_rad, command)
    # So do the same values after a float32 rounding (within the limits' rounding room).
    rounded = command.astype(np.float32).astype(np.float64)
    assert not np.any(joints.outside_limits(rounded)), rounded
    validate_positions(rounded)
    validate_positions(rounded.tolist(), list(joints.JOINT_NAMES))


@pytest.mark.slow
@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["state", "tick", "tick", "tick", "stale"]), joint_positions(), targets),
        min_size=1,
        max_size=12,
    ),
    ramp_ticks=st.sampled_from([0, 1, 3, 30]),
    margin=st.sampled_from([0.0, 0.05]),
)
def test_every_filtered_command_passes_the_sim_and_driver_checks(driver, events, ramp_ticks, margin):
    f = SafetyFilter(SafetyConfig(ramp_ticks=ramp_ticks, position_margin_rad=margin))
    now = 0.0
    for kind, state, target in events:
        now += 0.02
        if kind == "state":
            f.observe(joints.JOINT_NAMES, state, stamp_s=now)
            continue
        if kind == "stale":
            now += 1.0
        command = f.tick(now, target).command
        if command is not None:
            assert not np.any(joints.outside_limits(command))
            assert_accepted_downstream(command, driver)


def test_the_limits_and_their_float32_roundings_are_within_and_one_tolerance_past_is_not():
    for values in (LO, HI, LO.astype(np.float32), HI.astype(np.float32)):
        assert not np.any(joints.outside_limits(values))
        validate_positions(values)
    past = joints.LIMIT_TOLERANCE_RAD * 1.01
    for j in range(joints.NUM_JOINTS):
        for value in (LO[j] - past, HI[j] + past, np.nan):
            q = np.clip(np.zeros(joints.NUM_JOINTS), LO, HI)
            q[j] = value
            assert joints.outside_limits(q).tolist() == [i == j for i in range(joints.NUM_JOINTS)]


@pytest.mark.parametrize("spec", list(tasks.TASKS.values()), ids=lambda s: s.env_id)
def test_every_task_target_passes_the_default_filter_unchanged(spec):
    """Every task's targets (a full step, toward or past the limits) are what the safety filter's
    defaults let through: the filter neither shortens the step nor pulls the target off the limits'
    margin, so on the arm a policy's commands are the ones it learned from in the sim."""
    assert np.all(np.asarray(spec.max_delta_rad) <= SafetyConfig().step_rad), spec.max_delta_rad
    assert spec.limit_margin_rad == SafetyConfig().position_margin_rad
    rng = np.random.default_rng(0)
    q = rng.uniform(LO + 0.1, HI - 0.1, size=(64, joints.NUM_JOINTS))
    q[::2] = np.where(rng.random((32, joints.NUM_JOINTS)) < 0.5, LO, HI)  # at the limits (the rest pose's)
    targets = spec.action_to_target(np.sign(rng.normal(size=q.shape)), q)
    for position, target in zip(q, targets, strict=True):
        safety = SafetyFilter(SafetyConfig(ramp_ticks=0))
        safety.observe(joints.JOINT_NAMES, position, stamp_s=0.0)
        safety.tick(0.0, position)  # the first command holds (no step yet)
        before = safety.counters.as_dict()
        decision = safety.tick(0.0, target)
        np.testing.assert_allclose(decision.command, target, atol=1e-12)
        assert safety.counters.as_dict() == {**before, "commands_sent": before["commands_sent"] + 1}


def _commands() -> list[tuple[str, list[float], str | None]]:
    """(label, command, reason it is rejected or None): in, at and past each limit, malformed."""
    inside = [0.4, -1.0, 1.2, 0.5, 0.3, -0.5]
    past = 10 * joints.LIMIT_TOLERANCE_RAD
    table = [("inside", inside, None), ("at_upper", HI.tolist(), None), ("at_lower", LO.tolist(), None)]
    for j, name in enumerate(joints.JOINT_NAMES):
        for side, value in (("above", HI[j] + past), ("below", LO[j] - past), ("far", HI[j] + 1.0)):
            q = list(inside)
            q[j] = float(value)
            table.append((f"{name}_{side}", q, "out_of_limits"))
    table += [("nan", [*inside[:5], float("nan")], "non_finite"), ("five", inside[:5], "wrong_length")]
    return table


@pytest.mark.slow
def test_sim_and_driver_answer_every_command_alike(reach_sim, driver):
    """The out-of-limit policy, pinned on both: the same verdict and reason for every command, the
    same counts, and a rejected command leaves the previous target in place."""
    from fpo_sim.core.sim_loop import SimLoop, SimNodeConfig
    from so100_common.core.commands import CommandRejected

    loop = SimLoop(reach_sim, SimNodeConfig(auto_reset=False))
    loop.tick()
    accepted_before = driver.status().commands_accepted
    rejected_before = dict(driver.status().commands_rejected)
    for label, command, reason in _commands():
        verdicts = []
        for apply, current in (
            (loop.command, lambda: loop.target),
            (driver.command_positions, lambda: driver.command_rad),
        ):
            previous = current()
            try:
                apply(command)
                verdicts.append(None)
                np.testing.assert_array_equal(current(), command)
            except CommandRejected as rejected:
                verdicts.append(rejected.reason)
                np.testing.assert_array_equal(current(), previous)
        assert verdicts == [reason, reason], label
    status = driver.status()
    table = _commands()
    expected = {}
    for _, _, reason in table:
        if reason:
            expected[reason] = expected.get(reason, 0) + 1
    assert {k: n for k, n in loop.rejected.items() if n} == expected
    assert {k: v - rejected_before.get(k, 0) for k, v in status.commands_rejected.items()} == expected
    accepted = sum(reason is None for _, _, reason in table)
    assert loop.accepted == status.commands_accepted - accepted_before == accepted
