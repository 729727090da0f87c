"""A stateful emulator of a bus of Feetech STS3215 servos, served over a pseudo-terminal.

Each servo has a register file laid out like the real control table
(:data:`so100_driver.core.protocol.CONTROL_TABLE`) and a small physical model:

- **Position**: the shaft's position ``actual`` in raw ticks (0..4095). ``Present_Position`` reads
  ``(actual - Homing_Offset) mod 4096``; a goal means ``actual = Goal_Position + Homing_Offset``,
  clipped to ``[Min_Position_Limit, Max_Position_Limit]`` first when ``max > min`` (0/0 means no
  limits, as on the servo). With torque on the shaft moves toward the goal at ``Goal_Velocity``
  ticks/s (``max_speed_ticks_s`` when 0); acceleration is not modelled. With torque off it stays
  where it is unless moved by hand (:meth:`EmulatedServo.move_by_hand`).
- **Velocity**: ``Present_Velocity`` in ticks/s (sign-magnitude, bit 15).
- **Load**: ``Present_Load`` in 0.1 % of stall torque (sign-magnitude, bit 10), proportional to
  the remaining position error times the P gain, saturated at ``Torque_Limit`` (SRAM, the limit in
  force; a power-up takes it from ``Max_Torque_Limit``, EEPROM) and at twice
  ``Protection_Current`` (so that ``Present_Current``, modelled as half the load in 6.5 mA units,
  never exceeds it); 0 with torque off. An obstacle (:meth:`BusEmulator.place_obstacle`: an object
  in the jaw) stops the shaft at a position, so a goal beyond it stalls the servo at that load.
- **Temperature / voltage**: ``Present_Temperature`` (deg C) rises with load and cools toward
  ambient (first order); ``Present_Voltage`` in 0.1 V is settable.
- **Errors**: the status error byte carries overload (injected, and the servo cuts its torque,
  as the real one does, until Torque_Enable is written 1 again), overheat (temperature above
  Max_Temperature_Limit) and voltage (outside 4.5..14 V) bits.
- **REG_WRITE** is held until an ACTION (broadcast or to the servo) applies it.
- **EEPROM writes** take effect at once whatever ``Lock`` says: persistence across power cycles is
  not modelled.

**Timing** (:class:`Timing`): over a pseudo-terminal a byte costs nothing, so the emulator can
hold each reply back by what the real wire would cost at the configured baud rate (request and
reply bytes at 10 bits each) plus the servo's Return_Delay_Time (2 us per unit). Replies of a
SYNC_READ come one after another, as on the real half-duplex bus.

**Faults** (:class:`Faults`): each reply may be dropped, corrupted (one bit flipped) or delayed,
with seeded probabilities; overload is injected per servo.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import select
import signal
import sys
import threading
import time
import tty
from collections.abc import Iterable
from dataclasses import dataclass, field

from so100_common.core.joints import SERVO_IDS
from so100_driver.core import protocol as p

_REG = p.CONTROL_TABLE
_FILE_SIZE = 256


@dataclass
class Faults:
    """Probabilities (0..1) of faults, drawn per reply from a seeded generator."""

    drop_rate: float = 0.0
    corrupt_rate: float = 0.0
    delay_rate: float = 0.0
    # Extra delay of a delayed reply; beyond the driver's timeout it arrives during a later transaction.
    delay_s: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop_rate", "corrupt_rate", "delay_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {getattr(self, name)}")


@dataclass
class Timing:
    """Bus timing to model on a pseudo-terminal. ``baudrate=0`` sends replies at once."""

    baudrate: int = 1_000_000
    honour_return_delay: bool = True

    def bytes_s(self, n_bytes: int) -> float:
        return 10.0 * n_bytes / self.baudrate if self.baudrate else 0.0


@dataclass
class EmulatedServo:
    """One STS3215: its register file and the physical state behind the present-value registers."""

    servo_id: int
    actual_ticks: float = 2048.0
    max_speed_ticks_s: float = 3000.0
    ambient_c: float = 25.0
    temperature_c: float = 25.0
    overload: bool = False
    # A raw tick position the shaft cannot pass, and the side it is on (+1: below it), or None.
    obstacle: tuple[float, int] | None = None
    # A REG_WRITE waiting for ACTION: (address, data).
    registered: tuple[int, bytes] | None = None
    regs: bytearray = field(default_factory=lambda: bytearray(_FILE_SIZE))

    def __post_init__(self) -> None:
        defaults = {
            "Model_Number": p.MODEL_STS3215,
            "ID": self.servo_id,
            "Baud_Rate": 0,
            "Return_Delay_Time": 250,
            "Min_Position_Limit": 0,
            "Max_Position_Limit": 4095,
            "Max_Temperature_Limit": 70,
            "Max_Torque_Limit": 1000,
            "P_Coefficient": 32,
            "D_Coefficient": 32,
            "I_Coefficient": 0,
            "Protection_Current": 500,
            "Overload_Torque": 80,
            "Torque_Limit": 1000,
            "Present_Voltage": 120,
            "Lock": 1,
        }
        for name, value in defaults.items():
            self.set(name, value)
        self.set("Goal_Position", self.present_ticks())
        self._refresh(0.0)

    # Registers --------------------------------------------------------------------------------
    def get(self, name: str) -> int:
        reg = _REG[name]
        return reg.decode(bytes(self.regs[reg.address : reg.address + reg.size]))

    def set(self, name: str, value: int) -> None:
        reg = _REG[name]
        self.regs[reg.address : reg.address + reg.size] = reg.encode(value)

    def read(self, address: int, length: int) -> bytes:
        return bytes(self.regs[address : address + length]).ljust(length, b"\x00")

    def write(self, address: int, data: bytes) -> None:
        end = min(address + len(data), _FILE_SIZE)
        read_only = {_REG[n].address + i for n in ("Model_Number", "ID") for i in range(_REG[n].size)}
        for addr in range(address, end):
            if addr not in read_only and not _REG["Present_Position"].address <= addr < 71:
                self.regs[addr] = data[addr - address]
        torque = _REG["Torque_Enable"].address
        if address <= torque < end and data[torque - address] == 1:
            self.overload = False

    # Physics ----------------------------------------------------------------------------------
    def homing(self) -> int:
        return self.get("Homing_Offset")

    def present_ticks(self) -> int:
        return round(self.actual_ticks - self.homing()) % p.TICKS_PER_REV

    def target_ticks(self) -> float:
        goal = self.get("Goal_Position")
        lo, hi = self.get("Min_Position_Limit"), self.get("Max_Position_Limit")
        if hi > lo:
            goal = min(max(goal, lo), hi)
        return float(goal + self.homing())

    def torque_on(self) -> bool:
        return self.get("Torque_Enable") == 1 and not self.overload

    def move_by_hand(self, actual_ticks: float) -> None:
        """Put the shaft at ``actual_ticks`` (raw, before homing), as a hand moving a limp joint."""
        self.actual_ticks = float(actual_ticks)
        self._refresh(0.0)

    def step(self, dt: float) -> None:
        velocity = 0.0
        if self.torque_on() and dt > 0:
            error = self.target_ticks() - self.actual_ticks
            speed = self.get("Goal_Velocity") or self.max_speed_ticks_s
            move = max(-speed * dt, min(speed * dt, error))
            start = self.actual_ticks
            self.actual_ticks += move
            if self.obstacle is not None:
                at, side = self.obstacle
                self.actual_ticks = min(self.actual_ticks, at) if side > 0 else max(self.actual_ticks, at)
            velocity = (self.actual_ticks - start) / dt
        self._refresh(dt, velocity)

    def _refresh(self, dt: float, velocity: float = 0.0) -> None:
        load = 0.0
        if self.torque_on():
            error = self.target_ticks() - self.actual_ticks
            cap = min(1000.0, float(self.get("Torque_Limit")), 2.0 * self.get("Protection_Current"))
            load = max(-cap, min(cap, error * self.get("P_Coefficient")))
        # First-order heating: about 1 deg C/s at full load, cooling toward ambient.
        self.temperature_c += dt * (abs(load) / 1000.0 - 0.02 * (self.temperature_c - self.ambient_c))
        self.set("Present_Position", self.present_ticks())
        self.set("Present_Velocity", round(velocity))
        self.set("Present_Load", round(load))
        self.set("Present_Temperature", round(self.temperature_c))
        self.set("Present_Current", int(abs(load) * 0.5))
        self.set("Moving", int(abs(velocity) > 0.5))
        self.set("Status", self.error_bits())

    def error_bits(self) -> int:
        bits = p.StatusError.NONE
        if self.overload:
            bits |= p.StatusError.OVERLOAD
        if self.temperature_c > self.get("Max_Temperature_Limit"):
            bits |= p.StatusError.OVERHEAT
        if not 45 <= self.get("Present_Voltage") <= 140:
            bits |= p.StatusError.VOLTAGE
        return int(bits)


@dataclass
class EmulatorStats:
    requests: int = 0
    replies: int = 0
    dropped: int = 0
    corrupted: int = 0
    delayed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


class BusEmulator:
    """The servos on one bus and the instruction handling; thread-safe (one lock around everything)."""

    def __init__(
        self,
        servo_ids: Iterable[int] = SERVO_IDS,
        faults: Faults | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.servos: dict[int, EmulatedServo] = {i: EmulatedServo(i) for i in servo_ids}
        self.faults = faults or Faults()
        self.timing = timing or Timing(baudrate=0)
        self.stats = EmulatorStats()
        self.lock = threading.RLock()
        self._rng = random.Random(self.faults.seed)
        self._last_step = time.monotonic()

    def servo(self, servo_id: int) -> EmulatedServo:
        return self.servos[servo_id]

    def advance(self, now: float | None = None) -> None:
        """Step every servo's physics to ``now`` (monotonic seconds)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            dt = max(0.0, now - self._last_step)
            self._last_step = now
            for servo in self.servos.values():
                servo.step(dt)

    def place_obstacle(self, servo_id: int, actual_ticks: float | None) -> None:
        """Stop servo ``servo_id``'s shaft at ``actual_ticks`` (raw) from the side it is on now, as
        an object between the jaws would; None removes it."""
        with self.lock:
            servo = self.servos[servo_id]
            if actual_ticks is None:
                servo.obstacle = None
            else:
                servo.obstacle = (float(actual_ticks), 1 if actual_ticks >= servo.actual_ticks else -1)

    def inject_overload(self, servo_id: int) -> None:
        with self.lock:
            self.servos[servo_id].overload = True
            self.servos[servo_id].step(0.0)

    def handle(self, packet: p.Packet) -> list[tuple[float, bytes]]:
        """Replies to one instruction packet, each with the delay (s) after which it leaves."""
        with self.lock:
            self.stats.requests += 1
            replies = self._respond(packet)
            out: list[tuple[float, bytes]] = []
            for servo_id, reply in replies:
                if self._rng.random() < self.faults.drop_rate:
                    self.stats.dropped += 1
                    continue
                delay = 0.0
                if self.timing.honour_return_delay and self.timing.baudrate:
                    delay += 2e-6 * self.servos[servo_id].get("Return_Delay_Time")
                delay += self.timing.bytes_s(len(reply))
                if self._rng.random() < self.faults.corrupt_rate:
                    self.stats.corrupted += 1
                    index = self._rng.randrange(2, len(reply))
                    flipped = reply[index] ^ (1 << self._rng.randrange(8))
                    reply = reply[:index] + bytes((flipped,)) + reply[index + 1 :]
                if self._rng.random() < self.faults.delay_rate:
                    self.stats.delayed += 1
                    delay += self.faults.delay_s
                out.append((delay, reply))
            self.stats.replies += len(out)
            return out

    def _status(self, servo: EmulatedServo, params: bytes = b"") -> tuple[int, bytes]:
        return servo.servo_id, p.status_packet(servo.servo_id, servo.error_bits(), params)

    def _respond(self, packet: p.Packet) -> list[tuple[int, bytes]]:
        instr, params = packet.code, packet.params
        broadcast = packet.servo_id == p.BROADCAST_ID
        targets = list(self.servos.values()) if broadcast else [self.servos.get(packet.servo_id)]
        targets = [s for s in targets if s is not None]
        if instr == p.Instruction.PING:
            return [self._status(s) for s in targets]
        if instr == p.Instruction.READ and len(params) == 2 and not broadcast:
            return [self._status(s, s.read(params[0], params[1])) for s in targets]
        if instr == p.Instruction.WRITE and len(params) >= 2:
            for servo in targets:
                servo.write(params[0], params[1:])
                servo.step(0.0)
            return [] if broadcast else [self._status(s) for s in targets]
        if instr == p.Instruction.REG_WRITE and len(params) >= 2:
            for servo in targets:
                servo.registered = (params[0], params[1:])  # applied by the next ACTION
            return [] if broadcast else [self._status(s) for s in targets]
        if instr == p.Instruction.ACTION:
            for servo in targets:
                if servo.registered is not None:
                    servo.write(*servo.registered)
                    servo.registered = None
                    servo.step(0.0)
            return [] if broadcast else [self._status(s) for s in targets]
        if instr == p.Instruction.SYNC_READ and broadcast and len(params) >= 3:
            address, length = params[0], params[1]
            listed = [self.servos[i] for i in params[2:] if i in self.servos]
            return [self._status(s, s.read(address, length)) for s in listed]
        if instr == p.Instruction.SYNC_WRITE and broadcast and len(params) >= 2:
            address, length = params[0], params[1]
            body = params[2:]
            if length == 0 or len(body) % (length + 1):
                return []
            for k in range(0, len(body), length + 1):
                servo = self.servos.get(body[k])
                if servo is not None:
                    servo.write(address, body[k + 1 : k + 1 + length])
                    servo.step(0.0)
            return []
        if instr == p.Instruction.RESET:
            return [] if broadcast else [self._status(s) for s in targets]
        return []


