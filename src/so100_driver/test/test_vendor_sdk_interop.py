"""The vendor SDK (feetech-servo-sdk, ``scservo_sdk``) talks to the emulator over a pseudo-terminal.

The SDK is the manufacturer's own implementation of the protocol, so its success shows the emulator
speaks the real protocol, not just our reading of it.
"""

import pytest

from so100_driver.core.emulator import BusEmulator, PtyServer

scs = pytest.importorskip("scservo_sdk", reason="feetech-servo-sdk is pinned in requirements/python.txt")


@pytest.fixture
def sdk_port():
    bus = BusEmulator()
    for i, servo in bus.servos.items():
        servo.move_by_hand(1000 + 100 * i)
    with PtyServer(bus) as server:
        port = scs.PortHandler(server.path)
        assert port.openPort()
        assert port.setBaudRate(1_000_000)
        try:
            yield bus, port, scs.PacketHandler(0)
        finally:
            port.closePort()


def test_sdk_pings_and_reads_model_number(sdk_port):
    _, port, handler = sdk_port
    for servo_id in range(1, 7):
        model, result, error = handler.ping(port, servo_id)
        assert (model, result, error) == (777, scs.COMM_SUCCESS, 0)
    _, result, _ = handler.ping(port, 9)
    assert result == scs.COMM_RX_TIMEOUT


def test_sdk_reads_and_writes_registers(sdk_port):
    bus, port, handler = sdk_port
    position, result, error = handler.read2ByteTxRx(port, 3, 56)
    assert (position, result, error) == (1300, scs.COMM_SUCCESS, 0)
    result, error = handler.write2ByteTxRx(port, 3, 42, 1500)
    assert (result, error) == (scs.COMM_SUCCESS, 0)
    assert bus.servo(3).get("Goal_Position") == 1500


def test_sdk_sync_reads_position_and_velocity_and_sync_writes_goals(sdk_port):
    bus, port, handler = sdk_port
    reader = scs.GroupSyncRead(port, handler, 56, 4)
    for servo_id in range(1, 7):
        assert reader.addParam(servo_id)
    assert reader.txRxPacket() == scs.COMM_SUCCESS
    for servo_id in range(1, 7):
        assert reader.isAvailable(servo_id, 56, 2)
        assert reader.getData(servo_id, 56, 2) == 1000 + 100 * servo_id
        assert reader.getData(servo_id, 58, 2) == 0
    writer = scs.GroupSyncWrite(port, handler, 42, 2)
    for servo_id in range(1, 7):
        assert writer.addParam(servo_id, [0x00, 0x08])
    assert writer.txPacket() == scs.COMM_SUCCESS
    handler.ping(port, 1)  # the SYNC_WRITE has no reply; a round trip after it shows it was handled
    assert [s.get("Goal_Position") for s in bus.servos.values()] == [2048] * 6
