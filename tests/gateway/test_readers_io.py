"""Reader threads on real PTYs: card frames become raw reads of the wired zone; a missing port is retried."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from gateway.config import ReaderConfig
from gateway.readers_io import ReaderLoop
from gateway.smoothing import RawRead
from readers.em4100 import encode_card
from simulators.links import PtyPair
from tests.gateway.conftest import wait


def collect(config: ReaderConfig) -> tuple[ReaderLoop, list[RawRead], threading.Event]:
    reads: list[RawRead] = []
    stop = threading.Event()
    loop = ReaderLoop(config, reads.extend, stop)
    loop.start()
    return loop, reads, stop


def test_card_reader_frames_become_uid_reads(pty: Callable[[], PtyPair]) -> None:
    pair = pty()
    config = ReaderConfig(name="entrance-card", url=pair.path, protocol="rdm6300", antennas={0: "entrance"})
    loop, reads, stop = collect(config)
    try:
        wait(lambda: loop.stats.open, timeout=5)
        os.write(pair.master, encode_card("0F003A6B5C", "rdm6300") + b"\x02XXXXXXXXXXXX\x03")
        os.write(pair.master, encode_card("1A2B3C4D5E", "rdm6300"))
        wait(lambda: len(reads) == 2 and loop.stats.bad_frames == 1, timeout=5)
        assert [(r.uid, r.antenna, r.zone, r.reader) for r in reads] == [
            ("0F003A6B5C", 0, "entrance", "entrance-card"),
            ("1A2B3C4D5E", 0, "entrance", "entrance-card"),
        ]
    finally:
        stop.set()
        loop.join(3)


def test_a_missing_port_is_retried_and_the_error_names_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB9")
    config = ReaderConfig(name="lane-1-uhf", url=missing, protocol="uhf-m100")
    loop, _, stop = collect(config)
    try:
        wait(lambda: loop.stats.reconnects >= 1, timeout=5)
        assert missing in loop.stats.last_error
        assert not loop.stats.open
    finally:
        stop.set()
        loop.join(3)
