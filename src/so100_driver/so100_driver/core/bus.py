"""Transactions on a Feetech STS3215 bus: ping, read, write, sync read, sync write, with retries.

Each transaction drops stale input, sends one instruction packet and collects the expected
status packets until a deadline: ``timeout_s`` plus the wire time of the expected bytes at the
configured baud rate. A transaction that does not complete is retried up to ``retries`` times and
then raises :class:`BusError`; it never waits longer than ``(1 + retries) * deadline``.

What goes wrong is counted in :class:`BusStats`: missing replies (nothing came), short replies
(a packet started but its rest never came), corrupted replies (bad checksum), foreign replies
(an id that was not asked, a repeated id or a wrong length: e.g. a late reply to an earlier
transaction) and stale bytes found waiting before a request. Replies carrying status error bits
are still valid replies: the bits are kept per servo in :attr:`FeetechBus.servo_errors`.

The protocol cannot tell a late reply to an earlier SYNC_READ from the current one when it comes
from a listed servo with the right length; such a reply is at most one cycle old.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from so100_driver.core import protocol as p
from so100_driver.core.transport import Transport

_POSITION = p.CONTROL_TABLE["Present_Position"]
_VELOCITY = p.CONTROL_TABLE["Present_Velocity"]


class BusError(RuntimeError):
    """A transaction failed after all retries (no, short, corrupted or foreign replies)."""


@dataclass
class BusStats:
    transactions: int = 0
    failed_transactions: int = 0
    retries: int = 0
    missing: int = 0
    short: int = 0
    corrupt: int = 0
    foreign: int = 0
    stale_bytes: int = 0
    bytes_tx: int = 0
    bytes_rx: int = 0

    @property
    def packet_error_rate(self) -> float:
        """Failed attempts (each retry counts) per attempt."""
        attempts = self.transactions + self.retries
        return (self.retries + self.failed_transactions) / attempts if attempts else 0.0


class FeetechBus:
    """The servo bus over a :class:`~so100_driver.core.transport.Transport`."""

    def __init__(
        self, transport: Transport, timeout_s: float = 0.005, retries: int = 1, baudrate: int = 1_000_000
    ) -> None:
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        self.transport = transport
        self.timeout_s = timeout_s
        self.retries = retries
        self.byte_time_s = 10.0 / baudrate
        self.stats = BusStats()
        self.servo_errors: dict[int, int] = {}
        self._decoder = p.PacketDecoder()

    # Transactions -----------------------------------------------------------------------------
    def _transact(
        self, request: bytes, expect_ids: Sequence[int], n_params: int, retries: int | None = None
    ) -> dict[int, p.Packet]:
        retries = self.retries if retries is None else retries
        self.stats.transactions += 1
        reply_bytes = len(expect_ids) * (6 + n_params)
        budget = self.timeout_s + self.byte_time_s * (len(request) + reply_bytes)
        problem = ""
        for attempt in range(retries + 1):
            if attempt:
                self.stats.retries += 1
            self.stats.stale_bytes += self.transport.discard_input() + self._decoder.clear()
            self.transport.write(request)
            self.stats.bytes_tx += len(request)
            if not expect_ids:
                return {}
            got: dict[int, p.Packet] = {}
            bad_before = self._decoder.bad_checksums
            deadline = time.monotonic() + budget
            while len(got) < len(expect_ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                data = self.transport.read(left)
                self.stats.bytes_rx += len(data)
                for packet in self._decoder.feed(data):
                    wanted = packet.servo_id in expect_ids and packet.servo_id not in got
                    if wanted and len(packet.params) == n_params:
                        got[packet.servo_id] = packet
                        self.servo_errors[packet.servo_id] = packet.error
                    else:
                        self.stats.foreign += 1
            if len(got) == len(expect_ids):
                return got
            missing = [i for i in expect_ids if i not in got]
            corrupt = self._decoder.bad_checksums - bad_before
            self.stats.corrupt += corrupt
            if self._decoder.pending:
                self.stats.short += 1
                problem = f"short reply from {missing}"
            elif corrupt:
                problem = f"corrupted reply from {missing}"
            else:
                self.stats.missing += 1
                problem = f"no reply from {missing}"
        self.stats.failed_transactions += 1
        raise BusError(f"{problem} after {retries + 1} attempt(s)")

    def ping(self, servo_id: int) -> int:
        """Ping one servo; return its status error bits. Raises BusError when it does not answer."""
        return self._transact(p.ping(servo_id), [servo_id], 0)[servo_id].error

    def read(self, servo_id: int, name: str) -> int:
        reg = p.CONTROL_TABLE[name]
        packet = self._transact(p.read(servo_id, reg.address, reg.size), [servo_id], reg.size)[servo_id]
        return reg.decode(packet.params)

    def write(self, servo_id: int, name: str, value: int) -> None:
        """Write one register and wait for the servo's acknowledgement."""
        reg = p.CONTROL_TABLE[name]
        self._transact(p.write(servo_id, reg.address, reg.encode(value)), [servo_id], 0)

    def sync_read_raw(self, address: int, length: int, servo_ids: Sequence[int]) -> dict[int, bytes]:
        replies = self._transact(p.sync_read(address, length, servo_ids), list(servo_ids), length)
        return {i: replies[i].params for i in servo_ids}

    def sync_read(self, name: str, servo_ids: Sequence[int]) -> dict[int, int]:
        reg = p.CONTROL_TABLE[name]
        raw = self.sync_read_raw(reg.address, reg.size, servo_ids)
        return {i: reg.decode(data) for i, data in raw.items()}

    def sync_write(self, name: str, values: Mapping[int, int]) -> None:
        """One SYNC_WRITE of ``name`` to every servo in ``values`` (no reply, so no retry)."""
        reg = p.CONTROL_TABLE[name]
        request = p.sync_write(reg.address, reg.size, {i: reg.encode(v) for i, v in values.items()})
        self._transact(request, [], 0)

    def read_position_velocity(self, servo_ids: Sequence[int]) -> tuple[list[int], list[int]]:
        """Present_Position and Present_Velocity (ticks, ticks/s) of ``servo_ids`` in one SYNC_READ."""
        raw = self.sync_read_raw(_POSITION.address, _POSITION.size + _VELOCITY.size, servo_ids)
        positions = [_POSITION.decode(raw[i][:2]) for i in servo_ids]
        velocities = [_VELOCITY.decode(raw[i][2:]) for i in servo_ids]
        return positions, velocities
