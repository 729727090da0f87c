"""The tick <-> radian mapping, pinned joint by joint, and LeRobot calibration files in and out."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from so100_common.core import joints
from so100_driver.core import calibration as cal
from so100_driver.core.bus import FeetechBus
from so100_driver.core.emulator import BusEmulator, PtyServer
from so100_driver.core.transport import SerialTransport

LEROBOT_FILE = Path(__file__).parent / "data" / "lerobot_so100_follower.json"

# Per joint, from the file above: mid-range tick (q = 0) and the sign (drive_mode 1 flips the gripper).
ZERO_TICKS_AND_SIGN = {
    "shoulder_pan": ((758 + 3326) / 2, +1),  # 2042
    "shoulder_lift": ((812 + 3208) / 2, +1),  # 2010
    "elbow_flex": ((880 + 3110) / 2, +1),  # 1995
    "wrist_flex": ((836 + 3194) / 2, +1),  # 2015
    "wrist_roll": ((0 + 4095) / 2, +1),  # 2047.5
    "gripper": ((1998 + 3436) / 2, -1),  # 2717
}


@pytest.fixture
def calibration():
    return cal.load_calibration(str(LEROBOT_FILE))


@pytest.mark.parametrize("joint", joints.JOINT_NAMES)
def test_mapping_joint_by_joint(calibration, joint):
    j = joints.JOINT_NAMES.index(joint)
    zero, sign = ZERO_TICKS_AND_SIGN[joint]
    ticks = np.full(6, 2048.0)
    ticks[j] = zero
    assert calibration.ticks_to_rad(ticks)[j] == 0.0
    ticks[j] = zero + 512  # an eighth of a turn
    assert calibration.ticks_to_rad(ticks)[j] == pytest.approx(sign * math.pi / 4)
    velocity = np.zeros(6)
    velocity[j] = 1024  # a quarter turn per second
    assert calibration.velocity_to_rad_s(velocity)[j] == pytest.approx(sign * math.pi / 2)


@pytest.mark.parametrize("joint", joints.JOINT_NAMES)
def test_override_flips_and_offsets_one_joint(joint):
    j = joints.JOINT_NAMES.index(joint)
    overrides = {joint: cal.JointOverride(sign=-1, offset_rad=0.1)}
    calibration = cal.Calibration(cal.load_lerobot_motors(LEROBOT_FILE), overrides)
    zero, sign = ZERO_TICKS_AND_SIGN[joint]
    ticks = np.array([ZERO_TICKS_AND_SIGN[n][0] for n in joints.JOINT_NAMES])
    ticks[j] = zero + 512
    q = calibration.ticks_to_rad(ticks)
    assert q[j] == pytest.approx(-sign * math.pi / 4 + 0.1)
    assert np.count_nonzero(q) == 1  # the other joints are untouched


def test_round_trip_and_rounding(calibration):
    q = np.array([0.3, -0.7, 1.2, -1.0, 2.5, 0.4])
    ticks = calibration.rad_to_ticks(q)
    assert ticks.dtype.kind == "i"
    np.testing.assert_allclose(calibration.ticks_to_rad(ticks), q, atol=cal.RAD_PER_TICK / 2 + 1e-12)


def test_goals_never_leave_the_calibrated_range_or_urdf_limits(calibration):
    far = np.array([10.0, -10.0, 10.0, -10.0, 10.0, -10.0])
    ticks = calibration.rad_to_ticks(far)
    assert np.all(ticks >= calibration.range_min)
    assert np.all(ticks <= calibration.range_max)
    q = calibration.ticks_to_rad(ticks)
    assert np.all(q >= joints.lower_limits() - cal.RAD_PER_TICK)
    assert np.all(q <= joints.upper_limits() + cal.RAD_PER_TICK)
    # shoulder_pan's calibrated range (+-1284 ticks = +-1.97 rad) is tighter than the URDF's +-2.0.
    assert calibration.upper_rad[0] == pytest.approx(1284 * cal.RAD_PER_TICK)
    assert calibration.upper_rad[1] == joints.upper_limits()[1]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("gripper"), "missing joints"),
        (lambda d: d["elbow_flex"].update(id=7), "servo 3"),
        (lambda d: d["wrist_flex"].update(range_min=4000), "range_min < range_max"),
        (lambda d: d["wrist_flex"].update(drive_mode=2), "drive_mode"),
        (lambda d: d["shoulder_pan"].update(homing_offset=3000), "homing_offset"),
        (lambda d: d["shoulder_pan"].update(range_min="0"), "integer fields"),
    ],
)
def test_bad_calibration_files_are_refused_with_the_file_named(tmp_path, edit, message):
    data = json.loads(LEROBOT_FILE.read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as info:
        cal.load_calibration(str(path))
    assert "bad.json" in str(info.value)


def test_override_file(tmp_path):
    path = tmp_path / "ours.json"
    path.write_text(json.dumps({"joints": {"shoulder_lift": {"sign": -1, "offset_rad": 0.25}}}))
    calibration = cal.load_calibration(str(LEROBOT_FILE), str(path))
    assert calibration.sign.tolist() == [1, -1, 1, 1, 1, -1]
    assert calibration.offset_rad.tolist() == [0, 0.25, 0, 0, 0, 0]
    path.write_text(json.dumps({"joints": {"shoulder_lift": {"sign": 2}}}))
    with pytest.raises(ValueError, match="sign must be 1 or -1"):
        cal.load_calibration(str(LEROBOT_FILE), str(path))
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        cal.load_overrides(path)


def test_save_round_trip(tmp_path):
    motors = cal.load_lerobot_motors(LEROBOT_FILE)
    out = tmp_path / "sub" / "arm.json"
    cal.save_lerobot(out, motors)
    assert cal.load_lerobot_motors(out) == motors
    assert json.loads(out.read_text()) == json.loads(LEROBOT_FILE.read_text())
    assert [p.name for p in out.parent.iterdir()] == ["arm.json"]


def test_record_calibration_against_the_emulated_arm(tmp_path):
    """Homing puts the held pose at 2047; the recorded range is what the joints went through."""
    emulator = BusEmulator()
    held = [1500, 2600, 1800, 2300, 900, 2100]
    for i, servo in emulator.servos.items():
        servo.move_by_hand(held[i - 1])
    polls = []

    def record_until():
        # Between polls each joint is moved by hand (torque off): 400 ticks down, then 300 up.
        polls.append(1)
        for step, delta in ((2, -400), (4, 300)):
            if len(polls) == step:
                with emulator.lock:
                    for i, servo in emulator.servos.items():
                        servo.move_by_hand(held[i - 1] + delta)
        return len(polls) > 6

    with PtyServer(emulator) as server:
        transport = SerialTransport(server.path)
        transport.open()
        bus = FeetechBus(transport, timeout_s=0.02)
        motors = cal.record_calibration(bus, lambda: None, record_until, period_s=0.001)
        transport.close()
    for name, servo_id in zip(joints.JOINT_NAMES, joints.SERVO_IDS):
        m = motors[name]
        assert m.homing_offset == held[servo_id - 1] - 2047
        if name == "wrist_roll":
            assert (m.range_min, m.range_max) == (0, 4095)
        else:
            assert (m.range_min, m.range_max) == (2047 - 400, 2047 + 300)
        assert emulator.servo(servo_id).get("Homing_Offset") == m.homing_offset
        assert emulator.servo(servo_id).get("Min_Position_Limit") == m.range_min
        assert not emulator.servo(servo_id).torque_on()
    cal.save_lerobot(tmp_path / "arm.json", motors)
    cal.load_calibration(str(tmp_path / "arm.json"))


def test_so100_calibrate_cli(tmp_path):
    """The console entry point, non-interactive, against an emulated arm whose joints never move."""
    emulator = BusEmulator()
    with PtyServer(emulator) as server:
        code = cal.main(
            ["--port", server.path, "--yes", "--record-s", "0.05", "--output", str(tmp_path / "a.json")]
        )
    assert code == 1  # nothing moved: refused, and no file written
    assert not (tmp_path / "a.json").exists()


@given(st.lists(st.floats(-1e6, 1e6), min_size=6, max_size=6))
def test_any_finite_goal_maps_inside_the_calibrated_range(q):
    calibration = cal.load_calibration(str(LEROBOT_FILE))
    ticks = calibration.rad_to_ticks(q)
    assert np.all(ticks >= calibration.range_min)
    assert np.all(ticks <= calibration.range_max)


def test_non_finite_goals_are_refused(calibration):
    with pytest.raises(ValueError, match="finite"):
        calibration.rad_to_ticks([0, 0, np.inf, 0, 0, 0])


def test_so100_calibrate_interactive_session(tmp_path):
    """The command as a user runs it: Enter at the middle pose, sweep the joints, Enter to finish."""
    import subprocess
    import sys
    import time

    from ros_testing import python_env

    emulator = BusEmulator()
    out = tmp_path / "my_so100.json"
    gripper = emulator.servo(6)

    def wait_for(predicate):
        deadline = time.monotonic() + 30
        while not predicate():
            assert time.monotonic() < deadline, proc.stdout
            assert proc.poll() is None
            time.sleep(0.02)

    def press_enter():
        proc.stdin.write("\n")
        proc.stdin.flush()

    with PtyServer(emulator) as server:
        args = ["-m", "so100_driver.core.calibration", "--port", server.path, "--output", str(out)]
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=python_env(),
        )
        try:
            # Unlocked, homing and limits cleared (servo 6 comes last): the middle-pose prompt is up.
            wait_for(lambda: gripper.get("Lock") == 0 and gripper.get("Max_Position_Limit") == 4095)
            press_enter()
            wait_for(lambda: gripper.get("Homing_Offset") == 2048 - 2047)
            for delta in (-400, 300):
                with emulator.lock:
                    for servo in emulator.servos.values():
                        servo.move_by_hand(2048 + delta)
                time.sleep(0.2)
            press_enter()
            output, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    assert output.strip().endswith(str(out))
    motors = cal.load_lerobot_motors(out)
    assert motors["elbow_flex"] == cal.MotorCalibration(3, 0, 1, 2047 - 400, 2047 + 300)
    assert motors["wrist_roll"] == cal.MotorCalibration(5, 0, 1, 0, 4095)
