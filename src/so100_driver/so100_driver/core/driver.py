"""The SO-100 driver's state machine, free of ROS: bring-up, the bus cycle, stops, shutdown.

States::

    DISCONNECTED --bring-up ok--> RUNNING <--> PROTECTIVE_STOP
         ^  (retry every reconnect_period_s)  \\--estop--> ESTOP --reset--> RUNNING
         \\------------ port lost / servos silent ------------/

**Bring-up**: open the port; read every servo's model number (777, STS3215); set
Return_Delay_Time 0; make the servos' Homing_Offset and position limits match the calibration
file; position mode with LeRobot's gains (P=16, I=0, D=32) and its gripper caps; read the present
pose; goal = present (clamped to the limits); then torque on. A latched e-stop skips the torque.

**Each cycle** (``rate_hz``): one SYNC_READ of position+velocity of the six servos and one
SYNC_WRITE of the six goals. The goal is the latest command while it is fresher than
``command_timeout_s``; otherwise the arm holds: the goal becomes the measured pose at the moment
the command went stale (or at bring-up, protective stop, e-stop reset). A command outside the joint
limits is rejected whole and counted (the joint contract's out-of-limit policy,
:mod:`so100_common.core.joints`); every goal written is clipped to the calibrated limits
(:mod:`so100_driver.core.calibration`) and to ``max_step_rad`` from the present pose. Every
``status_period_s`` one more SYNC_READ brings load, voltage, temperature and the status byte. A
failed read skips the cycle; ``disconnect_after_failures`` failures in a row, or any error of the
port itself, count as a lost connection: no joint samples until a bring-up
succeeds again, and a command older than the reconnection (or than an e-stop reset or a
protective-stop release) is never executed.

**Stops**: the e-stop is latched and cuts torque (the arm falls: that is what an e-stop is for);
only :meth:`Driver.reset_estop` clears it, with goal = present before torque comes back. The
protective stop holds the measured pose with torque on and ignores commands until released.

A servo that cuts its own torque (overload protection) is not re-enabled behind the operator's
back: its error flags show in the status, and an e-stop followed by a reset re-enables torque
from the measured pose.

**Shutdown** (:class:`ShutdownMode`): ``hold`` leaves torque on holding the present pose (the
default: the arm never drops unless told to), ``rest_then_release`` moves slowly to the rest
pose and releases torque once there (holding instead if it cannot get there in time),
``release`` cuts torque at once.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from so100_common.core import joints
from so100_common.core.commands import CommandRejected, validate_positions, validate_trajectory
from so100_common.core.config_fields import check_ranges, setting
from so100_driver.core import protocol as p
from so100_driver.core.bus import BusError, BusStats, FeetechBus
from so100_driver.core.calibration import Calibration, load_calibration
from so100_driver.core.transport import SerialTransport, Transport, TransportError

IDS = list(joints.SERVO_IDS)
GRIPPER_ID = joints.SERVO_IDS[joints.JOINT_NAMES.index("gripper")]


class DriverState(str, enum.Enum):
    DISCONNECTED = "disconnected"
    RUNNING = "running"
    PROTECTIVE_STOP = "protective_stop"
    ESTOP = "estop"
    SHUT_DOWN = "shut_down"


class ShutdownMode(str, enum.Enum):
    HOLD = "hold"
    REST_THEN_RELEASE = "rest_then_release"
    RELEASE = "release"


@dataclass(frozen=True)
class DriverConfig:
    """Everything the driver can be told; defaults live here once (the node maps parameters onto it)."""

    port: str = "/dev/ttyACM0"
    """Serial port of the arm's bus adapter; a stable symlink survives replugs"""
    baudrate: int = setting(1_000_000, 9600, 1_000_000)
    """Bus baud rate (STS3215 default 1000000)"""
    fake_hardware: bool = False
    """Drive an emulated arm on a pseudo-terminal instead of port"""
    calibration_file: str = ""
    """LeRobot calibration JSON of this arm; empty = uncalibrated full range"""
    overrides_file: str = ""
    """Our per-joint sign/offset override JSON on top of the calibration"""
    rate_hz: float = setting(200.0, 1.0, 1000.0)
    """Bus cycle rate (one sync read + one sync write), Hz"""
    io_timeout_s: float = setting(0.01, 0.0005, 0.1)
    """Reply timeout per bus transaction beyond the wire time, s"""
    retries: int = setting(1, 0, 5)
    """Retries of a failed bus read within one cycle"""
    disconnect_after_failures: int = setting(50, 1, 10000)
    """Failed cycles in a row counted as a lost link"""
    reconnect_period_s: float = setting(1.0, 0.1, 60.0)
    """Time between reconnection attempts, s"""
    command_timeout_s: float = setting(0.5, 0.01, 60.0)
    """Commands older than this are stale: the arm holds, s"""
    max_step_rad: float = setting(0.35, 0.0, 6.3)
    """Largest |goal - present| written per cycle, rad; 0 = no limit"""
    publish_rate_hz: float = setting(100.0, 1.0, 1000.0)
    """joint_states publish rate (new samples only), Hz"""
    diagnostics_period_s: float = setting(1.0, 0.1, 60.0)
    """Period of /diagnostics, s"""
    status_period_s: float = setting(0.5, 0.05, 60.0)
    """Period of load/voltage/temperature reads, s"""
    shutdown_mode: str = setting("hold", choices=tuple(ShutdownMode))
    """On exit: hold, rest_then_release or release"""
    rest_speed_rad_s: float = setting(0.3, 0.01, 3.0)
    """Joint speed of the move to rest at shutdown, rad/s"""
    rest_timeout_s: float = setting(20.0, 1.0, 120.0)
    """Give up the move to rest after this long (and hold), s"""
    rest_tolerance_rad: float = setting(0.05, 0.001, 0.5)
    """Rest pose reached when every joint is this close, rad"""
    p_gain: int = setting(16, 0, 254)
    """Servo P coefficient (LeRobot: 16; 32 is jittery)"""
    i_gain: int = setting(0, 0, 254)
    """Servo I coefficient"""
    d_gain: int = setting(32, 0, 254)
    """Servo D coefficient"""
    acceleration: int = setting(254, 0, 254)
    """Servo acceleration register (254 = fastest)"""
    gripper_max_torque: int = setting(500, 0, 1000)
    """Jaw torque limit, 0.1 % of stall torque: written to Torque_Limit (SRAM 48, in force at once)
    and Max_Torque_Limit (EEPROM 16, its power-up value), so a grasp never stalls the jaw motor at
    full torque"""
    gripper_protection_current: int = setting(250, 0, 1000)
    """Gripper Protection_Current (6.5 mA units)"""
    gripper_overload_torque: int = setting(25, 0, 100)
    """Gripper Overload_Torque (%)"""

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class JointSample:
    """One measurement: (6,) rad and rad/s in contract order, at monotonic time ``stamp``."""

    seq: int
    stamp: float
    position_rad: np.ndarray
    velocity_rad_s: np.ndarray


