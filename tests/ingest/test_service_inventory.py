"""Shelves and stock in the running ingest service, against a real Mosquitto and SQLite: gateway gw1 reports
shelf reads over two minutes of 30 s inventory cycles (the reads' own times; the service clock stands still
before them), and the operator sees cycle rows and events, a missing item, a misplaced one and low stock that
are raised and cleared."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from contract.payloads import TagRead
from contract.topics import event_filter
from ingest.db import schema as t
from silentcommerce.broker import DASHBOARD_USER
from silentcommerce.mqtt import InboundMessage, MqttLink
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import Ingest, running_ingest
from tests.ingest.test_service import Gateway, eventually

pytestmark = pytest.mark.integration

CYCLE = 30
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # the start of a cycle (cycles are aligned to 1970-01-01)
MILK1, MILK2, MILK3 = (f"E20000000000000000001{n:03X}" for n in (1, 2, 3))
BREAD1 = "E20000000000000000002001"

STORE_FILE = f"""
[store]
id = "{STORE}"
name = "Test store"

[inventory]
cycle_s = {CYCLE}
missing_after_cycles = 2

[[zones]]
name = "shelf-dairy"
type = "shelf"
[[zones]]
name = "shelf-bakery"
type = "shelf"
[[zones]]
name = "backroom"
type = "backroom"

[[products]]
sku = "MILK-1L"
name = "Organic milk 1 l"
price = "1.29"
reorder_below = 2
home_zones = ["shelf-dairy"]
[[products]]
sku = "BREAD"
name = "Rye bread"
price = "2.19"

