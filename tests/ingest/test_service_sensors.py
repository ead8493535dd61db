"""Sensor rules in the running ingest service, against a real Mosquitto and SQLite: gateway gw1 reports a
cooler warming past 5 °C for longer than the rule's 120 s (sample times, not sleeps), then recovering."""

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

from contract.payloads import SensorSample, SensorsBatch, encode
from contract.topics import event_filter
from ingest.db import schema as t
from ingest.service import IngestService
from silentcommerce.broker import DASHBOARD_USER
from silentcommerce.mqtt import InboundMessage, MqttLink
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import Gateway, eventually

pytestmark = pytest.mark.integration

STORE_FILE = f"""
[store]
id = "{STORE}"
name = "Test store"

[[zones]]
name = "cooler-1"
type = "cooler"
[[zones]]
name = "lane-1"
type = "lane"
display = "lane-1-display"
gateway = "gw1"

[[sensor_rules]]
name = "cooler-1-too-warm"
kind = "temperature"
zone = "cooler-1"
above = 5.0
for_s = 120.0
clear_at = 4.0
severity = "critical"
message = "Cooler 1 too warm"
display = "lane-1-display"
gateway = "gw1"
"""


@pytest.fixture
def ingest(broker: RunningBroker, tmp_path: Path, db_url: str) -> Iterator[IngestService]:
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-sensors", db_url) as service:
        yield service


def send(gw: Gateway, t0: datetime, samples: list[tuple[float, float]], seq: int | None = None) -> None:
    """One ``sensors`` batch of cooler-1-temp samples: (seconds after t0, °C)."""
    gw.seq = seq if seq is not None else gw.seq + 1
    batch = SensorsBatch(store=STORE, gateway=gw.name, seq=gw.seq, sent_at=t0, samples=[
        SensorSample(sensor="cooler-1-temp", kind="temperature", value=value, unit="°C", zone="cooler-1",
                     at=t0 + timedelta(seconds=s))
        for s, value in samples
    ])
    gw.publish_raw(encode(batch), kind="sensors")


def test_a_warm_cooler_raises_one_alert_that_clears_when_it_cools(broker: RunningBroker, ingest: IngestService) -> None:
    events: queue.Queue[InboundMessage] = queue.Queue()
    watcher = MqttLink(broker.settings(DASHBOARD_USER, "watcher"), subscriptions=[(event_filter(STORE), 1)],
                       on_message=events.put)
    watcher.start()
    assert watcher.wait_connected(10)
    time.sleep(0.2)
    gw1 = Gateway(broker)
    try:
        # An hour ago, so the service's ticks (wall clock) have nothing to add: only the samples decide.
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        send(gw1, t0, [(0, 3.0), (10, 5.5), (40, 6.5), (70, 7.5)])
        send(gw1, t0, [(100, 8.0), (131, 8.0)])  # 121 s past 5 °C: raised
        send(gw1, t0, [(100, 8.0), (131, 8.0)], seq=2)  # a redelivery: dropped
        send(gw1, t0, [(160, 4.5), (190, 6.0), (220, 4.2)])  # between 4 and 5 °C: still raised
        send(gw1, t0, [(250, 3.8)])  # below 4 °C: cleared

        display, clear = gw1.next_command(), gw1.next_command()
        assert (display.action, display.target, display.text) == ("display", "lane-1-display", ["Cooler 1 too warm"])
        assert (clear.action, clear.target) == ("clear_display", "lane-1-display")

        def cleared_rows() -> list[Any]:
            with ingest.db.connect() as conn:
                rows = conn.execute(select(t.alerts)).all()
            return rows if rows and all(r.cleared_at is not None for r in rows) else []

        (row,) = eventually(cleared_rows)
        assert (row.kind, row.severity, row.zone, row.message) == ("sensor", "critical", "cooler-1", "Cooler 1 too warm")
        assert (row.at, row.cleared_at) == (t0 + timedelta(seconds=131), t0 + timedelta(seconds=250))
        assert [(e["value"], e["threshold"]) for e in row.evidence] == [(5.5, 5.0), (8.0, 5.0)]
        assert ingest.stats.duplicates == 1

        alerts: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while len(alerts) < 2 and time.monotonic() < deadline:
            try:
                body = json.loads(events.get(timeout=max(0.01, deadline - time.monotonic())).payload)
            except queue.Empty:
                break
            if body["type"] == "alert":
                alerts.append(body["data"])
        raised, cleared = alerts
        assert raised["id"] == cleared["id"] == row.id
        assert (raised["kind"], raised["cleared_at"], raised["details"]["state"]) == ("sensor", None, "raised")
        assert raised["details"]["value"] == 8.0 and raised["details"]["threshold"] == 5.0
        assert (cleared["details"]["state"], cleared["details"]["duration_s"]) == ("cleared", 240.0)
        assert cleared["cleared_at"] is not None
        time.sleep(0.3)  # a few more ticks: nothing else is raised
        with ingest.db.connect() as conn:
            assert len(conn.execute(select(t.alerts)).all()) == 1
        assert events.empty()
    finally:
        gw1.link.stop()
        watcher.stop()