class PtyServer:
    """Serves a :class:`BusEmulator` on a new pseudo-terminal, from a background thread.

    ``path`` is the terminal the driver opens (``/dev/pts/N``); ``link_path``, when given, is a
    symlink pointing at it, replaced atomically, so a driver configured with the link finds the
    new terminal after :meth:`stop` (an "unplug") and a new server (a "replug").
    """

    def __init__(
        self, bus: BusEmulator, link_path: str | None = None, physics_period_s: float = 0.002
    ) -> None:
        self.bus = bus
        self.link_path = link_path
        self.physics_period_s = physics_period_s
        self._master = self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.path = ""

    def start(self) -> PtyServer:
        import pty

        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        if self.link_path:
            tmp = f"{self.link_path}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link_path)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="so100-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the terminal (a driver holding it sees the port fail)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self.link_path and os.path.islink(self.link_path) and os.readlink(self.link_path) == self.path:
            os.unlink(self.link_path)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> PtyServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self) -> None:
        decoder = p.PacketDecoder()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], self.physics_period_s)
            self.bus.advance()
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            received = time.monotonic()
            with self.bus.lock:
                self.bus.stats.bytes_in += len(data)
            for packet in decoder.feed(data):
                # The request's own bytes on the wire come first, then each reply in turn.
                due = received + self.bus.timing.bytes_s(6 + len(packet.params))
                for delay, reply in self.bus.handle(packet):
                    due += delay
                    pause = due - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    try:
                        os.write(self._master, reply)
                    except OSError:
                        return
                    with self.bus.lock:
                        self.bus.stats.bytes_out += len(reply)


def main(argv: list[str] | None = None) -> int:
    """``so100_emulator``: serve six emulated STS3215 servos on a pseudo-terminal until interrupted."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--link", help="also make this symlink point at the terminal")
    parser.add_argument("--baudrate", type=int, default=1_000_000, help="wire time to model; 0 = none")
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--corrupt-rate", type=float, default=0.0)
    parser.add_argument("--delay-rate", type=float, default=0.0)
    parser.add_argument("--delay-s", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        faults = Faults(args.drop_rate, args.corrupt_rate, args.delay_rate, args.delay_s, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    # Handlers first: whoever reads the printed path may signal us at once.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    bus = BusEmulator(faults=faults, timing=Timing(baudrate=args.baudrate))
    server = PtyServer(bus, link_path=args.link).start()
    print(server.path, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
