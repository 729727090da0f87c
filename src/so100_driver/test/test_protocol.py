"""STS3215 packets: known answers worked out by hand from the protocol rules, and the decoder on any bytes.

Each expected packet below was computed on paper: checksum = ~(id + len + instr/error + params) & 0xFF.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from so100_driver.core import protocol as p

KNOWN_PACKETS = [
    # PING id 1: 1 + 2 + 1 = 4 -> ~4 = 0xFB
    (p.ping(1), "FF FF 01 02 01 FB"),
    # READ id 1, Present_Position (0x38), 2 bytes: 1 + 4 + 2 + 0x38 + 2 = 0x41 -> 0xBE
    (p.read(1, 56, 2), "FF FF 01 04 02 38 02 BE"),
    # WRITE id 1, Goal_Position (0x2A) = 2048 (00 08): 1 + 5 + 3 + 42 + 0 + 8 = 59 -> 0xC4
    (p.write(1, 42, bytes([0x00, 0x08])), "FF FF 01 05 03 2A 00 08 C4"),
    # SYNC_READ position + velocity (0x38, 4 bytes) of ids 1..6: 254 + 10 + 130 + 56 + 4 + 21 = 475 -> 0x24
    (p.sync_read(56, 4, range(1, 7)), "FF FF FE 0A 82 38 04 01 02 03 04 05 06 24"),
    # SYNC_WRITE Goal_Position: id 1 = 2048, id 2 = 1000 (E8 03): sum 685 -> 0x52
    (p.sync_write(42, 2, {1: b"\x00\x08", 2: b"\xe8\x03"}), "FF FF FE 0A 83 2A 02 01 00 08 02 E8 03 52"),
    # Status of id 1, no error, position 2047 (FF 07): 1 + 4 + 0 + 255 + 7 = 267 -> 11 -> 0xF4
    (p.status_packet(1, 0, bytes([0xFF, 0x07])), "FF FF 01 04 00 FF 07 F4"),
    # Status of id 6, overload (0x20), no params: 6 + 2 + 32 = 40 -> 0xD7
    (p.status_packet(6, 0x20), "FF FF 06 02 20 D7"),
]


@pytest.mark.parametrize(("packet", "expected"), KNOWN_PACKETS)
def test_known_packets(packet, expected):
    assert packet == bytes.fromhex(expected)


@pytest.mark.parametrize(("packet", "expected"), KNOWN_PACKETS)
def test_decoder_reads_known_packets(packet, expected):
    raw = bytes.fromhex(expected)
    (decoded,) = p.PacketDecoder().feed(raw)
    assert decoded.servo_id == raw[2]
    assert decoded.code == raw[4]
    assert decoded.params == raw[5:-1]


KNOWN_FIELDS = [
    ("Goal_Position", 2048, "00 08"),
    ("Goal_Position", -5, "05 80"),  # sign bit 15
    ("Present_Velocity", -1, "01 80"),
    ("Homing_Offset", -100, "64 08"),  # sign bit 11: 100 | 0x800 = 0x0864
    ("Homing_Offset", 2047, "FF 07"),
    ("Present_Load", -300, "2C 05"),  # sign bit 10: 300 | 0x400 = 0x052C
    ("Present_Load", 1000, "E8 03"),
    ("Torque_Enable", 1, "01"),
    ("Model_Number", 777, "09 03"),
]


@pytest.mark.parametrize(("name", "value", "expected"), KNOWN_FIELDS)
def test_field_encoding(name, value, expected):
    register = p.CONTROL_TABLE[name]
    assert register.encode(value) == bytes.fromhex(expected)
    assert register.decode(bytes.fromhex(expected)) == value


def test_control_table_addresses():
    table = p.CONTROL_TABLE
    assert (table["Model_Number"].address, table["Model_Number"].size) == (3, 2)
    assert (table["Goal_Position"].address, table["Goal_Position"].size) == (42, 2)
    assert (table["Present_Position"].address, table["Present_Velocity"].address) == (56, 58)
    assert (table["Torque_Enable"].address, table["Lock"].address) == (40, 55)
    assert table["Homing_Offset"].eeprom
    assert not table["Goal_Position"].eeprom
    assert [r.name for r in table.values() if r.sign_bit is not None] == [
        "Homing_Offset", "Goal_Position", "Goal_Velocity",
        "Present_Position", "Present_Velocity", "Present_Load",
    ]  # fmt: skip


def test_encoding_rejects_values_that_do_not_fit():
    with pytest.raises(ValueError, match="sign bit 11"):
        p.CONTROL_TABLE["Homing_Offset"].encode(2048)
    with pytest.raises(ValueError, match="does not fit"):
        p.CONTROL_TABLE["Torque_Enable"].encode(256)
    with pytest.raises(ValueError, match="out of range"):
        p.ping(0xFF)
    with pytest.raises(ValueError, match="expected 2"):
        p.sync_write(42, 2, {1: b"\x00"})


def test_error_bits():
    assert p.StatusError.describe(0) == "ok"
    assert p.StatusError.describe(0x20 | 0x04) == "overheat|overload"
    assert p.StatusError.describe(0x40) == "0x40"


def test_decoder_resynchronises_after_garbage_and_bad_checksum():
    good = bytes.fromhex("FF FF 01 04 00 FF 07 F4")
    bad = bytes.fromhex("FF FF 02 04 00 FF 07 00")  # wrong checksum
    decoder = p.PacketDecoder()
    packets = decoder.feed(b"\x00\x13\xff" + bad + good)
    assert [(q.servo_id, q.params) for q in packets] == [(1, b"\xff\x07")]
    assert decoder.bad_checksums == 1
    assert decoder.pending == 0


def test_decoder_assembles_split_packets():
    good = bytes.fromhex("FF FF 01 04 00 FF 07 F4")
    decoder = p.PacketDecoder()
    out = []
    for i in range(len(good)):
        out += decoder.feed(good[i : i + 1])
    assert len(out) == 1 and decoder.pending == 0  # noqa: PT018


def test_wire_byte_counts_match_packets():
    request = p.sync_read(56, 4, range(1, 7))
    reply = p.status_packet(1, 0, bytes(4))
    assert p.wire_bytes_sync_read(4, 6) == len(request) + 6 * len(reply) == 74
    assert p.wire_bytes_sync_write(2, 6) == len(p.sync_write(42, 2, {i: bytes(2) for i in range(1, 7)})) == 26


@given(st.binary(max_size=400))
def test_decoder_never_raises_and_only_returns_valid_packets(data):
    decoder = p.PacketDecoder()
    packets = decoder.feed(data)
    for packet in packets:
        # Every packet returned re-encodes to bytes that occur in the input.
        assert p.status_packet(packet.servo_id, packet.code, packet.params) in data
    assert decoder.pending <= len(data)


@given(
    st.lists(st.integers(0, 0xFE), max_size=60).map(bytes),
    st.integers(0, 0xFD),
    st.integers(0, 0x7F),
    st.binary(max_size=20),
)
def test_decoder_finds_a_packet_after_any_headerless_prefix(prefix, servo_id, error, params):
    packet = p.status_packet(servo_id, error, params)
    decoder = p.PacketDecoder()
    assert decoder.feed(prefix + packet) == [p.Packet(servo_id, error, params)]
    assert decoder.pending == 0


@given(st.integers(-4095, 4095))
def test_position_sign_magnitude_round_trip(value):
    register = p.CONTROL_TABLE["Goal_Position"]
    assert register.decode(register.encode(value)) == value