@dataclass(frozen=True)
class ServoStatus:
    temperature_c: int = 0
    voltage_v: float = 0.0
    load_percent: float = 0.0
    error_bits: int = 0


@dataclass(frozen=True)
class DriverStatus:
    state: DriverState
    message: str
    command_fresh: bool
    cycles: int
    failed_cycles: int
    reconnects: int
    cycle_time_mean_ms: float
    cycle_time_max_ms: float
    bus: BusStats
    servos: dict[int, ServoStatus]
    commands_accepted: int = 0
    commands_rejected: dict[str, int] | None = None
    """Rejected commands by reason (:data:`so100_common.core.commands.REASONS`)."""


def _make_fake_bus(calibration: Calibration, pose_rad, baudrate: int):
    """An emulated, already-calibrated arm holding ``pose_rad`` with torque off."""
    from so100_driver.core.emulator import BusEmulator, Timing

    emulator = BusEmulator(timing=Timing(baudrate=baudrate))
    ticks = calibration.rad_to_ticks(pose_rad)
    for k, (servo_id, motor) in enumerate(zip(IDS, calibration.motors.values())):
        servo = emulator.servo(servo_id)
        servo.set("Homing_Offset", motor.homing_offset)
        servo.set("Min_Position_Limit", motor.range_min)
        servo.set("Max_Position_Limit", motor.range_max)
        servo.move_by_hand(ticks[k] + motor.homing_offset)
    return emulator


