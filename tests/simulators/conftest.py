"""Fixtures for the simulators: a running device hub, and reading a gateway-side port until a condition."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from silentcommerce.serialport import Port, read_chunk
from simulators.hub import DeviceHub


@pytest.fixture
def hub() -> Iterator[DeviceHub]:
    """A started hub; every PTY, bridge and thread is gone after the test."""
    running = DeviceHub()
    running.start()
    try:
        yield running
    finally:
        running.stop()
        assert running.error is None, f"the hub thread died: {running.error!r}"


def read_until(port: Port, done: Callable[[bytes], bool], timeout: float = 3.0) -> bytes:
    """Read the port until ``done(everything so far)`` or the time-out; returns everything read."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done(data):
        data += read_chunk(port)
    return data


def read_for(port: Port, seconds: float) -> bytes:
    """Everything the port delivers within ``seconds``."""
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data += read_chunk(port)
    return data
