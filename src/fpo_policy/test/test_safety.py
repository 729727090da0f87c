"""The safety filter: property-based tests of its invariant, and a table per guard."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fpo_policy.core.safety import SafetyConfig, SafetyCounters, SafetyFilter, SafetyState
from so100_common.core.joints import (
    JOINT_NAMES,
    NUM_JOINTS,
    REST_POSE_RAD,
    lower_limits,
    outside_limits,
    upper_limits,
)

CONFIG = SafetyConfig()
LO, HI = lower_limits(), upper_limits()
MID = (LO + HI) / 2
# Float tolerance of the clip arithmetic (m + s) - m.
EPS = 1e-9

wild_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(-10.0, 10.0),
    st.sampled_from([0.0, -0.0, 1e300, -1e300, 1e-300, np.nan, np.inf, -np.inf]),
)


@st.composite
def joint_states(draw):
    """Joint states as they may arrive: mostly plausible, sometimes garbage, names in any order."""
    kind = draw(st.sampled_from(["inside", "near_limits", "wild"]))
    if kind == "inside":
        values = [draw(st.floats(lo, hi)) for lo, hi in zip(LO, HI)]
    elif kind == "near_limits":
        values = [draw(st.floats(lo - 0.5, hi + 0.5)) for lo, hi in zip(LO, HI)]
    else:
        values = draw(st.lists(wild_floats, min_size=0, max_size=8))
    names = list(JOINT_NAMES)
    if draw(st.booleans()):
        names = draw(st.permutations(names))
    if draw(st.integers(0, 9)) == 0:
        names = draw(st.lists(st.sampled_from([*JOINT_NAMES, "elbow", "gripper_joint", ""]), max_size=8))
    return names, values


@st.composite
def policy_targets(draw):
    """Policy outputs: plausible, huge, non-finite, wrong length; sometimes with (wrong) names."""
    kind = draw(st.sampled_from(["near", "wild", "length"]))
    if kind == "near":
        target = [draw(st.floats(lo - 1.0, hi + 1.0)) for lo, hi in zip(LO, HI)]
    elif kind == "wild":
        target = draw(st.lists(wild_floats, min_size=NUM_JOINTS, max_size=NUM_JOINTS))
    else:
        target = draw(st.lists(st.floats(-3.0, 3.0), min_size=0, max_size=12))
    names = None
    choice = draw(st.integers(0, 5))
    if choice == 0:
        names = draw(st.permutations(list(JOINT_NAMES)))
    elif choice == 1:
        names = draw(st.lists(st.sampled_from([*JOINT_NAMES, "wrist", "joint_1"]), max_size=8))
    if draw(st.booleans()):
        with np.errstate(over="ignore"):  # huge float64 values become inf in float32: also a case
            target = np.asarray(target, dtype=draw(st.sampled_from([np.float64, np.float32])))
    return target, names


def assert_safe(decision, measured):
    """The invariant of the module docstring, for a sent command."""
    cmd = decision.command
    assert cmd.shape == (NUM_JOINTS,)
    assert np.all(np.isfinite(cmd))
    # Always within the URDF limits, exactly (not only within the validators' tolerance).
    assert np.all((cmd >= LO) & (cmd <= HI)), (cmd, measured)
    assert not np.any(outside_limits(cmd))
    p = np.clip(measured, LO, HI)
    step = CONFIG.step_rad
    assert np.all(np.abs(cmd - p) <= step + EPS), (cmd, measured)
    assert np.all(cmd >= np.minimum(CONFIG.lower_rad, p) - EPS)
    assert np.all(cmd <= np.maximum(CONFIG.upper_rad, p) + EPS)


@pytest.mark.slow
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["state", "tick", "tick", "estop", "reset", "wait"]),
            joint_states(),
            policy_targets(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_input_sequence_gives_a_safe_command_or_none(events):
    f = SafetyFilter(CONFIG)
    now = 0.0
    for kind, (names, values), (target, target_names) in events:
        now += 0.02
        if kind == "state":
            f.observe(names, values, stamp_s=now)
        elif kind == "estop":
            f.estop()
        elif kind == "reset":
            f.reset_estop()
        elif kind == "wait":
            now += 0.3
        else:
            measured = f.measured_position_rad
            sent_before = f.counters.commands_sent
            decision = f.tick(now, target, target_names)
            assert decision.state == f.state
            if decision.command is None:
                assert f.counters.commands_sent == sent_before
                continue
            assert f.counters.commands_sent == sent_before + 1
            assert measured is not None, "a command before any joint state"
            assert not f.estopped
            assert_safe(decision, measured)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(state=joint_states(), target=policy_targets(), ticks=st.integers(0, 35))
def test_after_a_ramp_any_target_is_safe(state, target, ticks):
    """The same invariant at full step (after the smooth start), on one measured pose."""
    f = SafetyFilter(CONFIG)
    names, values = state
    accepted = f.observe(names, values, stamp_s=0.0)
    for _ in range(ticks):
        f.tick(0.0, f.measured_position_rad)
    decision = f.tick(0.0, *target)
    if not accepted:
        assert decision.command is None
        return
    if decision.command is not None:
        assert_safe(decision, f.measured_position_rad)


def fresh(position=REST_POSE_RAD, ramp_ticks=0, **config) -> SafetyFilter:
    f = SafetyFilter(SafetyConfig(ramp_ticks=ramp_ticks, **config))
    assert f.observe(JOINT_NAMES, position, stamp_s=0.0)
    return f


def active(position=MID, **config) -> SafetyFilter:
    """A filter past its smooth start, at ``position``."""
    f = fresh(position, **config)
    assert f.tick(0.0, position).state == SafetyState.RAMPING
    return f


# Guards, one table each ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "counter"),
    [
        ([np.nan, 0, 0, 0, 0, 0], "rejected_nonfinite"),
        ([0, 0, 0, 0, 0, np.inf], "rejected_nonfinite"),
        ([0, 0, -np.inf, 0, 0, 0], "rejected_nonfinite"),
        ([0, 0, 0, 0, 0], "rejected_shape"),
        ([0, 0, 0, 0, 0, 0, 0], "rejected_shape"),
        ([], "rejected_shape"),
        ([[0, 0, 0, 0, 0, 0]], "rejected_shape"),
        ("abcdef", "rejected_shape"),
    ],
)
def test_bad_targets_send_nothing_and_are_counted(target, counter):
    f = active()
    decision = f.tick(0.0, target)
    assert decision.command is None
    assert getattr(f.counters, counter) == 1
    assert f.counters.commands_sent == 1  # only the ramp's first command


@pytest.mark.parametrize(
    "names",
    [
        [*JOINT_NAMES[:5], "jaw"],
        list(JOINT_NAMES[:5]),
        [*JOINT_NAMES, "extra"],
        [*JOINT_NAMES[:5], "shoulder_pan"],
    ],
)
def test_targets_with_wrong_names_are_rejected(names):
    f = active()
    assert f.tick(0.0, np.zeros(len(names)), names).command is None
    assert f.counters.rejected_shape == 1


def test_targets_with_reordered_names_are_reordered():
    f = active()
    names = list(reversed(JOINT_NAMES))
    target = MID + 0.01 * np.arange(1, 7)
    decision = f.tick(0.0, target[::-1], names)
    np.testing.assert_allclose(decision.command, target)


@pytest.mark.parametrize(
    ("names", "position", "why"),
    [
        (list(JOINT_NAMES[:5]), MID[:5], "missing joint"),
        ([*JOINT_NAMES[:5], "jaw"], MID, "unknown joint"),
        (list(JOINT_NAMES), MID[:5], "length"),
        (list(JOINT_NAMES), [*MID[:5], np.nan], "nan"),
        (list(JOINT_NAMES), [*MID[:5], np.inf], "inf"),
        (list(JOINT_NAMES), [*MID[:5], 5.0], "far outside limits"),
    ],
)
def test_bad_joint_states_are_ignored(names, position, why):
    f = SafetyFilter(CONFIG)
    assert not f.observe(names, position, stamp_s=0.0), why
    assert f.measured_position_rad is None
    assert f.counters.rejected_joint_states == 1
    assert f.tick(0.0, MID).state == SafetyState.STARTING


def test_reordered_joint_states_are_reordered():
    f = SafetyFilter(CONFIG)
    assert f.observe(list(reversed(JOINT_NAMES)), MID[::-1], [1, 2, 3, 4, 5, 6], stamp_s=0.0)
    np.testing.assert_allclose(f.measured_position_rad, MID)
    np.testing.assert_allclose(f.measured_velocity_rad_s, [6, 5, 4, 3, 2, 1])


@pytest.mark.parametrize(
    ("offset", "clamped"),
    [
        (np.array([0.05, 0, 0, 0, 0, 0]), False),
        (np.array([0.1, 0, 0, 0, 0, 0]), False),
        (np.array([0.3, 0, 0, 0, 0, 0]), True),
        (np.array([0, -0.3, 0, 0, 0, 0]), True),
        (np.array([0, 0, 0, 0, 0, 0.25]), False),
        (np.array([0, 0, 0, 0, 0, 0.4]), True),
    ],
)
def test_step_limit_table(offset, clamped):
    f = active()
    decision = f.tick(0.0, MID + offset)
    expected = MID + np.clip(offset, -CONFIG.step_rad, CONFIG.step_rad)
    np.testing.assert_allclose(decision.command, expected)
    assert f.counters.clamped_step == int(clamped)
    assert f.counters.clamped_position == 0


@pytest.mark.parametrize("joint", range(NUM_JOINTS))
@pytest.mark.parametrize("side", [-1, 1])
def test_position_limit_table(joint, side):
    """Near a limit, a target beyond it stops at the limit minus the margin."""
    limit = HI if side > 0 else LO
    position = MID.copy()
    position[joint] = limit[joint] - side * 0.06
    f = active(position)
    target = position.copy()
    target[joint] = limit[joint] + side * 1.0
    command = f.tick(0.0, target).command
    assert command[joint] == pytest.approx(limit[joint] - side * CONFIG.position_margin_rad)
    assert f.counters.clamped_position == 1


def test_arm_outside_the_limits_is_commanded_from_the_limit():
    position = MID.copy()
    position[0] = HI[0] + 0.2  # beyond the limit, within the misread tolerance
    f = active(position)
    command = f.tick(0.0, position + 1.0).command
    assert command[0] == pytest.approx(HI[0] - CONFIG.position_margin_rad)
    assert f.tick(0.0, position - 1.0).command[0] == pytest.approx(HI[0] - CONFIG.max_step_rad)


@pytest.mark.parametrize("beyond_rad", [1e-9, 1e-6, 0.0041, 0.05, 0.29])
def test_an_arm_resting_past_a_limit_gets_commands_within_the_limits(beyond_rad):
    """A reach episode starts at the rest pose plus up to 0.02 rad of noise per joint, so the elbow
    (rest 1.5708, on its limit) can start up to 0.02 rad past its limit.

    Each command of the smooth start used to be one ramp step from the measured position, outside
    the limits, and the sim node rejected it (elbow_flex=1.5749). Now every command, the hold
    included, is within the limits as the sim's and the driver's checks define them.
    """
    position = np.array(REST_POSE_RAD)
    elbow = JOINT_NAMES.index("elbow_flex")
    position[elbow] = HI[elbow] + beyond_rad
    f = fresh(position, ramp_ticks=30)
    commands = [f.tick(0.0, position).command for _ in range(40)]
    commands.append(f.tick(1.0, position).command)  # stale: the hold
    assert f.state == SafetyState.STALE_HOLD
    for command in commands:
        assert not np.any(outside_limits(command)), command
        assert command[elbow] <= HI[elbow]
    assert commands[0][elbow] == HI[elbow]  # the first command: the measured pose, on the limit
    assert commands[-1][elbow] == HI[elbow]


def test_smooth_start_first_command_is_the_measured_pose_then_ramps():
    f = fresh(MID, ramp_ticks=4)
    target = MID + 1.0
    steps = []
    for _ in range(7):
        decision = f.tick(0.0, target)
        steps.append((decision.state, float(decision.command[0] - MID[0])))
    assert steps[0] == (SafetyState.RAMPING, 0.0)
    assert [s for s, _ in steps] == [SafetyState.RAMPING] * 5 + [SafetyState.ACTIVE] * 2
    np.testing.assert_allclose([d for _, d in steps], [0, 0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


@pytest.mark.parametrize("interruption", ["estop", "stale", "no_policy", "waiting_for_input"])
def test_every_interruption_restarts_the_smooth_start(interruption):
    f = active(ramp_ticks=3)
    for _ in range(5):
        f.tick(0.0, MID)
    assert f.state == SafetyState.ACTIVE
    now = 0.0
    if interruption == "estop":
        f.estop()
        f.tick(now, MID)
        f.reset_estop()
    elif interruption == "stale":
        now = 1.0
        f.tick(now, MID)
        f.observe(JOINT_NAMES, MID, stamp_s=now)
    elif interruption == "waiting_for_input":
        f.tick(now, None, idle=SafetyState.WAITING_FOR_INPUT)
    else:
        f.tick(now, None)
    decision = f.tick(now, MID + 1.0)
    assert decision.state == SafetyState.RAMPING
    np.testing.assert_allclose(decision.command, MID)


# States ------------------------------------------------------------------------------------------


def test_nothing_before_the_first_joint_state():
    f = SafetyFilter(CONFIG)
    decision = f.tick(0.0, MID)
    assert (decision.state, decision.command) == (SafetyState.STARTING, None)
    assert f.counters == SafetyCounters()


def test_no_policy_sends_nothing():
    f = active()
    decision = f.tick(0.0, None)
    assert (decision.state, decision.command) == (SafetyState.NO_POLICY, None)


def test_a_policy_waiting_for_input_sends_nothing():
    f = active()
    sent = f.counters.commands_sent
    decision = f.tick(0.0, None, idle=SafetyState.WAITING_FOR_INPUT)
    assert (decision.state, decision.command) == (SafetyState.WAITING_FOR_INPUT, None)
    assert f.counters.commands_sent == sent


@pytest.mark.parametrize("idle", [SafetyState.ACTIVE, SafetyState.ESTOP, SafetyState.STARTING])
def test_only_the_two_idle_states_name_a_missing_target(idle):
    with pytest.raises(ValueError, match="idle"):
        active().tick(0.0, None, idle=idle)


@pytest.mark.parametrize(
    ("age_s", "state"),
    [
        (0.0, SafetyState.ACTIVE),
        (0.2, SafetyState.ACTIVE),
        (0.26, SafetyState.STALE_HOLD),
        (5.0, SafetyState.STALE_HOLD),
    ],
)
def test_stale_watchdog_table(age_s, state):
    f = active()
    decision = f.tick(age_s, MID + 0.05)
    assert decision.state == state
    if state == SafetyState.STALE_HOLD:
        np.testing.assert_array_equal(decision.command, MID)
        assert f.counters.stale_holds == 1
    else:
        np.testing.assert_allclose(decision.command, MID + 0.05)


def test_rejected_joint_states_do_not_refresh_the_watchdog():
    f = active()
    assert not f.observe(JOINT_NAMES, [np.nan] * 6, stamp_s=1.0)
    assert f.tick(1.0, MID).state == SafetyState.STALE_HOLD


def test_estop_is_latched_until_reset():
    f = active()
    f.estop()
    for t in range(5):
        f.observe(JOINT_NAMES, MID, stamp_s=float(t))
        decision = f.tick(float(t), MID)
        assert (decision.state, decision.command) == (SafetyState.ESTOP, None)
    assert f.counters.estop_blocks == 5
    f.reset_estop()
    assert f.tick(4.0, MID).state == SafetyState.RAMPING


def test_estop_before_any_joint_state():
    f = SafetyFilter(CONFIG)
    f.estop()
    assert f.tick(0.0, MID).state == SafetyState.ESTOP


def test_counters_carry_the_policy_status_field_names():
    names = set(SafetyCounters().as_dict())
    expected = {
        "commands_sent",
        "clamped_position",
        "clamped_step",
        "rejected_nonfinite",
        "rejected_shape",
        "stale_holds",
        "estop_blocks",
    }
    assert expected <= names
    assert names - expected == {"rejected_joint_states"}


def test_states_match_policy_status_constants():
    fpo_msgs = pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
    for state in SafetyState:
        assert getattr(fpo_msgs.PolicyStatus, f"SAFETY_{state.name}") == state.value
    fields = fpo_msgs.PolicyStatus.get_fields_and_field_types()
    for name in SafetyCounters().as_dict():
        if name != "rejected_joint_states":
            assert fields[name] == "uint64", name


@pytest.mark.parametrize(
    "config",
    [
        {"position_margin_rad": -0.1},
        {"position_margin_rad": 1.2},
        {"max_step_rad": float("nan")},
        {"stale_timeout_s": 0.0},
        {"ramp_ticks": -1},
        {"ramp_ticks": 1.5},
    ],
)
def test_bad_config_is_refused(config):
    with pytest.raises(ValueError, match="SafetyConfig"):
        SafetyConfig(**config)
