"""The driver core against the emulated arm, over a real pseudo-terminal and pyserial."""

import time
from pathlib import Path

import numpy as np
import pytest

from so100_common.core import joints
from so100_common.core.commands import CommandRejected
from so100_driver.core.calibration import RAD_PER_TICK
from so100_driver.core.driver import Driver, DriverConfig, DriverState, _make_fake_bus
from so100_driver.core.emulator import Faults, PtyServer

LEROBOT_FILE = str(Path(__file__).parent / "data" / "lerobot_so100_follower.json")
REST = np.array(joints.REST_POSE_RAD)
POSE = np.array([0.5, -0.8, 0.9, 0.3, -1.0, 0.2])


def run_until(driver, predicate, timeout_s=5.0, period_s=0.005):
    """Cycle the driver (as its thread would) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        driver.cycle()
        if predicate():
            return True
        time.sleep(period_s)
    return False


def cycles(driver, n, period_s=0.005):
    for _ in range(n):
        driver.cycle()
        time.sleep(period_s)


def nudge_toward_mid_range(emulator, ticks):
    """Move every limp joint by hand, inward so it stays within its calibrated range."""
    with emulator.lock:
        for servo in emulator.servos.values():
            inward = 1 if servo.get("Present_Position") < 2048 else -1
            servo.move_by_hand(servo.actual_ticks + inward * ticks)


def servo_goals(emulator):
    return np.array([emulator.servo(i).get("Goal_Position") for i in joints.SERVO_IDS])


@pytest.fixture
def make_driver():
    made = []

    def make(**kw):
        kw.setdefault("calibration_file", LEROBOT_FILE)
        driver = Driver(DriverConfig(fake_hardware=True, **kw))
        made.append(driver)
        return driver, driver.fake.bus

    yield make
    for driver in made:
        driver.shutdown("release")


def test_bring_up_configures_holds_and_streams(make_driver):
    driver, emulator = make_driver()
    assert driver.status().state == DriverState.DISCONNECTED
    driver.cycle()
    status = driver.status()
    assert status.state == DriverState.RUNNING, status.message
    for servo in emulator.servos.values():
        assert servo.torque_on()
        assert servo.get("Goal_Position") == servo.get("Present_Position")
        gains = (servo.get("P_Coefficient"), servo.get("I_Coefficient"), servo.get("D_Coefficient"))
        assert gains == (16, 0, 32)
        assert servo.get("Return_Delay_Time") == 0
        assert servo.get("Lock") == 1
    gripper = emulator.servo(6)
    caps = [gripper.get(n) for n in ("Max_Torque_Limit", "Protection_Current", "Overload_Torque")]
    assert caps == [500, 250, 25]
    assert emulator.servo(1).get("Max_Torque_Limit") == 1000
    first = driver.latest_sample()
    np.testing.assert_allclose(first.position_rad, driver.calibration.clamp_rad(REST), atol=RAD_PER_TICK)
    cycles(driver, 5)
    assert driver.latest_sample().seq > first.seq
    np.testing.assert_allclose(driver.latest_sample().velocity_rad_s, 0.0)


def test_bring_up_refuses_a_wrong_model_and_retries(make_driver):
    driver, emulator = make_driver(reconnect_period_s=0.1)
    emulator.servo(3).regs[3:5] = (999).to_bytes(2, "little")
    driver.cycle()
    status = driver.status()
    assert status.state == DriverState.DISCONNECTED
    assert "servo 3 is model 999" in status.message
    assert not any(s.torque_on() for s in emulator.servos.values())
    assert driver.latest_sample() is None
    emulator.servo(3).set("Model_Number", 0)  # read-only over the bus, not to the test
    emulator.servo(3).regs[3:5] = (777).to_bytes(2, "little")
    assert run_until(driver, lambda: driver.status().state == DriverState.RUNNING)


def test_bring_up_writes_the_calibration_into_the_servos(make_driver):
    driver, emulator = make_driver()
    emulator.servo(2).set("Homing_Offset", 0)
    emulator.servo(2).set("Max_Position_Limit", 4095)
    driver.cycle()
    assert emulator.servo(2).get("Homing_Offset") == 1380
    assert emulator.servo(2).get("Max_Position_Limit") == 3208


def test_a_command_moves_the_arm(make_driver):
    driver, _ = make_driver()
    driver.cycle()
    driver.command_positions(POSE)
    assert run_until(
        driver, lambda: np.allclose(driver.latest_sample().position_rad, POSE, atol=2 * RAD_PER_TICK)
    )
    assert driver.status().command_fresh


def test_bad_commands_are_refused_and_change_nothing(make_driver):
    driver, emulator = make_driver()
    driver.cycle()
    before = servo_goals(emulator)
    bad = {
        "wrong_length": [0.0] * 5,
        "non_finite": [0.0, np.nan, 0, 0, 0, 0],
        "out_of_limits": [0.0, 0.0, 1.6, 0.0, 0.0, 0.0],  # elbow_flex past its 1.5708 rad limit
    }
    for reason, command in bad.items():
        with pytest.raises(CommandRejected) as rejected:
            driver.command_positions(command)
        assert rejected.value.reason == reason
    with pytest.raises(CommandRejected, match="unknown joints"):
        driver.command_positions([0.0] * 6, ["base", *joints.JOINT_NAMES[1:]])
    cycles(driver, 3)
    np.testing.assert_array_equal(servo_goals(emulator), before)
    status = driver.status()
    assert status.commands_rejected == {
        "wrong_length": 1,
        "non_finite": 1,
        "out_of_limits": 1,
        "wrong_names": 1,
    }
    assert status.commands_accepted == 0
    assert driver.command_rad is None


def test_goals_within_the_urdf_limits_are_clamped_to_the_calibrated_range(make_driver):
    """The calibrated range may be narrower than the URDF's: a command at the URDF limits is
    accepted and each goal then clamped to the arm's range (a command past them is refused, above)."""
    driver, emulator = make_driver(max_step_rad=0.0, command_timeout_s=10.0)
    driver.cycle()
    cal = driver.calibration
    for far in (joints.upper_limits(), joints.lower_limits()):
        driver.command_positions(far)
        goals, seen = [], []

        def settled(goals=goals, seen=seen):
            goals.append(servo_goals(emulator))
            seen.append(driver.latest_sample().position_rad)
            return len(seen) > 10 and np.allclose(seen[-1], seen[-10])

        assert run_until(driver, settled)
        assert np.all(np.array(goals) >= cal.range_min)
        assert np.all(np.array(goals) <= cal.range_max)
        q = driver.latest_sample().position_rad
        assert np.all(q <= joints.upper_limits() + RAD_PER_TICK)
        assert np.all(q >= joints.lower_limits() - RAD_PER_TICK)
    # The command at the lower limits ends at the lower limit of each joint (URDF or calibrated range).
    np.testing.assert_allclose(q, cal.lower_rad, atol=2 * RAD_PER_TICK)