[[items]]
tag = "EPC:{MILK1}"
sku = "MILK-1L"
zone = "shelf-dairy"
[[items]]
tag = "EPC:{MILK2}"
sku = "MILK-1L"
zone = "shelf-dairy"
[[items]]
tag = "EPC:{MILK3}"
sku = "MILK-1L"
zone = "shelf-dairy"
[[items]]
tag = "EPC:{BREAD1}"
sku = "BREAD"
zone = "backroom"
"""


@pytest.fixture
def ingest(broker: RunningBroker, tmp_path: Path, db_url: str, ingest_workers: int) -> Iterator[Ingest]:
    # ticks add nothing: the reads' times drive the cycles
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-inventory", db_url, workers=ingest_workers,
                        clock=lambda: T0 - timedelta(seconds=1)) as service:
        yield service


def shelf(epc: str, zone: str, seconds: float) -> TagRead:
    at = T0 + timedelta(seconds=seconds)
    return TagRead(reader=f"{zone}-r", antenna=1, rssi=-55, first_seen=at, last_seen=at, count=4, event="seen",
                   zone=zone, epc=epc)


@pytest.mark.seq_order
def test_shelf_reads_over_cycles_become_cycle_rows_and_stock_alerts(
    broker: RunningBroker, ingest: Ingest
) -> None:
    events: queue.Queue[InboundMessage] = queue.Queue()
    watcher = MqttLink(broker.settings(DASHBOARD_USER, "watcher"), subscriptions=[(event_filter(STORE), 1)],
                       on_message=events.put)
    watcher.start()
    assert watcher.wait_connected(10)
    time.sleep(0.2)
    gw1 = Gateway(broker)
    try:
        for s in (5, 15, 25):  # cycle 0: all three milks on their shelf; the bread is never read
            gw1.send([shelf(epc, "shelf-dairy", s) for epc in (MILK1, MILK2, MILK3)])
        for s in (35, 45, 55, 65, 75, 85):  # cycles 1 and 2: milk 2 lies on the bakery shelf, milk 3 is gone
            gw1.send([shelf(MILK1, "shelf-dairy", s), shelf(MILK2, "shelf-bakery", s + 1)])
        seq = gw1.send([shelf(MILK1, "shelf-dairy", 95)])
        gw1.send([shelf(MILK1, "shelf-dairy", 95)], seq=seq)  # a redelivery: dropped
        for s in (100, 110, 123):  # milk 3 is back on the dairy shelf
            gw1.send([shelf(MILK1, "shelf-dairy", s), shelf(MILK3, "shelf-dairy", s)])

        def settled() -> list[Any]:
            with ingest.db.connect() as conn:
                rows = conn.execute(select(t.alerts).order_by(t.alerts.c.id)).all()
            return rows if len(rows) == 4 and rows[0].cleared_at is not None and rows[3].cleared_at else []

        low, missing_bread, misplaced, missing_milk = eventually(settled)
        at = [T0 + timedelta(seconds=s) for s in (60, 90, 120)]
        assert (low.kind, low.zone, low.tag, low.at, low.cleared_at) == ("low_stock", "shelf-dairy", None, at[0],
                                                                         at[2])
        assert low.details == {"sku": "MILK-1L", "name": "Organic milk 1 l", "count": 1, "reorder_below": 2}
        assert "Organic milk 1 l" in low.message and "shelf-dairy" in low.message
        assert (missing_bread.kind, missing_bread.tag, missing_bread.zone, missing_bread.cleared_at) == (
            "missing", f"EPC:{BREAD1}", "backroom", None)
        assert (missing_milk.kind, missing_milk.tag, missing_milk.at, missing_milk.cleared_at) == (
            "missing", f"EPC:{MILK3}", at[1], T0 + timedelta(seconds=100))
        assert (misplaced.kind, misplaced.tag, misplaced.zone, misplaced.at, misplaced.cleared_at) == (
            "misplaced", f"EPC:{MILK2}", "shelf-bakery", at[1], None)
        assert misplaced.details["home_zones"] == ["shelf-dairy"]
        assert {a.source for a in (low, missing_bread, missing_milk, misplaced)} == {"ingest"}
        assert ingest.stats.duplicates == 1

        with ingest.db.connect() as conn:
            status = dict(conn.execute(select(t.items.c.tag, t.items.c.status)).all())
            cycles = conn.execute(select(t.inventory_cycles).order_by(t.inventory_cycles.c.zone,
                                                                      t.inventory_cycles.c.cycle)).all()
        assert status == {f"EPC:{MILK1}": "in_store", f"EPC:{MILK2}": "in_store", f"EPC:{MILK3}": "in_store",
                          f"EPC:{BREAD1}": "missing"}
        first = int(T0.timestamp()) // CYCLE
        assert [(c.zone, c.cycle - first, c.current_count, c.additions, c.deletions) for c in cycles] == [
            ("shelf-bakery", 1, 1, [f"EPC:{MILK2}"], []),
            ("shelf-bakery", 2, 1, [], []),
            ("shelf-bakery", 3, 0, [], [f"EPC:{MILK2}"]),
            ("shelf-dairy", 0, 3, [f"EPC:{MILK1}", f"EPC:{MILK2}", f"EPC:{MILK3}"], []),
            ("shelf-dairy", 1, 1, [], [f"EPC:{MILK2}", f"EPC:{MILK3}"]),
            ("shelf-dairy", 2, 1, [], []),
            ("shelf-dairy", 3, 2, [f"EPC:{MILK3}"], []),
        ]

        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while sum(1 for e in seen if e["type"] == "inventory" and "cycle" in e["data"]) < len(cycles):
            try:
                seen.append(json.loads(events.get(timeout=max(0.01, deadline - time.monotonic())).payload))
            except queue.Empty:
                break
        reports = [e["data"] for e in seen if e["type"] == "inventory" and "cycle" in e["data"]]
        assert [(r["zone"], r["cycle"] - first) for r in reports] == [
            ("shelf-dairy", 0), ("shelf-dairy", 1), ("shelf-bakery", 1), ("shelf-dairy", 2), ("shelf-bakery", 2),
            ("shelf-dairy", 3), ("shelf-bakery", 3)]
        assert reports[-2]["current"] == [f"EPC:{MILK1}", f"EPC:{MILK3}"]
        alerts = [(e["data"]["kind"], e["data"]["cleared_at"] is not None) for e in seen if e["type"] == "alert"]
        assert alerts == [("low_stock", False), ("missing", False), ("misplaced", False), ("missing", False),
                          ("missing", True), ("low_stock", True)]
    finally:
        gw1.link.stop()
        watcher.stop()
