"""The ingest service against a real Mosquitto and a real SQLite file: from gateway batches to rows,
events and commands."""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from contract.payloads import Ack, Command, ReadsBatch, SensorSample, SensorsBatch, TagRead, decode, encode
from contract.topics import event_filter, gateway_topic
from ingest.db import repo
from ingest.db import schema as t
from ingest.service import IngestService
from ingest.tsdb import TsdbSettings
from silentcommerce.broker import DASHBOARD_USER
from silentcommerce.mqtt import InboundMessage, MqttLink
from tests.fixtures.broker import STORE, RunningBroker
from tests.fixtures.tsdb import RunningVictoriaMetrics
from tests.ingest.running import Ingest, running_ingest

pytestmark = pytest.mark.integration

CARD = "0F003A6B5C"
MILK_EPC = "3074257BF7194E4000001A85"  # SGTIN-96 of GTIN 80614141123458: a MILK-1L by its GTIN alone
BREAD_EPC = "E2000000000000000000BEEF"  # bound to BREAD in the store file
UNPAID_EPC = "E2000000000000000000CAFE"  # bound to BREAD, never paid for

STORE_FILE = f"""
[store]
id = "{STORE}"
name = "Test store"

[rules]
settle_time_s = 60.0
min_reads = 2

[[zones]]
name = "shelf-dairy"
type = "shelf"
[[zones]]
name = "lane-1"
type = "lane"
display = "lane-1-display"
gateway = "gw1"
[[zones]]
name = "exit"
type = "exit"
alarm = "exit-alarm"
gateway = "gw1"

[[products]]
sku = "MILK-1L"
name = "Organic milk 1 l"
price = "1.29"
gtin = "80614141123458"
reorder_below = 1
[[products]]
sku = "BREAD"
name = "Rye bread"
price = "2.19"

[[members]]
id = "M-1001"
name = "Ada Lovelace"
tags = ["UID:{CARD}"]

[[items]]
tag = "EPC:{BREAD_EPC}"
sku = "BREAD"
zone = "shelf-dairy"
[[items]]
tag = "EPC:{UNPAID_EPC}"
sku = "BREAD"
zone = "shelf-dairy"
"""

V = TypeVar("V")


def eventually(probe: Callable[[], V], timeout: float = 10.0) -> V:
    """Poll ``probe`` until it returns something truthy (integration tests wait for other processes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


class Gateway:
    """A gateway's MQTT side: publishes batches as gw.teststore.<name>, hears its own ``cmd`` topic."""

    def __init__(self, broker: RunningBroker, name: str = "gw1") -> None:
        self.name = name
        self.commands: queue.Queue[Command] = queue.Queue()
        self.link = MqttLink(
            broker.gateway_settings(name), subscriptions=[(gateway_topic(STORE, name, "cmd"), 1)],
            on_message=lambda m: self.commands.put(decode(Command, m.payload)),
        )
        self.link.start()
        assert self.link.wait_connected(10)
        self.seq = 0

    def publish_raw(self, payload: bytes, kind: str = "reads") -> None:
        self.link.publish(gateway_topic(STORE, self.name, kind), payload).wait(10)  # type: ignore[arg-type]

    def send(self, reads: list[TagRead], *, seq: int | None = None, at: datetime | None = None) -> int:
        self.seq = seq if seq is not None else self.seq + 1
        batch = ReadsBatch(store=STORE, gateway=self.name, seq=self.seq, sent_at=at or datetime.now(UTC),
                           reads=reads)
        self.publish_raw(encode(batch))
        return self.seq

    def next_command(self, timeout: float = 10) -> Command:
        return self.commands.get(timeout=timeout)


def read(tag: str, zone: str, at: datetime, *, event: str = "seen", count: int = 3, rssi: float = -50) -> TagRead:
    identity = {"uid": tag} if tag == CARD else {"epc": tag}
    return TagRead(reader=f"{zone}-r", antenna=1, rssi=rssi, first_seen=at, last_seen=at, count=count,
                   event=event, zone=zone, **identity)  # type: ignore[arg-type]


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.toml"
    path.write_text(STORE_FILE)
    return path


@pytest.fixture
def ingest(broker: RunningBroker, store_file: Path, tmp_path: Path, db_url: str, ingest_workers: int) -> Iterator[Ingest]:
    """Ingest on the test store: the single-store service, or three workers sharing the store."""
    with running_ingest(broker, tmp_path, store_file, "ingest-test", db_url, workers=ingest_workers) as service:
        yield service


