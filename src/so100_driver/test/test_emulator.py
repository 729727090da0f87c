"""The bus emulator: instruction handling, servo physics, faults, and the pseudo-terminal server."""

import os
import time

import pytest
import serial

from so100_driver.core import protocol as p
from so100_driver.core.emulator import BusEmulator, EmulatedServo, Faults, PtyServer, Timing


def _one(bus, request: bytes):
    (packet,) = p.PacketDecoder().feed(request)
    replies = bus.handle(packet)
    decoder = p.PacketDecoder()
    return [q for _, r in replies for q in decoder.feed(r)]


def test_ping_read_write_and_unknown_ids():
    bus = BusEmulator()
    (reply,) = _one(bus, p.ping(3))
    assert (reply.servo_id, reply.error, reply.params) == (3, 0, b"")
    assert _one(bus, p.ping(9)) == []
    (reply,) = _one(bus, p.read(2, 3, 2))
    assert p.CONTROL_TABLE["Model_Number"].decode(reply.params) == 777
    assert _one(bus, p.write(2, 7, b"\x00"))[0].servo_id == 2
    assert bus.servo(2).get("Return_Delay_Time") == 0
    # Model number and present values are read-only.
    _one(bus, p.write(2, 3, b"\x00\x00"))
    assert bus.servo(2).get("Model_Number") == 777


def test_reg_write_waits_for_action():
    bus = BusEmulator()
    goal = p.CONTROL_TABLE["Goal_Position"].encode(1234)
    assert _one(bus, p.instruction_packet(1, p.Instruction.REG_WRITE, bytes([42]) + goal))[0].servo_id == 1
    _one(bus, p.instruction_packet(2, p.Instruction.REG_WRITE, bytes([42]) + goal))
    assert bus.servo(1).get("Goal_Position") == 2048
    assert _one(bus, p.instruction_packet(p.BROADCAST_ID, p.Instruction.ACTION)) == []
    assert bus.servo(1).get("Goal_Position") == bus.servo(2).get("Goal_Position") == 1234
    assert bus.servo(1).registered is None


def test_sync_read_answers_in_the_listed_order_and_skips_missing_servos():
    bus = BusEmulator(servo_ids=[1, 2, 3])
    replies = _one(bus, p.sync_read(56, 4, [3, 7, 1]))
    assert [r.servo_id for r in replies] == [3, 1]
    assert all(len(r.params) == 4 for r in replies)


def test_sync_write_sets_each_goal_without_reply():
    bus = BusEmulator()
    goals = {i: p.CONTROL_TABLE["Goal_Position"].encode(1000 + i) for i in range(1, 7)}
    assert _one(bus, p.sync_write(42, 2, goals)) == []
    assert [bus.servo(i).get("Goal_Position") for i in range(1, 7)] == [1001, 1002, 1003, 1004, 1005, 1006]


def test_position_moves_toward_goal_only_with_torque_and_within_limits():
    servo = EmulatedServo(1, actual_ticks=2000.0, max_speed_ticks_s=1000.0)
    servo.set("Goal_Position", 2500)
    servo.step(0.1)
    assert servo.get("Present_Position") == 2000  # torque off: limp
    servo.write(40, b"\x01")
    servo.step(0.1)
    assert servo.get("Present_Position") == 2100
    assert servo.get("Present_Velocity") == 1000
    assert servo.get("Present_Load") > 0
    servo.set("Max_Position_Limit", 2200)
    servo.step(1.0)
    assert servo.get("Present_Position") == 2200  # the goal is clipped to the limit
    assert servo.get("Present_Velocity") == 100


def test_homing_offset_shifts_present_and_goal():
    servo = EmulatedServo(1, actual_ticks=2500.0)
    servo.set("Homing_Offset", 453)
    servo.step(0.0)
    assert servo.get("Present_Position") == 2047
    servo.set("Homing_Offset", -100)  # sign-magnitude bit 11
    servo.step(0.0)
    assert servo.get("Present_Position") == 2600


