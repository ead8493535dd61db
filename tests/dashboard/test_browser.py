"""The operator page in a real Chromium: it signs in, goes live, and shows a new purchase without reloading."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contract import BusinessEvent, ReadsBatch, SensorSample, SensorsBatch, Status, TagRead, encode
from contract.topics import event_topic, gateway_topic
from silentcommerce.mqtt import MqttLink
from tests.dashboard.conftest import ADA_CARD, LOGINS, MILK_TAG, RunningDashboard
from tests.fixtures.broker import STORE, RunningBroker

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _now() -> datetime:
    return datetime.now(UTC)


def _publish(link: MqttLink, topic: str, payload: bytes, retain: bool = False) -> None:
    link.publish(topic, payload, retain=retain).wait(5)


def test_new_transaction_appears_live(live_dashboard: RunningDashboard, broker: RunningBroker, chromium: Any, tmp_path: Path) -> None:
    context = chromium.new_context(
        http_credentials={"username": "operator", "password": LOGINS["operator"]},
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

        transaction = {
            "id": "T-browser-1", "member": "M-1001", "member_name": "Ada Lovelace", "lane": "lane-1",
            "lines": [{"tag": MILK_TAG, "sku": "MILK-1L", "name": "Organic milk 1 l", "unit_price": "1.29"}],
            "total": "1.29", "points": 1, "trigger": "settle", "at": now.isoformat(),
        }
        _publish(ingest, event_topic(STORE, "transaction"),
                 encode(BusinessEvent(store=STORE, type="transaction", at=now, data=transaction)))
        alert = {
            "id": "A-1", "kind": "theft", "severity": "critical", "message": "Unpaid Rye bread at the exit",
            "zone": "exit", "tag": "EPC:30AA", "member": None, "at": now.isoformat(),
            "evidence": [{"tag": "EPC:30AA", "zone": "exit", "gateway": "gw1", "reader": "exit-uhf", "antenna": 1,
                          "rssi": -50.0, "count": 4, "event": "seen", "at": now.isoformat()}],
        }
        _publish(ingest, event_topic(STORE, "alert"), encode(BusinessEvent(store=STORE, type="alert", at=now, data=alert)))

        new_row = page.locator("#transactions .tx.new[data-id='T-browser-1']")
        new_row.wait_for(timeout=10_000)
        assert "Ada Lovelace" in new_row.inner_text()
        assert "Organic milk 1 l" in new_row.inner_text()
        theft = page.locator("#alerts .alert.theft")
        theft.wait_for(timeout=5_000)
        assert page.locator("[data-zone='exit'].alarm").count() == 1
        page.wait_for_function("document.querySelectorAll('#rates-chart path.series').length > 0", timeout=5_000)
        page.wait_for_function("document.querySelectorAll('#temp-chart path.series').length > 0", timeout=5_000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        if os.environ.get("SC_SCREENSHOT_DIR"):
            page.screenshot(path=str(Path(os.environ["SC_SCREENSHOT_DIR"]) / "dashboard.png"), full_page=True)

        theft.click()
        dialog = page.locator("#evidence")
        dialog.wait_for(state="visible", timeout=5_000)
        assert "exit-uhf" in dialog.inner_text()
        assert errors == []
    finally:
        gateway.stop()
        ingest.stop()
        context.close()