@pytest.fixture
def ingest_alone(broker: RunningBroker, store_file: Path, tmp_path: Path, db_url: str) -> Iterator[IngestService]:
    """The single-store service, for the tests that restart it or hold its queue."""
    with running_ingest(broker, tmp_path, store_file, "ingest-test", db_url) as service:
        yield service


def batches_of(service: Ingest, gateway: str = "gw1") -> list[int]:
    with service.db.connect() as conn:
        return list(conn.execute(select(t.gateway_batches.c.seq).where(t.gateway_batches.c.gateway == gateway)
                                 .order_by(t.gateway_batches.c.seq)).scalars())


def item(service: Ingest, tag: str) -> Any:
    with service.db.connect() as conn:
        return conn.execute(select(t.items).where(t.items.c.tag == f"EPC:{tag}")).first()


def test_a_valid_batch_moves_the_item_and_is_recorded(ingest: Ingest, gw1: Gateway) -> None:
    now = datetime.now(UTC)
    gw1.send([read(MILK_EPC, "shelf-dairy", now)])
    row = eventually(lambda: item(ingest, MILK_EPC))
    assert (row.sku, row.status, row.last_zone) == ("MILK-1L", "in_store", "shelf-dairy")
    assert batches_of(ingest) == [1]
    with ingest.db.connect() as conn:
        health = repo.health(conn)
    assert [(g.gateway, g.last_seq) for g in health.gateways] == [("gw1", 1)]


def test_malformed_payloads_become_dead_letters_and_the_batches_around_them_still_count(
    ingest: Ingest, gw1: Gateway
) -> None:
    """Each letter is matched by its payload: with several workers, the order they are stored in is not the
    order they were sent in."""
    now = datetime.now(UTC)
    incomplete = json.dumps({"schema": "sc.reads/1", "store": STORE, "gateway": "gw1", "seq": 2}).encode()
    spoofed = encode(ReadsBatch(store=STORE, gateway="gw2", seq=9, sent_at=now, reads=[]))
    gw1.send([read(MILK_EPC, "shelf-dairy", now)])
    gw1.publish_raw(b"{not json")
    gw1.publish_raw(incomplete)
    gw1.publish_raw(spoofed)
    gw1.send([read(BREAD_EPC, "shelf-dairy", now)], seq=2)
    assert eventually(lambda: batches_of(ingest) == [1, 2])
    with ingest.db.connect() as conn:
        letters = conn.execute(select(t.dead_letters).order_by(t.dead_letters.c.id)).all()
    reasons = {letter.payload: letter.reason for letter in letters}
    assert len(letters) == len(reasons) == 3
    assert "JSON" in reasons[b"{not json"]
    assert "sent_at" in reasons[incomplete] and "reads" in reasons[incomplete]
    assert "gw2" in reasons[spoofed] and "gw1" in reasons[spoofed]
    assert ingest.stats.dead_letters == 3


def test_a_repeated_sequence_number_is_dropped(ingest: Ingest, gw1: Gateway) -> None:
    now = datetime.now(UTC)
    gw1.send([read(MILK_EPC, "shelf-dairy", now)], seq=5)
    gw1.send([read(MILK_EPC, "lane-1", now + timedelta(seconds=1))], seq=5)
    gw1.send([read(BREAD_EPC, "lane-1", now + timedelta(seconds=2))], seq=6)
    assert eventually(lambda: batches_of(ingest) == [5, 6])
    assert item(ingest, MILK_EPC).last_zone == "shelf-dairy"
    assert ingest.stats.duplicates == 1
    assert ingest.stats.gaps == 0
    gw1.send([read(BREAD_EPC, "shelf-dairy", now + timedelta(seconds=3))], seq=9)  # 7 and 8 are missing
    assert eventually(lambda: batches_of(ingest) == [5, 6, 9])
    assert ingest.stats.gaps == 1