def test_overload_sets_the_error_bit_and_cuts_torque_until_reenabled():
    bus = BusEmulator()
    _one(bus, p.write(4, 40, b"\x01"))
    bus.inject_overload(4)
    (reply,) = _one(bus, p.ping(4))
    assert reply.error & p.StatusError.OVERLOAD
    assert not bus.servo(4).torque_on()
    _one(bus, p.write(4, 40, b"\x01"))
    assert bus.servo(4).torque_on()
    assert _one(bus, p.ping(4))[0].error == 0


def test_overheat_and_voltage_bits():
    servo = EmulatedServo(1)
    servo.set("Present_Voltage", 40)
    servo.temperature_c = 80.0
    assert servo.error_bits() == p.StatusError.VOLTAGE | p.StatusError.OVERHEAT


def test_faults_drop_and_corrupt_replies_at_the_configured_rates():
    bus = BusEmulator(faults=Faults(drop_rate=0.2, corrupt_rate=0.1, seed=1))
    good = wrong = 0
    for _ in range(2000):
        (packet,) = p.PacketDecoder().feed(p.ping(1))
        for _, reply in bus.handle(packet):
            for decoded in p.PacketDecoder().feed(reply):
                good += decoded == p.Packet(1, 0, b"")
                wrong += decoded != p.Packet(1, 0, b"")
    assert 0.17 < bus.stats.dropped / 2000 < 0.23
    assert 0.07 < bus.stats.corrupted / 1600 < 0.13
    # A single flipped bit always fails the checksum or the framing: never a wrong packet.
    assert wrong == 0
    assert good == 2000 - bus.stats.dropped - bus.stats.corrupted
    with pytest.raises(ValueError, match="drop_rate"):
        Faults(drop_rate=1.5)


def test_timing_models_wire_time_and_return_delay():
    bus = BusEmulator(timing=Timing(baudrate=1_000_000))
    (packet,) = p.PacketDecoder().feed(p.sync_read(56, 4, range(1, 7)))
    delays = [d for d, _ in bus.handle(packet)]
    # 10 bytes per reply at 10 us each (100 us), plus the default Return_Delay_Time of 250 (500 us).
    assert delays == pytest.approx([600e-6] * 6)


def test_pty_server_speaks_over_a_real_serial_port(tmp_path):
    link = str(tmp_path / "arm")
    bus = BusEmulator()
    with PtyServer(bus, link_path=link) as server:
        assert os.path.realpath(link) == server.path
        with serial.Serial(link, 1_000_000, timeout=1.0) as port:
            port.write(p.sync_read(56, 4, range(1, 7)))
            data = port.read(60)
        replies = p.PacketDecoder().feed(data)
        assert [r.servo_id for r in replies] == [1, 2, 3, 4, 5, 6]
        # Torque on with a goal: the position moves in real time.
        with serial.Serial(link, 1_000_000, timeout=1.0) as port:
            port.write(p.write(1, 42, p.CONTROL_TABLE["Goal_Position"].encode(2300)))
            port.write(p.write(1, 40, b"\x01"))
            port.read(12)
            deadline = time.monotonic() + 2.0
            while bus.servo(1).get("Present_Position") != 2300 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert bus.servo(1).get("Present_Position") == 2300
    assert not os.path.lexists(link)


def test_so100_emulator_command_serves_a_terminal_and_stops_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys

    link = tmp_path / "arm"
    proc = subprocess.Popen(
        [sys.executable, "-m", "so100_driver.core.emulator", "--link", str(link), "--baudrate", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        assert os.path.realpath(link) == path
        with serial.Serial(str(link), 1_000_000, timeout=2.0) as port:
            port.write(p.ping(6))
            assert port.read(6) == p.status_packet(6, 0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert not os.path.lexists(link)