def test_max_step_limits_each_goal_relative_to_the_present_pose(make_driver):
    driver, emulator = make_driver(max_step_rad=0.1)
    driver.cycle()
    driver.command_positions(POSE)
    driver.cycle()
    present = driver.calibration.ticks_to_rad([s.get("Present_Position") for s in emulator.servos.values()])
    goal = driver.calibration.ticks_to_rad(servo_goals(emulator))
    assert np.all(np.abs(goal - present) <= 0.1 + 2 * RAD_PER_TICK)


def test_a_stale_command_holds_the_pose_it_had_reached(make_driver):
    driver, emulator = make_driver(command_timeout_s=0.1, max_step_rad=0.02)
    driver.cycle()
    driver.command_positions(POSE)
    assert run_until(driver, lambda: not driver.status().command_fresh, timeout_s=2.0)
    held = driver.latest_sample().position_rad
    assert not np.allclose(held, POSE, atol=0.05)  # stopped on the way
    cycles(driver, 30)
    np.testing.assert_allclose(driver.latest_sample().position_rad, held, atol=0.03)
    assert "holding" in driver.status().message
    assert all(s.torque_on() for s in emulator.servos.values())


def test_estop_is_latched_cuts_torque_and_resets_to_the_present_pose(make_driver):
    driver, emulator = make_driver()
    driver.cycle()
    driver.engage_estop()
    driver.cycle()
    assert driver.status().state == DriverState.ESTOP
    assert not any(s.torque_on() for s in emulator.servos.values())
    goals = servo_goals(emulator)
    driver.command_positions(POSE)
    cycles(driver, 5)
    np.testing.assert_array_equal(servo_goals(emulator), goals)  # commands are ignored
    assert driver.latest_sample() is not None  # feedback continues
    # The arm sags while limp; on reset the goal is where it is now, not where it was.
    nudge_toward_mid_range(emulator, 50)
    ok, _ = driver.reset_estop()
    assert ok
    driver.cycle()
    assert driver.status().state == DriverState.RUNNING
    for servo in emulator.servos.values():
        assert servo.torque_on()
        assert abs(servo.get("Goal_Position") - servo.get("Present_Position")) <= 1
    # The command given during the e-stop is not executed after the reset, not even later.
    goals = servo_goals(emulator)
    cycles(driver, 5)
    assert not driver.status().command_fresh
    np.testing.assert_array_equal(servo_goals(emulator), goals)
    driver.command_positions(POSE)
    driver.cycle()
    assert driver.status().command_fresh


