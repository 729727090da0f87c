"""Byte transport to the servo bus: a pyserial port, opened non-blocking.

Reads never block longer than the caller's deadline: the port is opened with ``timeout=0`` and
waiting is a ``select`` on its file descriptor with the time left, so a missing reply costs at
most the bus's per-transaction timeout, never pyserial's or the OS's. Every failure of the port
itself (unplugged adapter, closed terminal, permission) surfaces as :class:`TransportError`.
"""

from __future__ import annotations

import contextlib
import select
from typing import Protocol

import serial


class TransportError(OSError):
    """The port cannot be opened, or failed while in use (e.g. the adapter was unplugged)."""


class Transport(Protocol):
    """What :class:`so100_driver.core.bus.FeetechBus` needs from a byte link."""

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, wait_s: float) -> bytes:
        """Bytes available now, waiting up to ``wait_s`` for the first; ``b""`` when none came."""
        ...

    def discard_input(self) -> int:
        """Drop bytes already received; return how many."""
        ...


class SerialTransport:
    """A serial port at ``baudrate`` 8N1 (the STS3215 default is 1,000,000 baud)."""

    def __init__(self, port: str, baudrate: int = 1_000_000) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None and self._serial.is_open

    def open(self) -> None:
        self.close()
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.port}: {exc}") from exc

    def close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None

    def _port(self) -> serial.Serial:
        if self._serial is None:
            raise TransportError(f"{self.port} is not open")
        return self._serial

    def write(self, data: bytes) -> None:
        try:
            self._port().write(data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write to {self.port} failed: {exc}") from exc

    def read(self, wait_s: float) -> bytes:
        port = self._port()
        try:
            if not port.in_waiting:
                ready, _, _ = select.select([port.fileno()], [], [], max(0.0, wait_s))
                if not ready:
                    return b""
            return port.read(max(1, port.in_waiting))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"read from {self.port} failed: {exc}") from exc

    def discard_input(self) -> int:
        port = self._port()
        try:
            n = port.in_waiting
            if n:
                port.read(n)
            return n
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"read from {self.port} failed: {exc}") from exc
