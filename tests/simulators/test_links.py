"""Virtual serial links are byte-exact: raw PTYs, null modems and the TCP bridge pass every byte unchanged."""

from __future__ import annotations

import os

from readers.uhf import Response, UhfDecoder, hardware_version
from silentcommerce.serialport import open_port
from simulators.devices import UhfReaderDevice
from simulators.hub import DeviceHub
from simulators.links import PtyPair
from tests.simulators.conftest import read_until

ALL_BYTES = bytes(range(256))
TROUBLE = b"\x0d\x0a\x03\x04\x11\x13\x1a\x7f\x0d\x0d\x0a"  # CR, LF, ETX, EOT, XON, XOFF, SUB, DEL


def test_pty_passes_control_bytes_unchanged_both_ways() -> None:
    pty = PtyPair.open()
    port = open_port(pty.path, 9600)
    try:
        os.write(pty.master, TROUBLE + ALL_BYTES)
        assert read_until(port, lambda d: len(d) >= len(TROUBLE) + 256) == TROUBLE + ALL_BYTES
        port.write(TROUBLE + ALL_BYTES)
        received = b""
        while len(received) < len(TROUBLE) + 256:
            try:
                received += os.read(pty.master, 4096)
            except BlockingIOError:
                os.sched_yield()
        assert received == TROUBLE + ALL_BYTES  # no echo, no CR/LF translation, no swallowed ETX
    finally:
        port.close()
        pty.close()


def test_null_modem_crosses_over_byte_exact(hub: DeviceHub) -> None:
    modem = hub.add_null_modem()
    device_end = open_port(modem.device_path, 9600)
    host_end = open_port(modem.host_path, 9600)
    try:
        device_end.write(TROUBLE + ALL_BYTES)
        assert read_until(host_end, lambda d: len(d) >= len(TROUBLE) + 256) == TROUBLE + ALL_BYTES
        host_end.write(ALL_BYTES[::-1])
        assert read_until(device_end, lambda d: len(d) >= 256) == ALL_BYTES[::-1]
    finally:
        device_end.close()
        host_end.close()


def test_device_reachable_over_socket_url(hub: DeviceHub) -> None:
    link = hub.attach(UhfReaderDevice("bridge-uhf", hardware="M100 test"))
    port = open_port(f"socket://127.0.0.1:{hub.expose_tcp(link.path)}", 115200)
    try:
        port.write(hardware_version())
        decoder = UhfDecoder()
        messages = decoder.feed(read_until(port, lambda d: d.endswith(b"\x7e")))
        assert messages == [Response(command=0x03, params=b"\x00M100 test")]
    finally:
        port.close()


def test_new_socket_client_replaces_the_old_one(hub: DeviceHub) -> None:
    link = hub.attach(UhfReaderDevice("bridge-uhf"))
    url = f"socket://127.0.0.1:{hub.expose_tcp(link.path)}"
    first = open_port(url, 115200)
    first.write(hardware_version())
    assert read_until(first, lambda d: d.endswith(b"\x7e")).startswith(b"\xbb\x01\x03")
    second = open_port(url, 115200)
    try:
        second.write(hardware_version())
        assert read_until(second, lambda d: d.endswith(b"\x7e")).startswith(b"\xbb\x01\x03")
    finally:
        first.close()
        second.close()
