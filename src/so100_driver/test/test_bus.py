"""Bus transactions over a real pseudo-terminal and pyserial: replies, retries and every failure kind."""

import os
import pty
import select
import threading
import time
import tty

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from so100_driver.core import protocol as p
from so100_driver.core.bus import BusError, FeetechBus
from so100_driver.core.emulator import BusEmulator, Faults, PtyServer, Timing
from so100_driver.core.transport import SerialTransport, TransportError


@pytest.fixture
def served():
    bus = BusEmulator(timing=Timing(baudrate=1_000_000))
    for i, servo in bus.servos.items():
        servo.set("Return_Delay_Time", 0)
        servo.move_by_hand(1000 + 10 * i)
    with PtyServer(bus) as server:
        transport = SerialTransport(server.path)
        transport.open()
        yield bus, FeetechBus(transport, timeout_s=0.02)
        transport.close()


def test_ping_read_write_and_sync_transactions(served):
    emulator, bus = served
    assert bus.ping(1) == 0
    assert bus.read(2, "Model_Number") == 777
    bus.write(2, "Goal_Position", 1500)
    assert emulator.servo(2).get("Goal_Position") == 1500
    positions, velocities = bus.read_position_velocity([1, 2, 3, 4, 5, 6])
    assert positions == [1010, 1020, 1030, 1040, 1050, 1060]
    assert velocities == [0] * 6
    bus.sync_write("Goal_Position", {i: 2000 + i for i in range(1, 7)})
    assert bus.sync_read("Goal_Position", [6, 5]) == {6: 2006, 5: 2005}
    assert bus.stats.failed_transactions == bus.stats.retries == bus.stats.foreign == 0
    # 14 + 6 * 10 bytes for the position/velocity sync read.
    assert bus.stats.bytes_rx > 60


def test_error_bits_are_kept_per_servo(served):
    emulator, bus = served
    emulator.inject_overload(3)
    bus.read_position_velocity([1, 2, 3])
    assert bus.servo_errors == {1: 0, 2: 0, 3: p.StatusError.OVERLOAD}


def test_missing_servo_fails_within_the_retry_budget(served):
    _, bus = served
    start = time.monotonic()
    with pytest.raises(BusError, match=r"no reply from \[7\] after 2 attempt"):
        bus.read_position_velocity([1, 7])
    # Two attempts of 20 ms each (+ wire time); the slack is for a busy machine, far below a stall.
    assert time.monotonic() - start < 2 * (0.02 + 0.001) + 0.2
    assert (bus.stats.missing, bus.stats.retries, bus.stats.failed_transactions) == (2, 1, 1)


def test_corrupted_replies_are_detected_retried_and_never_returned():
    emulator = BusEmulator(faults=Faults(corrupt_rate=0.1, seed=3))
    with PtyServer(emulator) as server:
        transport = SerialTransport(server.path)
        transport.open()
        bus = FeetechBus(transport, timeout_s=0.01, retries=3)
        ok = 0
        for _ in range(100):
            try:
                positions, _ = bus.read_position_velocity([1, 2, 3, 4, 5, 6])
            except BusError:
                continue
            ok += 1
            assert positions == [2048] * 6
        transport.close()
    assert ok > 70  # about 95 expected; late replies on a busy machine cost a few
    assert bus.stats.corrupt > 0
    assert bus.stats.retries > 0


def test_late_replies_are_counted_as_stale_or_foreign():
    emulator = BusEmulator(faults=Faults(delay_rate=0.2, delay_s=0.015, seed=5))
    with PtyServer(emulator) as server:
        transport = SerialTransport(server.path)
        transport.open()
        bus = FeetechBus(transport, timeout_s=0.005, retries=0)
        for _ in range(60):
            try:
                bus.ping(1)
            except BusError:
                time.sleep(0.012)
        transport.close()
    assert bus.stats.missing > 0
    assert bus.stats.stale_bytes + 6 * bus.stats.foreign > 0


@pytest.fixture
def fake_servo():
    """A raw pseudo-terminal: the test writes the "servo's" bytes itself, whatever they are."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    transport = SerialTransport(os.ttyname(slave))
    transport.open()
    # Patient: the test thread that plays the servo may be scheduled late on a busy machine.
    yield master, FeetechBus(transport, timeout_s=0.2, retries=0)
    transport.close()
    os.close(master)
    os.close(slave)


def _read_goal_answered_with(master, bus, reply: bytes) -> int:
    """Read servo 1's goal while a timer thread, playing the servo, answers with ``reply``."""

    def servo():
        if select.select([master], [], [], 2.0)[0]:  # answer the request, as a servo does
            os.read(master, 64)
            os.write(master, reply)

    thread = threading.Thread(target=servo)
    thread.start()
    try:
        return bus.read(1, "Goal_Position")
    finally:
        thread.join()  # never let a late answer land on a later test's terminal


def test_short_foreign_and_wrong_length_replies_are_rejected(fake_servo):
    master, bus = fake_servo
    reply = p.status_packet(1, 0, b"\x00\x08")
    assert _read_goal_answered_with(master, bus, reply) == 2048
    with pytest.raises(BusError, match="short reply"):
        _read_goal_answered_with(master, bus, reply[:5])
    assert bus.stats.short == 1
    with pytest.raises(BusError, match="no reply"):
        _read_goal_answered_with(master, bus, p.status_packet(2, 0, b"\x00\x08"))
    with pytest.raises(BusError, match="no reply"):
        _read_goal_answered_with(master, bus, p.status_packet(1, 0, b"\x00"))
    assert bus.stats.foreign == 2
    with pytest.raises(BusError, match="corrupted reply"):
        _read_goal_answered_with(master, bus, reply[:-1] + b"\x00")
    assert bus.stats.corrupt == 1
    # The half packet left over earlier was discarded as stale, not glued to a later reply.
    assert bus.stats.stale_bytes >= 5


def test_unplugged_port_raises_transport_error(tmp_path):
    link = str(tmp_path / "arm")
    server = PtyServer(BusEmulator(), link_path=link).start()
    transport = SerialTransport(link)
    transport.open()
    bus = FeetechBus(transport, timeout_s=0.01)
    assert bus.ping(1) == 0
    server.stop()
    with pytest.raises(TransportError):
        bus.ping(1)
    transport.close()
    with pytest.raises(TransportError, match="cannot open"):
        transport.open()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=20), st.one_of(st.none(), st.integers(0, 4095)), st.binary(max_size=20))
def test_arbitrary_reply_bytes_never_yield_a_value_that_was_not_sent(prefix, sent, suffix):
    """Whatever the line carries, a read returns only a valid packet from the asked servo, or fails."""
    reg = p.CONTROL_TABLE["Goal_Position"]
    line = prefix + (p.status_packet(1, 0, reg.encode(sent)) if sent is not None else b"") + suffix
    master, slave = pty.openpty()
    tty.setraw(slave)
    transport = SerialTransport(os.ttyname(slave))
    transport.open()
    bus = FeetechBus(transport, timeout_s=0.02, retries=0)
    try:
        try:
            value = _read_goal_answered_with(master, bus, line)
        except BusError:
            return
        packets = p.PacketDecoder().feed(line)
        assert any(q.servo_id == 1 and q.params == reg.encode(value) for q in packets)
    finally:
        transport.close()
        os.close(master)
        os.close(slave)
