"""The operator page in a real Chromium: it signs in, goes live, and shows a new purchase without reloading."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contract import ReadsBatch, SensorSample, SensorsBatch, Status, TagRead, encode
from contract.topics import event_topic, gateway_topic
from ingest.rules.model import Evidence, TheftAlarm, TransactionCommitted, TransactionLine
from silentcommerce.mqtt import MqttLink
from tests.dashboard.conftest import ADA_CARD, MILK_TAG, RunningDashboard, record_decisions, signed_in_context
from tests.fixtures.broker import STORE, RunningBroker

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _now() -> datetime:
    return datetime.now(UTC)


def _publish(link: MqttLink, topic: str, payload: bytes, retain: bool = False) -> None:
    link.publish(topic, payload, retain=retain).wait(5)


def test_new_transaction_appears_live(live_dashboard: RunningDashboard, broker: RunningBroker, chromium: Any, tmp_path: Path) -> None:
    context = signed_in_context(
        chromium, live_dashboard.url,
        viewport={"width": 1600, "height": 1000},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_dashboard.url + "/")
    page.wait_for_selector("#link.pill-live", timeout=10_000)
    page.wait_for_selector("[data-zone='lane-1']", timeout=10_000)

    gateway = MqttLink(broker.gateway_settings("gw1"))
    ingest = MqttLink(broker.settings("ingest", "ingest-test"))
    gateway.start()
    ingest.start()
    try:
        assert gateway.wait_connected(5) and ingest.wait_connected(5)
        now = _now()
        _publish(gateway, gateway_topic(STORE, "gw1", "status"),
                 encode(Status(store=STORE, gateway="gw1", state="online", at=now, version="test")), retain=True)
        reads = [
            TagRead(reader="lane-1-uhf", antenna=1, uid=ADA_CARD[4:], rssi=-48, first_seen=now, last_seen=now,
                    count=3, event="seen", zone="lane-1"),
            TagRead(reader="lane-1-uhf", antenna=1, epc=MILK_TAG[4:], rssi=-52, first_seen=now, last_seen=now,
                    count=5, event="seen", zone="lane-1"),
        ]
        _publish(gateway, gateway_topic(STORE, "gw1", "reads"),
                 encode(ReadsBatch(store=STORE, gateway="gw1", seq=1, sent_at=now, reads=reads)))
        samples = [SensorSample(sensor="cooler-1-temp", kind="temperature", value=3.4, unit="°C", zone="cooler-1", at=now)]
        _publish(gateway, gateway_topic(STORE, "gw1", "sensors"),
                 encode(SensorsBatch(store=STORE, gateway="gw1", seq=2, sent_at=now, samples=samples)))

        lane = page.locator("[data-zone='lane-1']")
        lane.locator(".chip.member", has_text="Ada Lovelace").wait_for(timeout=10_000)
        lane.locator(".chip", has_text="Organic milk 1 l").wait_for(timeout=5_000)
        page.locator(".gateway.online", has_text="gw1").wait_for(timeout=5_000)

        # Ingest's way: store the decisions, then publish the business events that storing produced.
        milk = TransactionLine(MILK_TAG, "MILK-1L", "Organic milk 1 l", Decimal("1.29"))
        sale = TransactionCommitted("T-browser-1", "M-1001", "lane-1", (milk,), Decimal("1.29"), 1, now, "settle",
                                    None, None)
        theft = TheftAlarm("EPC:30AC", "BREAD", "exit", "gw1", "exit-alarm", now,
                           (Evidence("EPC:30AC", "exit", "gw1", "exit-uhf", 1, -50.0, 4, "seen", now),))
        events = record_decisions(live_dashboard.settings.db_url, [sale, theft])
        assert {e.type for e in events} >= {"transaction", "alert"}
        for event in events:
            _publish(ingest, event_topic(STORE, event.type), encode(event))

        new_row = page.locator("#transactions .tx.new[data-id='T-browser-1']")
        new_row.wait_for(timeout=10_000)
        assert "Ada Lovelace" in new_row.inner_text()
        assert "Organic milk 1 l" in new_row.inner_text()
        alarm = page.locator("#alerts .alert.theft", has_text="EPC:30AC")
        alarm.wait_for(timeout=5_000)
        assert page.locator("[data-zone='exit'].alarm").count() == 1
        page.wait_for_function("document.querySelectorAll('#rates-chart path.series').length > 0", timeout=5_000)
        page.wait_for_function("document.querySelectorAll('#temp-chart path.series').length > 0", timeout=5_000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        if os.environ.get("SC_SCREENSHOT_DIR"):
            page.screenshot(path=str(Path(os.environ["SC_SCREENSHOT_DIR"]) / "dashboard.png"), full_page=True)

        alarm.click()
        dialog = page.locator("#evidence")
        dialog.wait_for(state="visible", timeout=5_000)
        assert "exit-uhf" in dialog.inner_text()
        assert errors == []
    finally:
        gateway.stop()
        ingest.stop()
        context.close()
