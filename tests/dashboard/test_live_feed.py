"""The live feed over real HTTP from a real broker: Server-Sent Events as a browser's EventSource sees them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from contract import BusinessEvent, ReadsBatch, TagRead, encode
from contract.topics import event_topic, gateway_topic
from silentcommerce.mqtt import MqttLink
from tests.dashboard.conftest import ADA_CARD, RunningDashboard
from tests.fixtures.broker import STORE, RunningBroker

pytestmark = pytest.mark.integration


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """Parse ``text/event-stream`` into (event, data) pairs; comments (keep-alives) are skipped."""
    kind, data = "message", list[str]()
    for line in response.iter_lines():
        if line == "":
            if data:
                yield kind, json.loads("\n".join(data))
            kind, data = "message", list[str]()
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def next_event(events: Iterator[tuple[str, dict[str, Any]]], kind: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    for got, data in events:
        if got == kind:
            return data
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no {kind!r} event within {timeout} s")


def test_live_feed_needs_a_login(live_dashboard: RunningDashboard) -> None:
    response = httpx.get(live_dashboard.url + "/api/live", timeout=5)
    assert response.status_code == 401 and "Basic" in response.headers["www-authenticate"]


def test_live_feed_streams_snapshot_ticks_and_business_events(
    live_dashboard: RunningDashboard, broker: RunningBroker
) -> None:
    gateway = MqttLink(broker.gateway_settings("gw1"))
    ingest = MqttLink(broker.settings("ingest", "ingest-sse-test"))
    gateway.start()
    ingest.start()
    try:
        assert gateway.wait_connected(5) and ingest.wait_connected(5)
        with live_dashboard.client() as client, client.stream("GET", "/api/live") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
            snapshot = next_event(events, "snapshot")
            assert {z["zone"] for z in snapshot["presence"]} >= {"entrance", "lane-1", "exit"}

            now = datetime.now(UTC)
            read = TagRead(reader="entry-rfid", antenna=0, uid=ADA_CARD[4:], first_seen=now, last_seen=now,
                           count=2, event="seen", zone="entrance")
            batch = ReadsBatch(store=STORE, gateway="gw1", seq=1, sent_at=now, reads=[read])
            gateway.publish(gateway_topic(STORE, "gw1", "reads"), encode(batch)).wait(5)
            deadline = time.monotonic() + 10
            while True:
                tick = next_event(events, "tick")
                entrance = next(z for z in tick["presence"] if z["zone"] == "entrance")
                if entrance["members"]:
                    break
                assert time.monotonic() < deadline, "the member never showed up at the entrance"
            assert entrance["members"][0]["name"] == "Ada Lovelace"

            data = {"id": "T-sse-1", "member": "M-1001", "member_name": "Ada Lovelace", "lane": "lane-1",
                    "lines": [], "total": "3.48", "points": 3, "trigger": "exit", "at": now.isoformat()}
            event = BusinessEvent(store=STORE, type="transaction", at=now, data=data)
            ingest.publish(event_topic(STORE, "transaction"), encode(event)).wait(5)
            transaction = next_event(events, "transaction")
            assert transaction["id"] == "T-sse-1" and transaction["total"] == "3.48"
    finally:
        gateway.stop()
        ingest.stop()
