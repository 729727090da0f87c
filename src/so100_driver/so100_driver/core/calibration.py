"""Calibration: LeRobot calibration files, and the one tick <-> radian mapping of the real arm.

**The mapping** (the only place it is stated). For joint ``j`` (contract order, servo id j+1)::

    q_j   [rad]   = sign_j * (ticks_j - mid_j) * 2*pi / 4096 + offset_j
    qd_j  [rad/s] = sign_j * ticks_per_s_j     * 2*pi / 4096
    mid_j         = (range_min_j + range_max_j) / 2
    sign_j        = (+1 if drive_mode_j == 0 else -1) * override_sign_j

``ticks`` is the servo's Present_Position / Goal_Position, i.e. already shifted by the
Homing_Offset stored in the servo (Present_Position = actual - Homing_Offset); ``range_min``,
``range_max``, ``drive_mode`` and ``homing_offset`` come from the LeRobot calibration file, and
4096 ticks are one turn. With no override file every joint has::

    joint           sign  offset_rad   zero pose (q = 0)
    shoulder_pan     +1   0.0          middle of the recorded range
    shoulder_lift    +1   0.0          middle of the recorded range
    elbow_flex       +1   0.0          middle of the recorded range
    wrist_flex       +1   0.0          middle of the recorded range
    wrist_roll       +1   0.0          middle of the recorded range (0..4095: tick 2047.5)
    gripper          +1   0.0          middle of the recorded range (jaw half open)

**The assumption behind the defaults.** No physical arm was available to measure against. LeRobot
calibrates each joint by homing it in the middle of its range of motion (that pose then reads
about 2047) and recording the range; its degrees mode reads 0 at the middle of the range. The
simulator's URDF (see :mod:`so100_common.core.joints`) has limits symmetric about zero for every
joint, so we take **the middle of the calibrated range to be the URDF zero, with the servo's
positive direction being the URDF's positive direction**. Where an arm differs (a servo mounted
the other way, a joint whose mechanical middle is not the URDF zero), an override file of ours
(:func:`load_overrides`) sets ``sign`` and ``offset_rad`` per joint, without touching the LeRobot
file::

    {"joints": {"shoulder_lift": {"sign": -1, "offset_rad": 0.0}}}

LeRobot itself uses 4095 ticks per turn in its degrees mode; we use the servo's true 4096 (the
difference is 0.02 %).

**Limits.** A goal is clipped first to the intersection of the URDF limits and the calibrated
range mapped to radians, then, after rounding to ticks, to ``[range_min, range_max]``: no goal
outside the calibrated range ever reaches a servo.

The ``so100_calibrate`` command (:func:`main`) records a new calibration against the bus, in
LeRobot's file format.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from so100_common.core import joints
from so100_driver.core import protocol as p

RAD_PER_TICK = 2.0 * math.pi / p.TICKS_PER_REV
MAX_TICK = p.TICKS_PER_REV - 1
# Where LeRobot's homing puts the held pose (half a turn); we do the same.
HOMED_TICKS = 2047
# Joints that turn freely: calibrated over the whole turn instead of a recorded range.
FULL_TURN_JOINTS = ("wrist_roll",)
DEFAULT_ROBOT_NAME = "so100_follower"


def default_calibration_dir() -> Path:
    """LeRobot's default folder of follower-arm calibration files."""
    return Path.home() / ".cache" / "huggingface" / "lerobot" / "calibration" / "robots" / DEFAULT_ROBOT_NAME


@dataclass(frozen=True)
class MotorCalibration:
    """One motor's entry of a LeRobot calibration file (ticks)."""

    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int

    def validate(self, name: str) -> None:
        if self.drive_mode not in (0, 1):
            raise ValueError(f"{name}: drive_mode must be 0 or 1, got {self.drive_mode}")
        if abs(self.homing_offset) > 2047:
            raise ValueError(f"{name}: homing_offset {self.homing_offset} outside -2047..2047")
        if not 0 <= self.range_min < self.range_max <= MAX_TICK:
            raise ValueError(
                f"{name}: need 0 <= range_min < range_max <= {MAX_TICK}, "
                f"got {self.range_min}..{self.range_max}"
            )

    @property
    def mid_ticks(self) -> float:
        return (self.range_min + self.range_max) / 2.0