class Driver:
    """The driver core. :meth:`cycle` does the bus work and is called from one thread only; the
    command, stop and status methods are thread-safe and return at once."""

    def __init__(
        self,
        config: DriverConfig,
        calibration: Calibration | None = None,
        transport_factory: Callable[[str, int], Transport] = SerialTransport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.calibration = calibration or load_calibration(config.calibration_file, config.overrides_file)
        self.clock = clock
        self._transport_factory = transport_factory
        self._lock = threading.Lock()
        self.fake = None
        self._port = config.port
        if config.fake_hardware:
            from so100_driver.core.emulator import PtyServer

            emulator = _make_fake_bus(self.calibration, joints.REST_POSE_RAD, config.baudrate)
            self.fake = PtyServer(emulator).start()
            self._port = self.fake.path
        self.bus: FeetechBus | None = None
        self.state = DriverState.DISCONNECTED
        self.message = "not connected yet"
        self._last_attempt = -np.inf
        self._accept_after = np.inf
        self._failures = 0
        self._command: np.ndarray | None = None
        self._command_stamp = -np.inf
        self._command_fresh = False
        self.commands_accepted = 0
        self.commands_rejected: Counter[str] = Counter()
        self._hold_rad: np.ndarray | None = None
        self._estop_latched = False
        self._estop_reset_requested = False
        self._protective = False
        self._protective_changed = False
        self._torque_on = False
        self._sample: JointSample | None = None
        self._seq = 0
        self._last_status_read = -np.inf
        self._servos: dict[int, ServoStatus] = {}
        self.cycles = self.failed_cycles = self.reconnects = 0
        self._cycle_times: list[float] = []
        self._stats = BusStats()

    # Thread-safe inputs -----------------------------------------------------------------------
    def command_positions(self, position_rad, names=None) -> None:
        """Store a (6,) absolute position command (rad; contract order, or the order of ``names``).

        Validated as the sim node validates it (:mod:`so100_common.core.commands`): a bad or
        out-of-limit command raises :class:`~so100_common.core.commands.CommandRejected`, is counted
        by reason and changes nothing (the previous command stays the goal).
        """
        self._store_command(lambda: validate_positions(position_rad, names))

    def command_trajectory(self, names, points) -> None:
        """:meth:`command_positions` for a ``trajectory_msgs/JointTrajectory``'s names and points
        (exactly one point)."""
        self._store_command(lambda: validate_trajectory(names, points))

    def _store_command(self, validate: Callable[[], np.ndarray]) -> None:
        try:
            q = validate()
        except CommandRejected as rejected:
            with self._lock:
                self.commands_rejected[rejected.reason] += 1
            raise
        with self._lock:
            self.commands_accepted += 1
            self._command = q
            self._command_stamp = self.clock()

    def engage_estop(self) -> None:
        with self._lock:
            self._estop_latched = True
            self._estop_reset_requested = False

    def reset_estop(self) -> tuple[bool, str]:
        with self._lock:
            if not self._estop_latched:
                return True, "e-stop was not latched"
            if self.state == DriverState.DISCONNECTED:
                return False, "cannot reset the e-stop while disconnected"
            self._estop_reset_requested = True
            self._accept_after = self.clock()  # commands sent during the e-stop are dropped
        return True, "e-stop reset: holding the present pose with torque on"

    def set_protective_stop(self, engaged: bool) -> tuple[bool, str]:
        with self._lock:
            changed = self._protective != engaged
            self._protective = engaged
            self._protective_changed |= changed
            if changed and not engaged:
                self._accept_after = self.clock()  # commands sent during the stop are dropped
        return True, ("protective stop engaged: holding" if engaged else "protective stop released")

    def latest_sample(self) -> JointSample | None:
        """The latest joint sample, or None while disconnected."""
        with self._lock:
            return self._sample

    def status(self) -> DriverStatus:
        with self._lock:
            times = self._cycle_times or [0.0]
            return DriverStatus(
                state=self.state,
                message=self.message,
                command_fresh=self._command_fresh,
                cycles=self.cycles,
                failed_cycles=self.failed_cycles,
                reconnects=self.reconnects,
                cycle_time_mean_ms=1e3 * float(np.mean(times)),
                cycle_time_max_ms=1e3 * float(np.max(times)),
                bus=replace(self._stats),
                servos=dict(self._servos),
                commands_accepted=self.commands_accepted,
                commands_rejected=dict(self.commands_rejected),
            )

    @property
    def command_rad(self) -> np.ndarray | None:
        """The last accepted command, (6,) rad in contract order; None before the first."""
        with self._lock:
            return None if self._command is None else self._command.copy()

    @property
    def estop_latched(self) -> bool:
        return self._estop_latched

    # The cycle --------------------------------------------------------------------------------
    def cycle(self) -> None:
        """One bus cycle (or a reconnection attempt). Never raises for bus or port trouble."""
        start = self.clock()
        if self.state == DriverState.SHUT_DOWN:
            return
        if self.bus is None:
            if start - self._last_attempt >= self.config.reconnect_period_s:
                self._last_attempt = start
                self._try_bring_up()
            return
        try:
            self._cycle(start)
        except TransportError as exc:
            self._disconnect(f"port lost: {exc}")
        except BusError as exc:
            self.failed_cycles += 1
            self._failures += 1
            with self._lock:
                self.message = f"bus: {exc}"
            if self._failures >= self.config.disconnect_after_failures:
                self._disconnect(f"{self._failures} failed cycles in a row: {exc}")
        finally:
            self._snapshot_stats()
        with self._lock:
            self._cycle_times = [*self._cycle_times[-199:], self.clock() - start]

    def _cycle(self, now: float) -> None:
        bus = self.bus
        positions, velocities = bus.read_position_velocity(IDS)
        self._failures = 0
        self.cycles += 1
        q = self.calibration.ticks_to_rad(positions)
        qd = self.calibration.velocity_to_rad_s(velocities)
        with self._lock:
            self._seq += 1
            self._sample = JointSample(self._seq, now, q, qd)
            command, stamp, accept_after = self._command, self._command_stamp, self._accept_after
            estop, reset = self._estop_latched, self._estop_reset_requested
            protective, protective_changed = self._protective, self._protective_changed
            self._protective_changed = False
        if estop and not reset:
            self._set_state(DriverState.ESTOP, "e-stop latched: torque off")
            if self._torque_on:
                self._torque_off()
            self._hold_rad = None
        else:
            if reset or self._hold_rad is None:
                self._hold_rad = q.copy()
            fresh = command is not None and stamp > accept_after
            fresh = fresh and now - stamp <= self.config.command_timeout_s and not protective
            if protective_changed:
                self._hold_rad = q.copy()
            elif self._command_fresh and not fresh:
                self._hold_rad = q.copy()  # the command just went stale: hold here
            goal = command if fresh else self._hold_rad
            self._write_goal(goal, q)
            if not self._torque_on:
                self._enable_torque()
            with self._lock:
                self._command_fresh = fresh
                if reset:
                    self._estop_latched = self._estop_reset_requested = False
            if protective:
                self._set_state(DriverState.PROTECTIVE_STOP, "protective stop: holding")
            else:
                self._set_state(DriverState.RUNNING, "running" if fresh else "holding (no fresh command)")
        if now - self._last_status_read >= self.config.status_period_s:
            self._last_status_read = now
            self._read_servo_status()

    def _write_goal(self, goal_rad, present_rad) -> None:
        goal = self.calibration.clamp_rad(goal_rad)
        if self.config.max_step_rad > 0:
            step = self.config.max_step_rad
            goal = np.clip(goal, present_rad - step, present_rad + step)
        ticks = self.calibration.rad_to_ticks(goal)
        self.bus.sync_write("Goal_Position", {i: int(t) for i, t in zip(IDS, ticks)})

    def _enable_torque(self) -> None:
        for servo_id in IDS:
            self.bus.write(servo_id, "Torque_Enable", 1)
        self._torque_on = True

    def _torque_off(self) -> None:
        """Cut torque on every servo with one SYNC_WRITE, confirmed by reading it back."""
        for _ in range(3):
            self.bus.sync_write("Torque_Enable", dict.fromkeys(IDS, 0))
            try:
                if not any(self.bus.sync_read("Torque_Enable", IDS).values()):
                    break
            except BusError:
                continue
        self._torque_on = False

    def _read_servo_status(self) -> None:
        first = p.CONTROL_TABLE["Present_Load"]
        try:
            raw = self.bus.sync_read_raw(first.address, 6, IDS)
        except BusError:
            return
        servos = {}
        for servo_id, data in raw.items():
            servos[servo_id] = ServoStatus(
                temperature_c=data[3],
                voltage_v=data[2] / 10.0,
                load_percent=first.decode(data[:2]) / 10.0,
                error_bits=self.bus.servo_errors.get(servo_id, 0) | data[5],
            )
        with self._lock:
            self._servos = servos

    def _set_state(self, state: DriverState, message: str) -> None:
        with self._lock:
            self.state, self.message = state, message

    def _snapshot_stats(self) -> None:
        if self.bus is not None:
            with self._lock:
                self._stats = replace(self.bus.stats)

    # Connection -------------------------------------------------------------------------------
    def _try_bring_up(self) -> None:
        transport = self._transport_factory(self._port, self.config.baudrate)
        bus = None
        try:
            transport.open()
            # Bring-up is rare and not time-critical: patient timeouts; the cycle then uses the config's.
            bus = FeetechBus(transport, max(self.config.io_timeout_s, 0.05), 2, self.config.baudrate)
            bus.stats = self._stats  # counters survive reconnections
            self._bring_up(bus)
            bus.timeout_s, bus.retries = self.config.io_timeout_s, self.config.retries
        except (TransportError, BusError, ValueError) as exc:
            transport.close()
            self.bus = None
            if bus is not None:
                self._stats = bus.stats
            self._set_state(DriverState.DISCONNECTED, f"bring-up failed: {exc}")
            return
        self.bus = bus
        self.reconnects += 1
        self._snapshot_stats()

    def _bring_up(self, bus: FeetechBus) -> None:
        for servo_id in IDS:
            model = bus.read(servo_id, "Model_Number")
            if model != p.MODEL_STS3215:
                raise ValueError(f"servo {servo_id} is model {model}, expected {p.MODEL_STS3215} (STS3215)")
        for servo_id in IDS:
            bus.write(servo_id, "Return_Delay_Time", 0)
        torque = bus.sync_read("Torque_Enable", IDS)
        cfg = self.config
        for servo_id, motor in zip(IDS, self.calibration.motors.values()):
            wanted = {
                "Homing_Offset": motor.homing_offset,
                "Min_Position_Limit": motor.range_min,
                "Max_Position_Limit": motor.range_max,
            }
            have = {name: bus.read(servo_id, name) for name in wanted}
            if have != wanted and torque[servo_id]:
                raise ValueError(
                    f"servo {servo_id} holds torque with calibration {have}, the file says {wanted}: "
                    "release it (torque off) so the calibration can be written"
                )
            settings = {"Lock": 0, "Operating_Mode": 0, "P_Coefficient": cfg.p_gain}
            settings |= {
                "I_Coefficient": cfg.i_gain,
                "D_Coefficient": cfg.d_gain,
                "Acceleration": cfg.acceleration,
            }
            if servo_id == GRIPPER_ID:
                settings |= {
                    "Max_Torque_Limit": cfg.gripper_max_torque,
                    "Torque_Limit": cfg.gripper_max_torque,
                    "Protection_Current": cfg.gripper_protection_current,
                    "Overload_Torque": cfg.gripper_overload_torque,
                }
            for name, value in (settings | wanted).items():
                if name in wanted and have[name] == value:
                    continue
                bus.write(servo_id, name, value)
        positions, _ = bus.read_position_velocity(IDS)
        now = self.clock()
        self.bus = bus
        q = self.calibration.ticks_to_rad(positions)
        self._hold_rad = self.calibration.clamp_rad(q)
        self._write_goal(self._hold_rad, q)
        self._torque_on = any(torque.values())
        with self._lock:
            estop = self._estop_latched
            self._seq += 1
            self._sample = JointSample(self._seq, now, q, np.zeros(joints.NUM_JOINTS))
        if estop:
            self._torque_off()
            self._set_state(DriverState.ESTOP, "connected; e-stop latched: torque off")
        else:
            self._enable_torque()
            for servo_id in IDS:
                bus.write(servo_id, "Lock", 1)
            self._set_state(DriverState.RUNNING, "connected: holding the present pose")
        with self._lock:
            self._accept_after = now
        self._failures = 0

    def _disconnect(self, reason: str) -> None:
        if self.bus is not None:
            self.bus.transport.close()
            self._stats = self.bus.stats
        self.bus = None
        self._torque_on = False
        self._hold_rad = None
        with self._lock:
            self._sample = None
            self._command_fresh = False
            self.state, self.message = DriverState.DISCONNECTED, reason
        self._last_attempt = self.clock()

    # Shutdown ---------------------------------------------------------------------------------
    def shutdown(self, mode: str | None = None, sleep: Callable[[float], None] = time.sleep) -> str:
        """Leave the arm as ``mode`` (default: the configured one) says, close the port; blocking.

        Call it after the cycle thread has stopped. Returns what was done.
        """
        mode = ShutdownMode(mode or self.config.shutdown_mode)
        outcome = "disconnected: nothing to do"
        try:
            if self.bus is not None:
                outcome = self._shutdown(mode, sleep)
        except (TransportError, BusError) as exc:
            outcome = f"shutdown incomplete ({mode.value}): {exc}"
        finally:
            if self.bus is not None:
                self.bus.transport.close()
                self.bus = None
            self._set_state(DriverState.SHUT_DOWN, outcome)
            if self.fake is not None:
                self.fake.stop()
        return outcome

    def _shutdown(self, mode: ShutdownMode, sleep: Callable[[float], None]) -> str:
        if self._estop_latched or mode == ShutdownMode.RELEASE:
            self._torque_off()
            return "torque released" + (" (e-stop latched)" if self._estop_latched else "")
        q = self._read_pose_patiently()
        if mode == ShutdownMode.HOLD:
            self._write_goal(q, q)
            if not self._torque_on:
                self._enable_torque()
            return "holding the present pose with torque on"
        rest = self.calibration.clamp_rad(joints.REST_POSE_RAD)
        period = 1.0 / self.config.rate_hz
        goal = q.copy()
        deadline = self.clock() + self.config.rest_timeout_s
        while self.clock() < deadline:
            step = self.config.rest_speed_rad_s * period
            goal = goal + np.clip(rest - goal, -step, step)
            self._write_goal(goal, q)
            if not self._torque_on:
                self._enable_torque()
            sleep(period)
            q = self._read_pose_patiently()
            with self._lock:
                self._seq += 1
                self._sample = JointSample(self._seq, self.clock(), q, np.zeros(joints.NUM_JOINTS))
            if np.all(np.abs(q - rest) <= self.config.rest_tolerance_rad):
                self._torque_off()
                return "moved to the rest pose, then released torque"
        self._write_goal(q, q)
        return "rest pose not reached in time: holding the present pose with torque on"

    def _read_pose_patiently(self, attempts: int = 10) -> np.ndarray:
        """The present pose in rad; a few failed reads are tolerated (raises the last BusError)."""
        for attempt in range(attempts):
            try:
                positions, _ = self.bus.read_position_velocity(IDS)
                return self.calibration.ticks_to_rad(positions)
            except BusError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")


class DriverThread:
    """Runs :meth:`Driver.cycle` at ``config.rate_hz`` on its own thread (the only bus user)."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="so100-driver-bus", daemon=True)

    def start(self) -> DriverThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        period = 1.0 / self.driver.config.rate_hz
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self.driver.cycle()
            next_tick += period
            pause = next_tick - time.monotonic()
            if pause < -period:
                next_tick = time.monotonic()  # fell behind (bring-up, a stall): do not burst to catch up
            elif pause > 0:
                self._stop.wait(pause)