@pytest.mark.seq_order
def test_lane_and_exit_give_one_transaction_a_receipt_and_a_theft_alarm(
    broker: RunningBroker, ingest: Ingest, gw1: Gateway
) -> None:
    events: queue.Queue[InboundMessage] = queue.Queue()
    watcher = MqttLink(broker.settings(DASHBOARD_USER, "watcher"), subscriptions=[(event_filter(STORE), 1)],
                       on_message=events.put)
    watcher.start()
    assert watcher.wait_connected(10)
    time.sleep(0.2)
    try:
        t0 = datetime.now(UTC)
        at = [t0 + timedelta(seconds=i) for i in range(8)]
        gw1.send([read(CARD, "lane-1", at[0])])
        gw1.send([read(MILK_EPC, "lane-1", at[1]), read(BREAD_EPC, "lane-1", at[1])])
        gw1.send([read(MILK_EPC, "lane-1", at[2]), read(BREAD_EPC, "lane-1", at[2])])
        gw1.send([read(CARD, "lane-1", at[3], event="left")])
        gw1.send([read(CARD, "exit", at[4]), read(MILK_EPC, "exit", at[4]), read(BREAD_EPC, "exit", at[4])])
        gw1.send([read(UNPAID_EPC, "exit", at[5])])
        # The broker redelivers nothing here, but a replay of the whole visit must not charge twice.
        gw1.send([read(CARD, "exit", at[4]), read(MILK_EPC, "exit", at[4]), read(BREAD_EPC, "exit", at[4])])

        first, second = gw1.next_command(), gw1.next_command()
        display, alarm = (first, second) if first.action == "display" else (second, first)
        assert (alarm.action, alarm.target, alarm.gateway) == ("alarm", "exit-alarm", "gw1")
        assert (display.action, display.target) == ("display", "lane-1-display")
        assert display.text == ["2 items", "TOTAL 3.48    +3 pts"]  # what the 2-line pole display shows
        assert eventually(lambda: batches_of(ingest) == list(range(1, 8)))

        with ingest.db.connect() as conn:
            sales = repo.list_transactions(conn)
            detail = repo.get_transaction(conn, sales[0].id)
            alerts = repo.list_alerts(conn)
            sold = conn.execute(select(func.count()).select_from(t.items).where(t.items.c.status == "sold")).scalar()
            commands = conn.execute(select(t.commands.c.action)).scalars().all()
        assert len(sales) == 1
        assert (sales[0].member, sales[0].total, sales[0].lane) == ("M-1001", Decimal("3.48"), "lane-1")
        assert detail is not None
        assert sorted(line.sku for line in detail.lines) == ["BREAD", "MILK-1L"]
        assert sold == 2
        theft = [a for a in alerts if a.kind == "theft"]
        assert len(theft) == 1 and theft[0].tag == f"EPC:{UNPAID_EPC}" and theft[0].evidence[0]["zone"] == "exit"
        assert sorted(commands) == ["alarm", "display"]

        seen: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + 10
        while ("transaction" not in seen or "alert" not in seen) and time.monotonic() < deadline:
            try:
                message = events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            body = json.loads(message.payload)
            seen.setdefault(body["type"], []).append(body["data"])
        (sale,) = seen["transaction"]
        assert (sale["total"], sale["member_name"], sale["points"] >= 0) == ("3.48", "Ada Lovelace", True)
        assert {line["unit_price"] for line in sale["lines"]} == {"1.29", "2.19"}
        assert any(a["kind"] == "theft" for a in seen["alert"])
    finally:
        watcher.stop()


def test_acks_from_the_gateway_complete_the_command_row(ingest: Ingest, gw1: Gateway) -> None:
    now = datetime.now(UTC)
    gw1.send([read(UNPAID_EPC, "exit", now)])
    command = gw1.next_command()
    gw1.publish_raw(encode(Ack(id=command.id, store=STORE, gateway="gw1", ok=False, error="relay stuck",
                               at=now)), kind="ack")

    def acked() -> Any:
        with ingest.db.connect() as conn:
            return conn.execute(select(t.commands).where(t.commands.c.id == command.id,
                                                         t.commands.c.acked_at.is_not(None))).first()

    row = eventually(acked)
    assert row is not None and (row.ack_ok, row.ack_error) == (False, "relay stuck")


def test_batches_sent_while_ingest_is_down_are_processed_when_it_returns(ingest_alone: IngestService,
                                                                        gw1: Gateway) -> None:
    """One process (the worker test kills workers: tests/ingest/test_workers.py, tests/faults)."""
    ingest = ingest_alone
    now = datetime.now(UTC)
    gw1.send([read(MILK_EPC, "shelf-dairy", now)])
    assert eventually(lambda: batches_of(ingest) == [1])
    ingest.stop()
    gw1.send([read(MILK_EPC, "lane-1", now + timedelta(seconds=1), count=1)])
    gw1.send([read(BREAD_EPC, "lane-1", now + timedelta(seconds=2), count=1)])
    again = IngestService(ingest.settings)
    again.start()
    try:
        assert eventually(lambda: batches_of(again) == [1, 2, 3])
        assert item(again, BREAD_EPC).last_zone == "lane-1"
        assert item(again, MILK_EPC).last_zone == "lane-1"
        # the restarted service knows the stored sequence: a replay is dropped, a jump is a gap
        gw1.send([read(MILK_EPC, "shelf-dairy", now + timedelta(seconds=3))], seq=2)
        gw1.send([read(BREAD_EPC, "shelf-dairy", now + timedelta(seconds=4))], seq=5)
        assert eventually(lambda: batches_of(again) == [1, 2, 3, 5])
        assert item(again, MILK_EPC).last_zone == "lane-1"
        assert (again.stats.duplicates, again.stats.gaps) == (1, 1)
    finally:
        again.stop()


