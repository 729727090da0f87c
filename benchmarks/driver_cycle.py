"""SO-100 driver bus cycle against the emulator: time per cycle, overhead beyond the wire, bytes on the wire.

The emulator runs as its own process (``so100_emulator``), as a real bus adapter would be, on a
pseudo-terminal. Two emulator settings:

- ``--baudrate 0``: replies leave at once, so the measured time is the pure overhead of our stack
  (Python, pyserial, the pty, the emulator's own handling) beyond the wire;
- ``--baudrate 1000000``: the emulator holds each reply back by its wire time at 1 Mbaud (request
  and reply bytes, 10 bits each; Return_Delay_Time 0), so the time approximates a real bus.

Patterns, each for 6 servos:

- ``ours``: one SYNC_READ of Present_Position + Present_Velocity (4 bytes), one SYNC_WRITE of
  Goal_Position;
- ``lerobot``: LeRobot's read-then-write of the SO follower with max_relative_target: SYNC_READ
  Present_Position for the observation, SYNC_READ Present_Position again in send_action to clamp
  the relative target, SYNC_WRITE Goal_Position (no velocity at all);
- ``lerobot+vel``: the same plus a SYNC_READ of Present_Velocity, for the same information as ours;
- ``driver``: a full ``Driver.cycle()`` (ours, plus tick<->rad mapping, clamping and bookkeeping).

    python benchmarks/driver_cycle.py [--cycles 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time

import numpy as np

from so100_common.core.joints import SERVO_IDS
from so100_driver.core import protocol as p
from so100_driver.core.bus import FeetechBus
from so100_driver.core.driver import Driver, DriverConfig
from so100_driver.core.transport import SerialTransport

IDS = list(SERVO_IDS)
GOALS = dict.fromkeys(IDS, 2048)


def ours(bus: FeetechBus) -> None:
    bus.read_position_velocity(IDS)
    bus.sync_write("Goal_Position", GOALS)


def lerobot(bus: FeetechBus) -> None:
    bus.sync_read("Present_Position", IDS)
    bus.sync_read("Present_Position", IDS)
    bus.sync_write("Goal_Position", GOALS)


def lerobot_with_velocity(bus: FeetechBus) -> None:
    bus.sync_read("Present_Position", IDS)
    bus.sync_read("Present_Velocity", IDS)
    bus.sync_read("Present_Position", IDS)
    bus.sync_write("Goal_Position", GOALS)


PATTERNS = {"ours": ours, "lerobot": lerobot, "lerobot+vel": lerobot_with_velocity}
WIRE_BYTES = {
    "ours": p.wire_bytes_sync_read(4, 6) + p.wire_bytes_sync_write(2, 6),
    "lerobot": 2 * p.wire_bytes_sync_read(2, 6) + p.wire_bytes_sync_write(2, 6),
    "lerobot+vel": 3 * p.wire_bytes_sync_read(2, 6) + p.wire_bytes_sync_write(2, 6),
}
WIRE_BYTES["driver"] = WIRE_BYTES["ours"]


@contextlib.contextmanager
def emulator(baudrate: int):
    proc = subprocess.Popen(
        [sys.executable, "-m", "so100_driver.core.emulator", "--baudrate", str(baudrate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure(path: str, name: str, cycles: int) -> tuple[np.ndarray, float, int]:
    """Seconds per cycle, bytes per cycle, failed attempts (retries and failed transactions)."""
    if name == "driver":
        driver = Driver(DriverConfig(port=path, io_timeout_s=0.02, status_period_s=60.0))
        driver.cycle()  # bring-up
        assert driver.bus is not None, driver.status().message
        bus, step = driver.bus, driver.cycle
    else:
        transport = SerialTransport(path)
        transport.open()
        bus = FeetechBus(transport, timeout_s=0.02)
        for servo_id in IDS:
            bus.write(servo_id, "Return_Delay_Time", 0)

        def step():
            PATTERNS[name](bus)

    for _ in range(50):  # warm-up
        step()
    bytes_before = bus.stats.bytes_tx + bus.stats.bytes_rx
    failed_before = bus.stats.failed_transactions + bus.stats.retries
    times = np.empty(cycles)
    for i in range(cycles):
        start = time.perf_counter()
        step()
        times[i] = time.perf_counter() - start
    per_cycle = (bus.stats.bytes_tx + bus.stats.bytes_rx - bytes_before) / cycles
    failed = bus.stats.failed_transactions + bus.stats.retries - failed_before
    if name == "driver":
        driver.shutdown("release")
    else:
        transport.close()
    return times, per_cycle, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    args = parser.parse_args()
    print("| emulator | pattern | bytes/cycle | wire ms | p50 ms | p99 ms | mean ms | failed attempts |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for baudrate in (0, 1_000_000):
        with emulator(baudrate) as path:
            for name in ("ours", "lerobot", "lerobot+vel", "driver"):
                times, per_cycle, failed = measure(path, name, args.cycles)
                wire_ms = WIRE_BYTES[name] * p.BYTE_TIME_S_1MBAUD * 1e3
                label = "no wire time" if baudrate == 0 else "1 Mbaud wire time"
                ms = 1e3 * np.percentile(times, [50, 99])
                print(
                    f"| {label} | {name} | {per_cycle:.0f} | {wire_ms:.2f} | {ms[0]:.3f} | {ms[1]:.3f} "
                    f"| {1e3 * times.mean():.3f} | {failed} |"
                )


if __name__ == "__main__":
    main()
