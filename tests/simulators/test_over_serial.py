"""Devices on PTYs as a gateway sees them: a pyserial port opened by URL reads exactly the device's frames,
and commands written to it are answered."""

from __future__ import annotations

import time

from readers.display import show
from readers.em4100 import encode_card
from readers.uhf import Response, TagNotice, UhfDecoder, multi_poll, single_poll, stop_multi_poll
from silentcommerce.serialport import open_port
from simulators.devices import CardReaderDevice, PoleDisplayDevice, UhfReaderDevice
from simulators.hub import DeviceHub
from tests.simulators.conftest import read_for, read_until

EPC = "3074257BF7194E4000001A85"


def test_multi_poll_starts_notices_and_stop_ends_them(hub: DeviceHub) -> None:
    uhf = UhfReaderDevice("lane-uhf", jitter_db=0)
    uhf.set_field({EPC: -44})
    port = open_port(hub.attach(uhf).path, 115200)
    decoder = UhfDecoder()
    try:
        port.write(multi_poll())
        heard = decoder.feed(read_for(port, 0.5))
        assert len(heard) >= 3  # a round every 50–100 ms (5–10 in 0.5 s; fewer on a loaded machine)
        assert set(heard) == {TagNotice(rssi=-44, pc=0x3000, epc=EPC, crc=heard[0].crc)}  # type: ignore[union-attr]
        port.write(stop_multi_poll())
        tail = decoder.feed(read_until(port, lambda d: b"\xbb\x01\x28" in d))
        assert tail[-1] == Response(command=0x28, params=b"\x00")
        assert read_for(port, 0.3) == b""  # no more notices once stopped
        assert decoder.bad_frames == 0 and decoder.discarded_bytes == 0
    finally:
        port.close()


def test_single_poll_bytes_are_exactly_the_encoded_notice(hub: DeviceHub) -> None:
    uhf = UhfReaderDevice("shelf-uhf", jitter_db=0)
    uhf.set_field({EPC: -60})
    port = open_port(hub.attach(uhf).path, 115200)
    try:
        port.write(single_poll())
        expected = bytes.fromhex("BB02220011C4300030 74257BF7194E4000001A85".replace(" ", ""))
        data = read_until(port, lambda d: d.endswith(b"\x7e"))
        assert data.startswith(expected) and len(data) == 24
    finally:
        port.close()


def test_rdm6300_frames_arrive_repeatedly_and_stop_on_removal(hub: DeviceHub) -> None:
    reader = CardReaderDevice("lane-card", "rdm6300")
    port = open_port(hub.attach(reader).path, 9600)
    frame = encode_card("0F003A6B5C", "rdm6300")
    try:
        reader.present("0F003A6B5C")
        data = read_for(port, 0.5)
        assert len(data) % len(frame) == 0 and data == frame * (len(data) // len(frame))
        assert 2 <= len(data) // len(frame) <= 6
        reader.remove()
        read_for(port, 0.05)
        assert read_for(port, 0.3) == b""
    finally:
        port.close()


def test_id12la_frame_with_cr_lf_arrives_once(hub: DeviceHub) -> None:
    reader = CardReaderDevice("entrance-card", "id12la")
    port = open_port(hub.attach(reader).path, 9600)
    try:
        reader.present("0F003A6B5C")
        assert read_for(port, 0.4) == encode_card("0F003A6B5C", "id12la")
    finally:
        port.close()


def test_display_shows_what_the_gateway_writes(hub: DeviceHub) -> None:
    display = PoleDisplayDevice("lane-1-display")
    port = open_port(hub.attach(display).path, 9600)
    try:
        port.write(show(["Ada: 3 items", "Total EUR 3.48"]))
        port.flush()
        for _ in range(100):
            if display.lines == ("Ada: 3 items", "Total EUR 3.48"):
                break
            read_for(port, 0.02)
        assert display.lines == ("Ada: 3 items", "Total EUR 3.48")
    finally:
        port.close()


def test_output_nobody_reads_is_dropped_not_replayed(hub: DeviceHub) -> None:
    """A gateway that opens the port late must not get seconds-old tag reads."""
    uhf = UhfReaderDevice("shelf-uhf")
    uhf.set_field({f"{serial:024X}": -60 for serial in range(40)})  # ~1 kB per round
    path = hub.attach(uhf).path
    starter = open_port(path, 115200)
    starter.write(multi_poll())
    starter.close()
    time.sleep(0.6)  # ~7 kB sent while nobody listens
    uhf.set_field({})  # from now on, rounds are silent
    time.sleep(0.1)
    port = open_port(path, 115200)
    try:
        assert read_for(port, 0.8) == b""
    finally:
        port.close()
