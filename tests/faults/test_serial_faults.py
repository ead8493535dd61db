"""Serial faults: a reader unplugged and re-enumerated at the same configured path, garbage on the line and
frames cut short. The gateway reopens the port, counts the bad frames, and the reads after each re-plug arrive
at ingest like every other."""

from __future__ import annotations

import os
import random
from functools import partial
from pathlib import Path

import pytest

from readers.uhf import encode_tag_notice
from simulators.links import PtyPair
from tests.faults.checker import check, record
from tests.faults.harness import (
    assigned_epcs,
    gateway_config,
    in_process_gateway,
    item_epc,
    sized,
    wait_all_stored,
    wait_slowly,
    write_all,
)
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import STORE_FILE

pytestmark = pytest.mark.integration


def plug(port: Path, pair: PtyPair) -> None:
    """Point the configured device path at ``pair`` in one step, as udev re-creates a by-id link."""
    staged = port.with_name(port.name + ".new")
    staged.unlink(missing_ok=True)
    staged.symlink_to(pair.path)
    os.replace(staged, port)


def noisy(epcs: list[str], rng: random.Random) -> bytes:
    """Line noise, a frame cut short, then each item's frame three times (the decoder resynchronises on the
    next header, so a frame the cut one swallowed comes again)."""
    garbage = bytes(rng.randrange(256) for _ in range(48))
    cut = encode_tag_notice(item_epc(0), rssi=-60)[:9]
    return garbage + cut + b"".join(encode_tag_notice(epc, rssi=-60) * 3 for epc in epcs)


def has_epcs(outbox: Path, epcs: list[str]) -> bool:
    return set(epcs) <= assigned_epcs(outbox)


def test_reader_replugged_and_fed_garbage_recovers_and_counts(broker: RunningBroker, tmp_path: Path) -> None:
    cycles = int(sized(2, 25))
    rng = random.Random(6)
    port = tmp_path / "ttyUHF-shelf"
    pair = PtyPair.open()
    plug(port, pair)
    config = gateway_config(broker, tmp_path / "gateways", "gw1", str(port))
    outbox = config.parent / "gw1-outbox.db"
    db_url = f"sqlite:///{tmp_path / 'ingest.db'}"
    after_replug: list[str] = []
    try:
        with running_ingest(broker, tmp_path, STORE_FILE, "ingest-faults", db_url):
            with in_process_gateway(config) as gateway:
                reader = gateway.readers[0]
                # Opening a port drops what waited in it: write only once the gateway has it open.
                wait_slowly(lambda: reader.stats.open, 30, "the gateway to open the reader")
                for cycle in range(cycles):
                    epcs = [item_epc(100 * cycle + n) for n in range(1, 6)]
                    write_all(pair.master, noisy(epcs, rng))
                    wait_slowly(partial(has_epcs, outbox, epcs), 30, f"the reads around the noise ({cycle})")

                    reconnects = reader.stats.reconnects
                    pair.close()  # unplugged: the port fails under the gateway
                    wait_slowly(lambda: not reader.stats.open, 30, "the gateway to see the port fail")
                    pair = PtyPair.open()  # re-enumerated: a new device node behind the same path
                    plug(port, pair)
                    wait_slowly(lambda: reader.stats.open and reader.stats.reconnects > reconnects, 30,  # noqa: B023
                                "the gateway to reopen the port")
                    fresh = [item_epc(100 * cycle + 50 + n) for n in range(1, 4)]
                    write_all(pair.master, b"".join(encode_tag_notice(epc, rssi=-58) * 2 for epc in fresh))
                    wait_slowly(partial(has_epcs, outbox, fresh), 30, f"the reads after re-plug {cycle + 1}")
                    after_replug += fresh
                stats = reader.stats
            wait_all_stored(db_url, {"gw1": outbox}, 60)
            report = record(check("serial-faults", {"gw1": outbox}, db_url, STORE, faults=3 * cycles,
                                  reconnects=stats.reconnects, bad_frames=stats.bad_frames))
    finally:
        pair.close()
    assert stats.reconnects >= cycles and stats.bad_frames >= cycles, stats
    assert set(after_replug) <= assigned_epcs(outbox)
    assert report.lost == 0 and report.duplicated == 0, report.summary()
