"""Feetech STS3215 serial bus protocol ("protocol 0" of the STS/SMS series): packets, control table.

Packets (every multi-byte value little-endian)::

    instruction: FF FF | id | len | instruction | params... | checksum
    status:      FF FF | id | len | error       | params... | checksum

``len`` counts the params plus two (the instruction/error byte and the checksum);
``checksum = ~(id + len + instruction/error + sum(params)) & 0xFF``. Id 0xFE is the broadcast id:
SYNC_READ and SYNC_WRITE go to it. SYNC_READ makes every listed servo answer with its own status
packet, in the order listed; SYNC_WRITE and anything else sent to 0xFE get no reply.

This module is pure: it builds and parses bytes and knows the register map. Sending them is
:mod:`so100_driver.core.transport`'s job, and meaning them is :mod:`so100_driver.core.bus`'s.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE
# Largest legal id of a single servo; 0xFF never appears as an id (it would read as a header).
MAX_SERVO_ID = 0xFD
# Longest ``len`` field accepted by the decoder (the vendor SDK uses the same bound).
MAX_LENGTH_FIELD = 250
MODEL_STS3215 = 777
TICKS_PER_REV = 4096
BYTE_TIME_S_1MBAUD = 10e-6  # 8N1: ten bits per byte


class Instruction(enum.IntEnum):
    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    RESET = 0x0A
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83


class StatusError(enum.IntFlag):
    """Bits of a status packet's error byte."""

    NONE = 0
    VOLTAGE = 1
    ANGLE = 2
    OVERHEAT = 4
    OVERCURRENT = 8
    OVERLOAD = 32

    @classmethod
    def describe(cls, bits: int) -> str:
        """``"ok"`` or the set flags' names joined by ``|`` (unknown bits as hex)."""
        names = [f.name.lower() for f in cls if f.value and bits & f.value]
        unknown = bits & ~sum(f.value for f in cls)
        if unknown:
            names.append(hex(unknown))
        return "|".join(names) if names else "ok"


@dataclass(frozen=True)
class Register:
    """One control-table entry. ``sign_bit`` is set for sign-magnitude fields."""

    name: str
    address: int
    size: int
    eeprom: bool
    sign_bit: int | None = None

    def encode(self, value: int) -> bytes:
        """``value`` as this register's little-endian bytes (sign-magnitude where it applies)."""
        raw = to_sign_magnitude(value, self.sign_bit) if self.sign_bit is not None else int(value)
        if not 0 <= raw < 1 << (8 * self.size):
            raise ValueError(f"{self.name}: {value} does not fit in {self.size} byte(s)")
        return raw.to_bytes(self.size, "little")

    def decode(self, data: bytes) -> int:
        """The value held in ``data`` (exactly ``size`` bytes)."""
        if len(data) != self.size:
            raise ValueError(f"{self.name}: expected {self.size} byte(s), got {len(data)}")
        raw = int.from_bytes(data, "little")
        return from_sign_magnitude(raw, self.sign_bit) if self.sign_bit is not None else raw


_TABLE = (
    # EEPROM
    Register("Model_Number", 3, 2, True),
    Register("ID", 5, 1, True),
    Register("Baud_Rate", 6, 1, True),
    Register("Return_Delay_Time", 7, 1, True),
    Register("Min_Position_Limit", 9, 2, True),
    Register("Max_Position_Limit", 11, 2, True),
    Register("Max_Temperature_Limit", 13, 1, True),
    Register("Max_Torque_Limit", 16, 2, True),
    Register("Phase", 18, 1, True),
    Register("P_Coefficient", 21, 1, True),
    Register("D_Coefficient", 22, 1, True),
    Register("I_Coefficient", 23, 1, True),
    Register("Protection_Current", 28, 2, True),
    Register("Homing_Offset", 31, 2, True, sign_bit=11),
    Register("Operating_Mode", 33, 1, True),
    Register("Overload_Torque", 36, 1, True),
    # RAM
    Register("Torque_Enable", 40, 1, False),
    Register("Acceleration", 41, 1, False),
    Register("Goal_Position", 42, 2, False, sign_bit=15),
    Register("Goal_Time", 44, 2, False),
    Register("Goal_Velocity", 46, 2, False, sign_bit=15),
    Register("Torque_Limit", 48, 2, False),
    Register("Lock", 55, 1, False),
    Register("Present_Position", 56, 2, False, sign_bit=15),
    Register("Present_Velocity", 58, 2, False, sign_bit=15),
    Register("Present_Load", 60, 2, False, sign_bit=10),
    Register("Present_Voltage", 62, 1, False),
    Register("Present_Temperature", 63, 1, False),
    Register("Status", 65, 1, False),
    Register("Moving", 66, 1, False),
    Register("Present_Current", 69, 2, False),
)
CONTROL_TABLE: dict[str, Register] = {r.name: r for r in _TABLE}
# Bytes of the register file (the highest address used plus its size).
REGISTER_FILE_SIZE = max(r.address + r.size for r in _TABLE)


