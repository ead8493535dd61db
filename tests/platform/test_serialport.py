"""Ports open by URL and are read in chunks, whatever is behind the URL."""

from __future__ import annotations

import os
import socket
import tty

import pytest

from silentcommerce.serialport import PortError, open_port, read_chunk


def read_all(port: object, size: int) -> tuple[bytes, int]:
    data, calls = b"", 0
    while len(data) < size and calls < 10_000:
        data += read_chunk(port)  # type: ignore[arg-type]
        calls += 1
    return data, calls


def test_a_pty_is_read_in_chunks() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    port = open_port(os.ttyname(slave), 115200)
    try:
        payload = bytes(range(256)) * 8
        os.write(master, payload)
        data, calls = read_all(port, len(payload))
        assert data == payload
        assert calls < 10
    finally:
        port.close()
        os.close(master)
        os.close(slave)


def test_a_socket_url_is_read_in_chunks_not_byte_by_byte() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    payload = bytes(range(256)) * 8
    port = open_port(f"socket://127.0.0.1:{server.getsockname()[1]}")
    ours = port._socket.getsockname()  # type: ignore[attr-defined]
    server.settimeout(5)
    try:
        # Accept until we hold our own client: a stray client of an earlier test (reconnecting to a port
        # that is free again) may be queued first.
        while True:
            conn, peer = server.accept()
            if peer == ours:
                break
            conn.close()
        with conn:
            conn.sendall(payload)
            data, calls = read_all(port, len(payload))
        assert data == payload
        assert calls < 10, f"{calls} reads for {len(payload)} bytes"
    finally:
        port.close()
        server.close()


def test_a_missing_port_names_the_url() -> None:
    with pytest.raises(PortError, match="/dev/does-not-exist"):
        open_port("/dev/does-not-exist")