def test_protective_stop_holds_and_ignores_commands(make_driver):
    driver, emulator = make_driver()
    driver.cycle()
    driver.set_protective_stop(True)
    driver.command_positions(POSE)
    cycles(driver, 10)
    assert driver.status().state == DriverState.PROTECTIVE_STOP
    assert all(s.torque_on() for s in emulator.servos.values())
    np.testing.assert_allclose(
        driver.latest_sample().position_rad, driver.calibration.clamp_rad(REST), atol=0.01
    )
    driver.set_protective_stop(False)
    driver.command_positions(POSE)
    assert run_until(driver, lambda: np.allclose(driver.latest_sample().position_rad, POSE, atol=0.01))


@pytest.mark.slow
def test_ten_percent_corrupted_replies_never_crash_or_write_a_wrong_goal(make_driver):
    driver, emulator = make_driver(retries=2)
    emulator.faults = Faults(corrupt_rate=0.1, seed=7)
    assert run_until(driver, lambda: driver.status().state == DriverState.RUNNING)
    driver.command_positions(POSE)
    cal = driver.calibration
    step = driver.config.max_step_rad + 2 * RAD_PER_TICK
    for _ in range(200):
        driver.cycle()
        goal = cal.ticks_to_rad(servo_goals(emulator))
        present = cal.ticks_to_rad([s.get("Present_Position") for s in emulator.servos.values()])
        # Every goal lies between the last measured pose and the command, never elsewhere.
        assert np.all(np.abs(goal - present) <= step + 0.1)
        assert np.all((goal >= np.minimum(POSE, present) - step) & (goal <= np.maximum(POSE, present) + step))
        time.sleep(0.002)
    status = driver.status()
    assert status.state == DriverState.RUNNING
    assert status.bus.corrupt > 0
    assert status.bus.retries > 0
    np.testing.assert_allclose(driver.latest_sample().position_rad, POSE, atol=2 * RAD_PER_TICK)


def test_unplug_and_replug_at_the_same_path(tmp_path):
    link = str(tmp_path / "so100")
    from so100_driver.core.calibration import load_calibration

    calibration = load_calibration(LEROBOT_FILE)
    emulator = _make_fake_bus(calibration, REST, 1_000_000)
    server = PtyServer(emulator, link_path=link).start()
    driver = Driver(DriverConfig(port=link, calibration_file=LEROBOT_FILE, reconnect_period_s=0.2))
    try:
        driver.cycle()
        assert driver.status().state == DriverState.RUNNING
        driver.command_positions(POSE)
        server.stop()  # unplugged
        cycles(driver, 5)
        status = driver.status()
        assert status.state == DriverState.DISCONNECTED
        assert "port lost" in status.message
        assert driver.latest_sample() is None
        cycles(driver, 10)  # attempts fail while nothing is there
        assert driver.status().state == DriverState.DISCONNECTED
        # Meanwhile the arm was moved by hand; replugged, the driver must hold that pose.
        for servo in emulator.servos.values():
            servo.write(40, b"\x00")
        nudge_toward_mid_range(emulator, 30)
        server = PtyServer(emulator, link_path=link).start()
        assert run_until(driver, lambda: driver.status().state == DriverState.RUNNING, timeout_s=3.0)
        cycles(driver, 5)
        assert driver.status().reconnects == 2
        for servo in emulator.servos.values():
            assert servo.torque_on()
            assert abs(servo.get("Goal_Position") - servo.get("Present_Position")) <= 1
        assert not driver.status().command_fresh  # the command from before the unplug is dropped
    finally:
        driver.shutdown("release")
        server.stop()


def test_silent_servos_count_as_a_lost_connection(make_driver):
    driver, emulator = make_driver(disconnect_after_failures=5, io_timeout_s=0.002, retries=0)
    driver.cycle()
    emulator.faults = Faults(drop_rate=1.0)
    cycles(driver, 6, period_s=0.0)
    assert driver.status().state == DriverState.DISCONNECTED
    assert driver.status().bus.missing >= 5


def test_diagnostics_report_temperature_voltage_load_and_errors(make_driver):
    driver, emulator = make_driver(status_period_s=0.05)
    driver.cycle()
    emulator.inject_overload(4)
    emulator.servo(2).set("Present_Voltage", 118)
    cycles(driver, 15, period_s=0.01)
    servos = driver.status().servos
    assert servos[2].voltage_v == pytest.approx(11.8)
    assert 20 <= servos[1].temperature_c <= 40
    assert servos[4].error_bits & 32
    assert servos[1].error_bits == 0