def to_sign_magnitude(value: int, sign_bit: int) -> int:
    """Encode ``value`` with its magnitude in the bits below ``sign_bit`` and the sign in it."""
    value = int(value)
    magnitude = abs(value)
    if magnitude >= 1 << sign_bit:
        raise ValueError(f"|{value}| does not fit below sign bit {sign_bit}")
    return magnitude | (1 << sign_bit) if value < 0 else magnitude


def from_sign_magnitude(raw: int, sign_bit: int) -> int:
    """Decode a sign-magnitude field; bits above ``sign_bit`` are ignored."""
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if raw & (1 << sign_bit) else magnitude


def checksum(body: bytes | Iterable[int]) -> int:
    """``~sum(body) & 0xFF`` over id, len, instruction/error and params."""
    return ~sum(body) & 0xFF


def _packet(servo_id: int, code: int, params: bytes) -> bytes:
    if not 0 <= servo_id <= BROADCAST_ID:
        raise ValueError(f"servo id {servo_id} out of range 0..{BROADCAST_ID}")
    if len(params) + 2 > MAX_LENGTH_FIELD:
        raise ValueError(f"{len(params)} parameter bytes is too long for one packet")
    body = bytes((servo_id, len(params) + 2, code)) + params
    return HEADER + body + bytes((checksum(body),))


def instruction_packet(servo_id: int, instruction: int, params: bytes = b"") -> bytes:
    return _packet(servo_id, int(instruction), bytes(params))


def status_packet(servo_id: int, error: int, params: bytes = b"") -> bytes:
    return _packet(servo_id, int(error), bytes(params))


def ping(servo_id: int) -> bytes:
    return instruction_packet(servo_id, Instruction.PING)


def read(servo_id: int, address: int, length: int) -> bytes:
    return instruction_packet(servo_id, Instruction.READ, bytes((address, length)))


def write(servo_id: int, address: int, data: bytes) -> bytes:
    return instruction_packet(servo_id, Instruction.WRITE, bytes((address,)) + bytes(data))


def sync_read(address: int, length: int, servo_ids: Iterable[int]) -> bytes:
    return instruction_packet(BROADCAST_ID, Instruction.SYNC_READ, bytes((address, length, *servo_ids)))


def sync_write(address: int, length: int, data: Mapping[int, bytes]) -> bytes:
    """One SYNC_WRITE of ``length`` bytes at ``address`` to each servo id in ``data``."""
    params = bytearray((address, length))
    for servo_id, chunk in data.items():
        if len(chunk) != length:
            raise ValueError(f"servo {servo_id}: {len(chunk)} data bytes, expected {length}")
        params.append(servo_id)
        params += chunk
    return instruction_packet(BROADCAST_ID, Instruction.SYNC_WRITE, bytes(params))


def wire_bytes_sync_read(length: int, n_servos: int) -> int:
    """Bytes on the wire for one SYNC_READ of ``length`` bytes from ``n_servos``, replies included."""
    return (6 + 2 + n_servos) + n_servos * (6 + length)


def wire_bytes_sync_write(length: int, n_servos: int) -> int:
    return 6 + 2 + n_servos * (1 + length)


@dataclass(frozen=True)
class Packet:
    """A decoded packet: ``code`` is the instruction (instruction packets) or the error byte (status)."""

    servo_id: int
    code: int
    params: bytes

    @property
    def error(self) -> int:
        return self.code


class PacketDecoder:
    """Streaming decoder: feed it bytes as they arrive, take whole packets out.

    It resynchronises on garbage: bytes before a header are skipped, a header followed by an
    impossible id or length is dropped one byte at a time, and a packet whose checksum fails is
    dropped (its first byte only, so a real packet hidden inside is still found). Counters say
    what was thrown away; ``pending`` is how many bytes wait for the rest of a packet.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped_bytes = 0
        self.bad_checksums = 0

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def clear(self) -> int:
        """Discard buffered bytes; return how many there were."""
        n = len(self._buffer)
        self._buffer.clear()
        return n

    def feed(self, data: bytes) -> list[Packet]:
        self._buffer += data
        return list(self._drain())

    def _drain(self) -> Iterator[Packet]:
        buf = self._buffer
        while True:
            start = buf.find(HEADER)
            if start < 0:
                # Keep a trailing 0xFF: it may be the first half of a header.
                keep = 1 if buf[-1:] == b"\xff" else 0
                self.skipped_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                return
            if start:
                self.skipped_bytes += start
                del buf[:start]
            if len(buf) < 4:
                return
            servo_id, length = buf[2], buf[3]
            if servo_id > BROADCAST_ID or not 2 <= length <= MAX_LENGTH_FIELD:
                self.skipped_bytes += 1
                del buf[0]
                continue
            total = length + 4
            if len(buf) < total:
                return
            if checksum(buf[2 : total - 1]) != buf[total - 1]:
                self.bad_checksums += 1
                self.skipped_bytes += 1
                del buf[0]
                continue
            packet = Packet(servo_id, buf[4], bytes(buf[5 : total - 1]))
            del buf[:total]
            yield packet
