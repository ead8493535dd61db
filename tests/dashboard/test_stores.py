"""A dashboard over several stores: ``?store=`` narrows what it shows; one started for a store shows only that."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from ingest.db import repo
from ingest.db.engine import make_engine
from ingest.db.persist import apply_decisions
from ingest.rules.model import Alert, TransactionCommitted, TransactionLine, Zone
from tests.dashboard.conftest import OPERATOR, serving, settings_for, signed_in_context, unreachable_mqtt
from tests.fixtures.broker import STORE

OTHER = "store-0002"


@pytest.fixture
def two_stores(db_url: str) -> str:
    """The seeded test store and a second store with one zone, one sale and one alert."""
    at = datetime(2026, 1, 6, 10, tzinfo=UTC)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            repo.upsert_store(conn, OTHER, "Harbour Street", "EUR")
            repo.upsert_zone(conn, Zone("lane-9", "lane"), OTHER)
            apply_decisions(conn, OTHER, [
                TransactionCommitted("T-other-1", "M-1001", "lane-9", (
                    TransactionLine("EPC:E2000000000000000000AB01", "BREAD", "Rye bread", Decimal("2.19")),),
                    Decimal("2.19"), 2, at, "settle", None, None),
                Alert("lane_conflict", "warning", "two members in lane-9", at, zone="lane-9"),
            ])
    finally:
        engine.dispose()
    return db_url


def client_for(db_url: str, store: str | None) -> TestClient:
    return TestClient(create_app(dataclasses.replace(settings_for(db_url, unreachable_mqtt()), store=store)))


@pytest.fixture
def chain(two_stores: str) -> Iterator[TestClient]:
    with client_for(two_stores, None) as client:
        yield client


def ids(client: TestClient, path: str, key: str = "id") -> list[str]:
    answer = client.get(path, auth=OPERATOR)
    assert answer.status_code == 200, answer.text
    return sorted(str(row[key]) for row in answer.json())


def test_a_chain_dashboard_lists_its_stores_and_narrows_every_list_to_the_chosen_one(chain: TestClient) -> None:
    assert [(s["id"], s["name"]) for s in chain.get("/api/stores", auth=OPERATOR).json()] == [
        (OTHER, "Harbour Street"), (STORE, "Test Store")]
    assert ids(chain, "/api/transactions") == ["T-other-1", "T-seed-1"]
    assert ids(chain, f"/api/transactions?store={OTHER}") == ["T-other-1"]
    assert ids(chain, f"/api/transactions?store={STORE}") == ["T-seed-1"]
    assert ids(chain, f"/api/zones?store={OTHER}", "name") == ["lane-9"]
    assert {a["store"] for a in chain.get(f"/api/alerts?store={OTHER}", auth=OPERATOR).json()} == {OTHER}
    assert chain.get(f"/api/stock?store={OTHER}", auth=OPERATOR).json()["open_alerts"] == {
        "missing": 0, "misplaced": 0, "low_stock": 0}
    assert chain.get("/api/transactions?store=no such store", auth=OPERATOR).status_code == 422


def test_a_chain_dashboard_opens_any_stores_alert(chain: TestClient) -> None:
    for alert in chain.get("/api/alerts", auth=OPERATOR).json():
        assert chain.get(f"/api/alerts/{alert['id']}", auth=OPERATOR).json()["store"] == alert["store"]


def test_a_dashboard_for_one_store_refuses_another(two_stores: str) -> None:
    with client_for(two_stores, STORE) as client:
        assert ids(client, "/api/stores") == [STORE]
        assert ids(client, f"/api/transactions?store={STORE}") == ids(client, "/api/transactions") == ["T-seed-1"]
        refused = client.get(f"/api/transactions?store={OTHER}", auth=OPERATOR)
        assert refused.status_code == 404 and OTHER in refused.json()["detail"]
        assert client.get(f"/api/alerts/{other_alert(two_stores)}", auth=OPERATOR).status_code == 404


def other_alert(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return next(a.id for a in repo.list_alerts(conn, store=OTHER))
    finally:
        engine.dispose()


@pytest.mark.browser
@pytest.mark.integration
def test_the_operator_picks_a_store_and_the_page_shows_only_its_purchases(two_stores: str, chromium: Any) -> None:
    settings = dataclasses.replace(settings_for(two_stores, unreachable_mqtt()), store=None)
    with serving(settings) as url:
        page = signed_in_context(chromium, url).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        page.wait_for_selector("#store:not([hidden])", timeout=10_000)
        page.wait_for_selector("#transactions li.tx[data-id='T-other-1']", timeout=10_000)
        assert page.locator("#store option").all_inner_texts() == ["All 2 stores", "Harbour Street", "Test Store"]
        page.select_option("#store", OTHER)
        page.wait_for_url(f"**/?store={OTHER}", timeout=10_000)
        page.wait_for_selector("#transactions li.tx[data-id='T-other-1']", timeout=10_000)
        assert page.locator("#transactions li.tx").evaluate_all("rows => rows.map(r => r.dataset.id)") == ["T-other-1"]
        assert page.locator("#store").input_value() == OTHER
        assert errors == []