@pytest.mark.parametrize("mode", ["hold", "release", "rest_then_release"])
def test_shutdown_modes(make_driver, mode):
    driver, emulator = make_driver(rest_speed_rad_s=3.0, rate_hz=200.0)
    driver.cycle()
    driver.command_positions(POSE)
    assert run_until(driver, lambda: np.allclose(driver.latest_sample().position_rad, POSE, atol=0.01))
    emulator_ref = emulator
    server = driver.fake
    driver.fake = None  # keep the emulator alive to inspect it after shutdown
    outcome = driver.shutdown(mode)
    torque = [s.torque_on() for s in emulator_ref.servos.values()]
    q = driver.calibration.ticks_to_rad([s.get("Present_Position") for s in emulator_ref.servos.values()])
    server.stop()
    assert driver.status().state == DriverState.SHUT_DOWN
    if mode == "hold":
        assert all(torque)
        np.testing.assert_allclose(q, POSE, atol=0.01)
        assert "holding" in outcome
    elif mode == "release":
        assert not any(torque)
    else:
        assert not any(torque)
        np.testing.assert_allclose(
            q, driver.calibration.clamp_rad(REST), atol=driver.config.rest_tolerance_rad
        )
        assert "rest pose" in outcome


def test_config_validation():
    with pytest.raises(ValueError, match="shutdown_mode"):
        DriverConfig(shutdown_mode="drop")
    with pytest.raises(ValueError, match="rate_hz"):
        DriverConfig(rate_hz=0.0)


def test_an_overloaded_servo_stays_limp_until_an_estop_reset(make_driver):
    driver, emulator = make_driver()
    driver.cycle()
    emulator.inject_overload(4)
    cycles(driver, 5)
    assert not emulator.servo(4).torque_on()
    assert emulator.servo(1).torque_on()
    driver.engage_estop()
    driver.cycle()
    driver.reset_estop()
    driver.cycle()
    assert all(s.torque_on() for s in emulator.servos.values())
    assert driver.status().state == DriverState.RUNNING


def test_bring_up_never_rewrites_the_calibration_of_a_servo_holding_torque(make_driver):
    """Changing Homing_Offset under torque would make the joint jump: refused, nothing written."""
    driver, emulator = make_driver()
    servo = emulator.servo(2)
    servo.set("Homing_Offset", 0)
    servo.write(40, b"\x01")
    driver.cycle()
    status = driver.status()
    assert status.state == DriverState.DISCONNECTED
    assert "servo 2 holds torque" in status.message
    assert servo.get("Homing_Offset") == 0
    assert servo.torque_on()


@pytest.mark.parametrize("limit", [300, 500])
def test_a_grasp_stalls_the_jaw_at_its_torque_limit_not_at_full_torque(make_driver, limit):
    """The jaw limit goes to Torque_Limit (in force now) and Max_Torque_Limit (its power-up
    value); closing on an object, the emulated jaw stops there and pushes with that load only."""
    driver, emulator = make_driver(gripper_max_torque=limit, gripper_protection_current=1000)
    driver.cycle()
    jaw = emulator.servo(joints.SERVO_IDS[-1])
    assert (jaw.get("Torque_Limit"), jaw.get("Max_Torque_Limit")) == (limit, limit)
    assert emulator.servo(1).get("Torque_Limit") == 1000  # the arm joints keep theirs
    start = driver.latest_sample().position_rad.copy()
    start[-1] = 0.5  # open the jaw first
    driver.command_positions(start)
    assert run_until(driver, lambda: abs(driver.latest_sample().position_rad[-1] - 0.5) < 2 * RAD_PER_TICK)
    closed = start.copy()
    closed[-1] = joints.JOINT_LIMITS["gripper"].lower_rad + 0.05
    # An object 0.2 rad into the closing move.
    direction = np.sign(
        driver.calibration.rad_to_ticks(closed)[-1] - driver.calibration.rad_to_ticks(start)[-1]
    )
    emulator.place_obstacle(jaw.servo_id, jaw.actual_ticks + direction * 0.2 / RAD_PER_TICK)
    loads = []
    for _ in range(60):  # the policy keeps commanding the closed jaw, as it would while holding
        driver.command_positions(closed)
        cycles(driver, 1)
        loads.append(abs(jaw.get("Present_Load")))
    assert max(loads) == limit
    assert loads[-10:] == [limit] * 10
    assert driver.latest_sample().position_rad[-1] == pytest.approx(
        start[-1] - 0.2 * np.sign(start[-1] - closed[-1]), abs=0.01
    )
    # Without the limit the same stall would push at full torque.
    jaw.set("Torque_Limit", 1000)
    jaw.step(0.0)
    assert abs(jaw.get("Present_Load")) == 1000


def test_the_protection_current_caps_the_emulated_load():
    from so100_driver.core.emulator import EmulatedServo

    servo = EmulatedServo(6)
    servo.set("Torque_Enable", 1)
    servo.set("Protection_Current", 150)
    servo.set("Goal_Position", servo.present_ticks() + 500)
    servo.obstacle = (servo.actual_ticks, 1)
    servo.step(0.01)
    assert servo.get("Present_Load") == 300
    assert servo.get("Present_Current") == 150
