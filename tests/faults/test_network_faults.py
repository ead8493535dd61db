"""Network faults: the uplink black-holed (no FIN, no RST: only the MQTT keep-alive notices), and ingest
down for a while with the broker up. Nothing the gateway assigned may be lost; batches that waited are
marked ``historical``; and a control run with the broker's default queue limit proves the checker sees loss."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from contract import ReadsBatch, decode
from readers.uhf import encode_tag_notice, multi_poll
from simulators.links import PtyPair
from tests.faults.checker import assigned_seqs, check, outbox_depth, read_ledger, record, stored_seqs
from tests.faults.harness import (
    delivered_through,
    feeding,
    gateway_config,
    gateway_process,
    grown,
    in_process_gateway,
    item_epc,
    last_assigned,
    sized,
    wait_all_stored,
    wait_slowly,
    write_all,
)
from tests.fixtures.broker import STORE, RunningBroker, start_broker
from tests.fixtures.proxy import TcpProxy
from tests.gateway.conftest import read_master, subscribed
from tests.ingest.running import running_ingest
from tests.ingest.test_service import STORE_FILE

pytestmark = pytest.mark.integration

HISTORICAL_AFTER_S = 5.0
KEEPALIVE_S = 5


def test_uplink_black_holed_then_healed_delivers_everything_marked_historical(
    broker: RunningBroker, tcp_proxy: Callable[[int], TcpProxy], tmp_path: Path
) -> None:
    outage = sized(20, 300)
    proxy = tcp_proxy(broker.port)
    pair = PtyPair.open()
    config = gateway_config(broker, tmp_path / "gateways", "gw1", pair.path, port=proxy.port,
                            keepalive_s=KEEPALIVE_S, historical_after_s=HISTORICAL_AFTER_S)
    outbox = config.parent / "gw1-outbox.db"
    outboxes = {"gw1": outbox}
    db_url = f"sqlite:///{tmp_path / 'ingest.db'}"
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-faults", db_url), \
            contextmanager(subscribed)(broker, "faults-tap", ("reads",)) as tap:
        with feeding(pair, first_serial=1, rate_hz=20), in_process_gateway(config) as gateway:
            wait_slowly(partial(grown, outboxes, {"gw1": 5}), 30, "the first batches")
            wait_slowly(partial(delivered_through, outbox, 5), 30, "the first batches delivered")
            cut = time.time()
            proxy.black_hole()
            wait_slowly(lambda: not gateway.link.connected, 60, "the gateway to notice the silent uplink")
            noticed = time.time()
            time.sleep(max(0.0, cut + outage - time.time()))  # the outage itself, as long as it is sized
            proxy.heal()
            healed = time.time()
            wait_slowly(lambda: gateway.link.connected, 60, "the gateway to reconnect")
            wait_slowly(partial(delivered_through, outbox, last_assigned(outbox)), 60, "the backlog delivered")
            caught_up = time.time()
            wait_slowly(lambda: read_ledger(outbox)[-1].created_at > caught_up + 3, 30, "live batches")
        wait_all_stored(db_url, outboxes, 60)
        report = record(check("uplink-black-hole", outboxes, db_url, STORE, faults=1, outage_s=round(outage),
                              noticed_after_s=round(noticed - cut, 1), caught_up_after_heal_s=round(caught_up - healed, 1)))
        historical: dict[int, bool] = {}
        for message in tap.received("/reads"):
            batch = decode(ReadsBatch, message.payload)
            historical[batch.seq] = historical.get(batch.seq, False) or batch.historical
    pair.close()

    assert report.lost == 0 and report.duplicated == 0, report.summary()
    stored = sorted(stored_seqs(db_url, STORE)["gw1"])
    assert stored == list(range(1, len(stored) + 1)), "seq is contiguous"
    ledger = [e for e in read_ledger(outbox) if e.kind == "reads"]
    buffered = [e.seq for e in ledger if noticed <= e.created_at <= healed - HISTORICAL_AFTER_S - 1]
    live = [e.seq for e in ledger if e.created_at < cut - 1 or e.created_at > caught_up + 1]
    assert len(buffered) >= outage, "reads went on during the outage"
    assert all(historical[seq] for seq in buffered), "every batch that waited out the outage is historical"
    assert live and not any(historical[seq] for seq in live), "batches sent at once are live"


@pytest.mark.parametrize("queue_limit", [None, 1000], ids=["repository-config", "control-default-queue"])
def test_ingest_down_with_the_broker_up_loses_nothing(queue_limit: int | None, tmp_path: Path) -> None:
    """The repository's broker queues the whole outage for ingest's persistent session. The control run takes
    both safety nets away (Mosquitto's default limit of 1000 queued messages, and a gateway that forgets a batch
    at its PUBACK so ingest cannot ask for it again): it must lose batches, and the checker must say which."""
    batches = int(sized(1100, 5000))
    broker = start_broker(tmp_path / "broker", {"max_queued_messages": str(queue_limit)} if queue_limit else None)
    pair = PtyPair.open()
    # A zone the store's layout does not have: ingest stores each batch and leaves its read out (one alert),
    # so the run measures the broker's queue, not the rules engine.
    config = gateway_config(broker, tmp_path / "gateways", "gw1", pair.path, zone="yard", max_reads=1,
                            leave_after_s=3600, keep_delivered_max=0 if queue_limit else None)
    outbox = config.parent / "gw1-outbox.db"
    db_url = f"sqlite:///{tmp_path / 'ingest.db'}"
    gateway = gateway_process(config)
    try:
        with running_ingest(broker, tmp_path, STORE_FILE, "ingest-faults", db_url):
            pass  # ingest's persistent session exists (expiry 600 s, longer than the outage); ingest goes away
        read_master(pair, lambda data: multi_poll() in data, timeout=60)  # the gateway opened the reader
        # One read per batch: the outage holds ``batches`` messages for ingest.
        started = time.monotonic()
        write_all(pair.master, b"".join(encode_tag_notice(item_epc(n), rssi=-60) for n in range(1, batches + 1)))
        wait_slowly(lambda: len(assigned_seqs(outbox)) >= batches and outbox_depth(outbox) == 0, sized(120, 900),
                    "every batch handed to the broker while ingest is down")
        queued_s = time.monotonic() - started
        with running_ingest(broker, tmp_path, STORE_FILE, "ingest-faults", db_url):
            started = time.monotonic()
            write_all(pair.master, encode_tag_notice(item_epc(batches + 1), rssi=-60))  # a live batch after it
            wait_slowly(lambda: len(assigned_seqs(outbox)) > batches, 30, "the live batch")
            marker = last_assigned(outbox)
            wait_slowly(lambda: marker in stored_seqs(db_url, STORE).get("gw1", ()), sized(120, 900),
                        "ingest to reach the live batch (everything queued before it came first)")
            name = "ingest-down" if queue_limit is None else "ingest-down-control"
            report = record(check(name, {"gw1": outbox}, db_url, STORE, faults=1, queue_limit=queue_limit,
                                  outage_s=round(queued_s, 1), catch_up_s=round(time.monotonic() - started, 1)))
    finally:
        gateway.stop(kill=True)
        broker.broker.stop()
        pair.close()
    if queue_limit is None:
        assert report.lost == 0 and report.duplicated == 0, report.summary()
    else:
        (figures,) = report.gateways  # the broker dropped what came after its queue was full
        assert report.lost >= (batches - queue_limit) // 2 and figures.lost[-1] < marker, report.summary()
