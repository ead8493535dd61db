"""The one seam to pyserial: ports are opened by URL, and read in chunks.

``/dev/ttyUSB0``, a simulator's PTY path, ``socket://host:port`` and ``loop://`` all open the same way,
so hardware, simulators and tests differ only in configuration. Reading what is waiting in chunks and
letting a sans-I/O codec split frames is ~100x faster than ``read_until()`` per frame.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import termios
from typing import Protocol

import serial

SerialException = serial.SerialException


class Port(Protocol):
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes, /) -> int | None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    @property
    def in_waiting(self) -> int: ...


class PortError(OSError):
    """A serial port could not be opened or failed while in use."""


def open_port(url: str, baudrate: int = 115200, *, timeout: float = 0.05) -> Port:
    """Open ``url`` (a device path or a pyserial URL) as 8N1 with a short read time-out."""
    try:
        port: Port = serial.serial_for_url(
            url, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=timeout, exclusive=False
        )
    except (serial.SerialException, ValueError, OSError) as exc:
        raise PortError(f"cannot open serial port {url!r}: {exc}") from exc
    return port


def _waiting(port: Port) -> int:
    """Bytes ready to read. pyserial's ``socket://`` ports only say 0 or 1, which would make every read one
    byte; for them the socket's own count (FIONREAD) is asked instead."""
    sock = getattr(port, "_socket", None)
    if sock is not None:
        count = array.array("i", [0])
        with contextlib.suppress(OSError):
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
            return max(int(count[0]), 0)
    return port.in_waiting


def read_chunk(port: Port, max_bytes: int = 65536) -> bytes:
    """Everything waiting on the port (at least one byte or an empty result after the time-out)."""
    try:
        waiting = _waiting(port)
        data = port.read(min(max(waiting, 1), max_bytes))
    except (serial.SerialException, OSError, TypeError) as exc:
        raise PortError(f"serial read failed: {exc}") from exc
    return data