@dataclass(frozen=True)
class JointOverride:
    """Our per-joint correction on top of a LeRobot calibration."""

    sign: int = 1
    offset_rad: float = 0.0


class Calibration:
    """The mapping of the module docstring for the six joints, in contract order."""

    def __init__(
        self, motors: Mapping[str, MotorCalibration], overrides: Mapping[str, JointOverride] | None = None
    ) -> None:
        overrides = dict(overrides or {})
        missing = [n for n in joints.JOINT_NAMES if n not in motors]
        unknown = sorted(set(motors) - set(joints.JOINT_NAMES)) + sorted(
            set(overrides) - set(joints.JOINT_NAMES)
        )
        if missing or unknown:
            raise ValueError(f"calibration: missing joints {missing}, unknown joints {unknown}")
        for name, servo_id in zip(joints.JOINT_NAMES, joints.SERVO_IDS):
            motors[name].validate(name)
            if motors[name].id != servo_id:
                raise ValueError(
                    f"{name}: id {motors[name].id}, but the contract puts it on servo {servo_id}"
                )
            if overrides.get(name, JointOverride()).sign not in (1, -1):
                raise ValueError(f"{name}: override sign must be 1 or -1")
        self.motors = {n: motors[n] for n in joints.JOINT_NAMES}
        self.overrides = {n: overrides.get(n, JointOverride()) for n in joints.JOINT_NAMES}
        m = [self.motors[n] for n in joints.JOINT_NAMES]
        o = [self.overrides[n] for n in joints.JOINT_NAMES]
        self.sign = np.array([(1 if x.drive_mode == 0 else -1) * y.sign for x, y in zip(m, o)], dtype=float)
        self.offset_rad = np.array([y.offset_rad for y in o])
        self.mid_ticks = np.array([x.mid_ticks for x in m])
        self.range_min = np.array([x.range_min for x in m])
        self.range_max = np.array([x.range_max for x in m])
        ends = np.stack([self._to_rad(self.range_min), self._to_rad(self.range_max)])
        self.lower_rad = np.maximum(ends.min(axis=0), joints.lower_limits())
        self.upper_rad = np.minimum(ends.max(axis=0), joints.upper_limits())
        empty = [n for n, lo, hi in zip(joints.JOINT_NAMES, self.lower_rad, self.upper_rad) if lo > hi]
        if empty:
            raise ValueError(f"calibrated range of {empty} does not overlap the URDF limits")

    def _to_rad(self, ticks: np.ndarray) -> np.ndarray:
        return self.sign * (np.asarray(ticks, dtype=float) - self.mid_ticks) * RAD_PER_TICK + self.offset_rad

    def ticks_to_rad(self, ticks) -> np.ndarray:
        """(6,) Present_Position ticks -> (6,) joint positions in rad."""
        return self._to_rad(ticks)

    def velocity_to_rad_s(self, ticks_per_s) -> np.ndarray:
        """(6,) Present_Velocity ticks/s -> (6,) rad/s."""
        return self.sign * np.asarray(ticks_per_s, dtype=float) * RAD_PER_TICK

    def clamp_rad(self, q_rad) -> np.ndarray:
        """(6,) positions clipped to the calibrated, URDF-bounded limits."""
        return np.clip(np.asarray(q_rad, dtype=float), self.lower_rad, self.upper_rad)

    def rad_to_ticks(self, q_rad) -> np.ndarray:
        """(6,) positions in rad -> (6,) int Goal_Position ticks, always within the calibrated range."""
        q = np.asarray(q_rad, dtype=float)
        if q.shape != (joints.NUM_JOINTS,) or not np.all(np.isfinite(q)):
            raise ValueError(f"need {joints.NUM_JOINTS} finite positions, got {q.tolist()}")
        q = self.clamp_rad(q)
        ticks = np.rint((q - self.offset_rad) / (self.sign * RAD_PER_TICK) + self.mid_ticks)
        return np.clip(ticks, self.range_min, self.range_max).astype(int)

    def to_lerobot(self) -> dict[str, dict[str, int]]:
        return {n: asdict(m) for n, m in self.motors.items()}


