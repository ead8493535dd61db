"""Virtual serial links: raw PTY pairs and null modems.

A PTY in its default (cooked) mode is not a wire: it echoes, turns CR into LF and swallows control bytes.
Every PTY here is put into raw mode, so the link is byte-exact in both directions.

* :class:`PtyPair` — the device side holds the master; a gateway opens :attr:`PtyPair.path` (the slave)
  like any serial port.
* :class:`NullModem` — two PTY pairs whose masters are pumped into each other by the hub, so both ends
  have a path: ``device_path`` for a device that must open a port itself (the pymodbus server) and
  ``host_path`` for the gateway.
"""

from __future__ import annotations

import contextlib
import os
import termios
import tty
from dataclasses import dataclass, field

from simulators.errors import LinkError


def _set_raw(fd: int, what: str) -> None:
    try:
        tty.setraw(fd, termios.TCSANOW)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO  # lflag: raw already clears it; be explicit about the one that bites
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except termios.error as exc:
        raise LinkError(f"cannot put {what} into raw mode: {exc}") from exc


@dataclass
class PtyPair:
    """One pseudo-terminal in raw mode. The simulator keeps the slave open so settings and data survive
    a gateway closing and re-opening the port."""

    master: int
    slave: int
    path: str
    closed: bool = field(default=False, init=False)

    @classmethod
    def open(cls) -> PtyPair:
        try:
            master, slave = os.openpty()
        except OSError as exc:
            raise LinkError(f"cannot allocate a PTY pair: {exc}") from exc
        path = os.ttyname(slave)
        _set_raw(slave, f"PTY {path}")
        _set_raw(master, f"master of PTY {path}")
        os.set_blocking(master, False)
        return cls(master, slave, path)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class NullModem:
    """Two raw PTY pairs crossed over: what is written at ``device_path`` is read at ``host_path`` and
    back. The hub pumps between the two masters (see :meth:`simulators.hub.DeviceHub.add_null_modem`)."""

    device_side: PtyPair
    host_side: PtyPair

    @classmethod
    def open(cls) -> NullModem:
        device_side = PtyPair.open()
        try:
            host_side = PtyPair.open()
        except LinkError:
            device_side.close()
            raise
        return cls(device_side, host_side)

    @property
    def device_path(self) -> str:
        return self.device_side.path

    @property
    def host_path(self) -> str:
        return self.host_side.path

    def close(self) -> None:
        self.device_side.close()
        self.host_side.close()