def test_a_batch_stored_elsewhere_drops_only_itself_from_its_group(ingest_alone: IngestService, gw1: Gateway,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A second ingest process stored seq 3 while this one was busy: the group holding seq 3 fails on the
    primary key, is stored again message by message, and only seq 3 is dropped. One service: the test
    watches its queue."""
    ingest = ingest_alone
    caplog.set_level(logging.INFO, logger="ingest.service")
    now = datetime.now(UTC)
    gw1.send([read(MILK_EPC, "shelf-dairy", now)])
    assert eventually(lambda: batches_of(ingest) == [1])
    gateway = (t.gateways.c.store == STORE, t.gateways.c.gateway == "gw1")
    with ingest.db.begin() as conn:
        # The other process's transaction: seq 3 and the gateway's row, which every stored batch updates.
        # Until it commits no group of the service can be stored (SQLite: its one writer; PostgreSQL: the row
        # lock), so however the service's worker happens to group the messages as they come in, the ones
        # behind its first group wait in the queue and go into the next group together: seq 3 always
        # shares a group with a neighbour.
        conn.execute(select(t.gateways.c.last_seq).where(*gateway).with_for_update())
        conn.execute(t.gateway_batches.insert().values(store=STORE, gateway="gw1", seq=3, kind="reads",
                                                       received_at=now))
        gw1.send([read(MILK_EPC, "lane-1", now + timedelta(seconds=1))])
        gw1.send([read(BREAD_EPC, "lane-1", now + timedelta(seconds=2))])
        gw1.send([read(UNPAID_EPC, "lane-1", now + timedelta(seconds=3))])
        gw1.send([read(MILK_EPC, "shelf-dairy", now + timedelta(seconds=4))])
        # all four received: waiting in the queue, or in the group the worker is trying to store
        assert eventually(lambda: ingest._queue.qsize() + len(ingest._current) == 4, 30)
    # after the commit the worker may still sit out a retry delay of its blocked write (up to 5 s)
    assert eventually(lambda: batches_of(ingest) == [1, 2, 3, 4, 5] and ingest.stats.duplicates == 1, 30)
    assert item(ingest, BREAD_EPC).last_zone == "shelf-dairy"  # seq 3's move was not stored
    assert item(ingest, UNPAID_EPC).last_zone == "lane-1"
    assert item(ingest, MILK_EPC).last_zone == "shelf-dairy"
    assert any(r.getMessage().startswith("a constraint failed in a group of") for r in caplog.records)


def test_reads_and_sensor_samples_reach_the_time_series(
    broker: RunningBroker, store_file: Path, tmp_path: Path, gw1: Gateway, victoria_metrics: RunningVictoriaMetrics,
    db_url: str,
) -> None:
    with running_ingest(broker, tmp_path, store_file, "ingest-ts", db_url,
                        tsdb=TsdbSettings(url=victoria_metrics.url)) as service:
        now = datetime.now(UTC).replace(microsecond=0)
        gw1.send([read(MILK_EPC, "shelf-dairy", now, count=4)])
        sample = SensorSample(sensor="cooler-1-temp", kind="temperature", value=6.5, zone="cooler-1", at=now)
        gw1.seq += 1
        gw1.publish_raw(encode(SensorsBatch(store=STORE, gateway="gw1", seq=gw1.seq, sent_at=now, samples=[sample])),
                        kind="sensors")

        def both() -> dict[str, Any] | None:
            found = {s["metric"]["__name__"]: s for s in victoria_metrics.export('{__name__=~"reads_count|sensor_value"}')}
            return found if len(found) == 2 else None

        series = eventually(both)
        assert series is not None
        assert series["reads_count"]["values"] == [4]
        assert series["reads_count"]["metric"]["zone_type"] == "shelf"
        assert series["sensor_value"]["values"] == [6.5]
        with service.db.connect() as conn:
            latest = conn.execute(select(t.sensor_latest)).one()
        assert (latest.sensor, latest.value, latest.at) == ("cooler-1-temp", 6.5, now)