def full_range_calibration() -> Calibration:
    """An uncalibrated arm: homing 0, the whole turn as range (mid-range at tick 2047.5)."""
    return Calibration(
        {n: MotorCalibration(i, 0, 0, 0, MAX_TICK) for n, i in zip(joints.JOINT_NAMES, joints.SERVO_IDS)}
    )


def _read_json(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def load_lerobot_motors(path: str | os.PathLike) -> dict[str, MotorCalibration]:
    """Read a LeRobot calibration file. Raises ValueError (naming the file) when it is invalid."""
    data = _read_json(path)
    motors = {}
    fields = ("id", "drive_mode", "homing_offset", "range_min", "range_max")
    for name, entry in data.items():
        if not isinstance(entry, dict) or any(not isinstance(entry.get(k), int) for k in fields):
            raise ValueError(f"{path}: {name} needs integer fields {list(fields)}")
        motors[name] = MotorCalibration(**{k: entry[k] for k in fields})
    return motors


def load_overrides(path: str | os.PathLike) -> dict[str, JointOverride]:
    """Read our override file: ``{"joints": {name: {"sign": +-1, "offset_rad": float}}}``."""
    data = _read_json(path)
    table = data.get("joints")
    if not isinstance(table, dict) or set(data) != {"joints"}:
        raise ValueError(f'{path}: expected {{"joints": {{name: {{"sign": 1, "offset_rad": 0.0}}}}}}')
    out = {}
    for name, entry in table.items():
        extra = set(entry) - {"sign", "offset_rad"} if isinstance(entry, dict) else {"?"}
        if extra:
            raise ValueError(f"{path}: {name}: unknown keys {sorted(extra)}")
        sign, offset = entry.get("sign", 1), entry.get("offset_rad", 0.0)
        if sign not in (1, -1) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
            raise ValueError(f"{path}: {name}: sign must be 1 or -1 and offset_rad a finite number")
        out[name] = JointOverride(int(sign), float(offset))
    return out


def load_calibration(lerobot_path: str = "", overrides_path: str = "") -> Calibration:
    """The calibration to drive with: a LeRobot file (or the full range when empty), plus overrides."""
    lerobot_path, overrides_path = os.path.expanduser(lerobot_path), os.path.expanduser(overrides_path)
    motors = load_lerobot_motors(lerobot_path) if lerobot_path else full_range_calibration().motors
    overrides = load_overrides(overrides_path) if overrides_path else None
    try:
        return Calibration(motors, overrides)
    except ValueError as exc:
        raise ValueError(f"{lerobot_path or '(no calibration file)'}: {exc}") from exc


def save_lerobot(path: str | os.PathLike, motors: Mapping[str, MotorCalibration]) -> None:
    """Write a LeRobot calibration file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({n: asdict(m) for n, m in motors.items()}, indent=4)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_calibration(
    bus,
    wait_for_middle: Callable[[], None],
    record_until: Callable[[], bool],
    period_s: float = 0.02,
) -> dict[str, MotorCalibration]:
    """Calibrate the arm on ``bus`` (a :class:`so100_driver.core.bus.FeetechBus`), as LeRobot does.

    Torque off; homing offsets cleared; ``wait_for_middle()`` returns once the arm is held in the
    middle of its range; each servo's homing offset is set so that pose reads 2047; then the
    positions are polled every ``period_s`` until ``record_until()`` is true, and the extremes of
    each joint are its range (the whole turn for :data:`FULL_TURN_JOINTS`). The homing offsets and
    position limits are written to the servos too. Returns the motors' calibration.
    """
    ids = list(joints.SERVO_IDS)
    bus.sync_write("Torque_Enable", dict.fromkeys(ids, 0))
    for servo_id in ids:
        bus.write(servo_id, "Lock", 0)
        bus.write(servo_id, "Homing_Offset", 0)
        bus.write(servo_id, "Min_Position_Limit", 0)
        bus.write(servo_id, "Max_Position_Limit", MAX_TICK)
    wait_for_middle()
    raw = bus.sync_read("Present_Position", ids)
    # Sign-magnitude with 11 bits of magnitude: a pose at tick 4095 gets 2047, and reads 2048.
    homing = {i: min(2047, raw[i] - HOMED_TICKS) for i in ids}
    for servo_id in ids:
        bus.write(servo_id, "Homing_Offset", homing[servo_id])
    low = bus.sync_read("Present_Position", ids)
    high = dict(low)
    while not record_until():
        for servo_id, ticks in bus.sync_read("Present_Position", ids).items():
            low[servo_id] = min(low[servo_id], ticks)
            high[servo_id] = max(high[servo_id], ticks)
        time.sleep(period_s)
    motors = {}
    for name, servo_id in zip(joints.JOINT_NAMES, ids):
        lo, hi = (0, MAX_TICK) if name in FULL_TURN_JOINTS else (low[servo_id], high[servo_id])
        if lo >= hi:
            raise ValueError(f"{name} did not move while recording: move every joint through its range")
        motors[name] = MotorCalibration(servo_id, 0, homing[servo_id], lo, hi)
        bus.write(servo_id, "Min_Position_Limit", lo)
        bus.write(servo_id, "Max_Position_Limit", hi)
    return motors


def main(argv: list[str] | None = None) -> int:
    """``so100_calibrate``: record an SO-100 calibration on the bus and write it as a LeRobot file."""
    from so100_driver.core.bus import FeetechBus
    from so100_driver.core.transport import SerialTransport, TransportError

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", required=True, help="serial port of the arm, e.g. /dev/ttyACM0")
    parser.add_argument("--robot-id", default="my_so100", help="the arm's name: the file is <robot-id>.json")
    parser.add_argument(
        "--output", help=f"output file (default: {default_calibration_dir()}/<robot-id>.json)"
    )
    parser.add_argument(
        "--record-s", type=float, default=0.0, help="record for this long (default: until Enter)"
    )
    parser.add_argument("--yes", action="store_true", help="the arm is already in its middle pose: no prompt")
    args = parser.parse_args(argv)
    output = Path(args.output) if args.output else default_calibration_dir() / f"{args.robot_id}.json"
    transport = SerialTransport(args.port)
    try:
        transport.open()
        bus = FeetechBus(transport, timeout_s=0.02, retries=2)
        for servo_id in joints.SERVO_IDS:
            model = bus.read(servo_id, "Model_Number")
            if model != p.MODEL_STS3215:
                raise ValueError(f"servo {servo_id} has model {model}, expected {p.MODEL_STS3215} (STS3215)")

        def wait_for_middle() -> None:
            if not args.yes:
                input("Torque is off. Move the arm to the middle of its range of motion, then press Enter.")

        if args.record_s > 0:
            end = time.monotonic() + args.record_s
            print(f"Move every joint (except wrist_roll) through its whole range: {args.record_s:g} s.")

            def record_until() -> bool:
                return time.monotonic() > end
        else:
            import select

            print("Move every joint (except wrist_roll) through its whole range, then press Enter.")

            def record_until() -> bool:
                pressed = bool(select.select([sys.stdin], [], [], 0)[0])
                if pressed:
                    sys.stdin.readline()
                return pressed

        motors = record_calibration(bus, wait_for_middle, record_until)
        save_lerobot(output, motors)
    except (TransportError, ValueError, RuntimeError) as exc:
        print(f"so100_calibrate: {exc}", file=sys.stderr)
        return 1
    finally:
        transport.close()
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
