"""Every sale, alarm and alert explains itself through the API: its reads, zones, rule and parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import BREAD_TAG, OPERATOR, api_client, seeded_database
from tests.dashboard.explained import (
    GATE_PARAMS,
    HELD_TAG,
    LANE_PARAMS,
    LOST_TAG,
    SALE_ID,
    WALKOUT_TAG,
    Explained,
    seed_explained,
)
from tests.fixtures.databases import Databases


@pytest.fixture(scope="module")
def store(databases: Databases, db_engine: str) -> Iterator[tuple[TestClient, Explained]]:
    with seeded_database(databases, db_engine) as db_url:
        seeded = seed_explained(db_url)
        with api_client(db_url) as client:
            yield client, seeded


def _alerts(client: TestClient) -> dict[int, dict[str, Any]]:
    return {a["id"]: a for a in client.get("/api/alerts", auth=OPERATOR).json()}


def test_a_sale_shows_its_lines_reads_zones_and_rule(store: tuple[TestClient, Explained]) -> None:
    client, _ = store
    sale = client.get(f"/api/transactions/{SALE_ID}", auth=OPERATOR).json()
    assert [(x["name"], x["unit_price"]) for x in sale["lines"]] == [("Organic milk 1 l", "1.29")]
    why = sale["explanation"]
    assert why["rule"] == "lane-basket"
    assert why["params"] == LANE_PARAMS
    assert why["zone_sequence"] == ["entrance", "lane-1"]
    milk_read = why["evidence"][1]
    assert (milk_read["reader"], milk_read["antenna"], milk_read["rssi"], milk_read["count"], milk_read["zone"]) == (
        "lane-1-uhf", 1, -52.5, 4, "lane-1")


def test_a_sale_stored_before_explanations_still_opens(store: tuple[TestClient, Explained]) -> None:
    client, _ = store
    old = client.get("/api/transactions/T-seed-1", auth=OPERATOR).json()
    assert old["explanation"] is None
    assert [x["tag"] for x in old["lines"]] == [BREAD_TAG]


def test_an_edge_alarm_says_the_gateway_decided_it_and_how_fast(store: tuple[TestClient, Explained]) -> None:
    client, seeded = store
    alarm = _alerts(client)[seeded.edge_alarm]
    assert (alarm["kind"], alarm["source"], alarm["latency_ms"], alarm["tag"]) == ("theft", "edge", 142.0, WALKOUT_TAG)
    assert alarm["rule"] == "exit-gate" and alarm["params"] == GATE_PARAMS
    assert alarm["zone_sequence"] == ["exit-inner", "exit-outer"]
    assert [e["zone"] for e in alarm["evidence"]] == ["exit-inner", "exit-inner", "exit-outer", "exit-outer"]
    assert alarm["details"]["verdict"] == "unpaid"
    one = client.get(f"/api/alerts/{seeded.edge_alarm}", auth=OPERATOR).json()
    assert one == alarm


def test_a_lane_conflict_shows_the_lane_its_members_and_items(store: tuple[TestClient, Explained]) -> None:
    client, seeded = store
    conflict = _alerts(client)[seeded.lane_conflict]
    hold = conflict["hold"]
    assert hold["lane"] == "lane-1" and hold["held"] is True
    assert hold["members"] == [{"id": "M-1001", "name": "Ada Lovelace"}, {"id": "M-1002", "name": "Grace Hopper"}]
    assert hold["items"] == [{"tag": HELD_TAG, "sku": "BREAD", "name": "Rye bread", "member": "M-1001"}]
    assert {e["reader"] for e in conflict["evidence"]} == {"lane-1-uhf"}


def test_the_stock_panel_lists_what_to_restock_and_what_is_missing(store: tuple[TestClient, Explained]) -> None:
    client, seeded = store
    stock = client.get("/api/stock", auth=OPERATOR).json()
    assert [(p["sku"], p["in_store"], p["reorder_below"]) for p in stock["low"]] == [("MILK-1L", 0, 3)]
    assert [(m["tag"], m["name"], m["last_zone"]) for m in stock["missing"]] == [
        (LOST_TAG, "Organic milk 1 l", "shelf-dairy")]
    assert stock["open_alerts"] == {"missing": 1, "misplaced": 0, "low_stock": 1}
    low = _alerts(client)[seeded.low_stock]
    assert (low["details"]["product"], low["zone"], low["params"]) == ("Organic milk 1 l", "shelf-dairy",
                                                                       {"reorder_below": "3"})


def test_an_operator_clears_an_alert_once(db_url: str) -> None:
    seeded = seed_explained(db_url)  # its own store: the other tests see the alert open
    with api_client(db_url) as client:
        _clears(client, seeded)


def _clears(client: TestClient, seeded: Explained) -> None:
    path = f"/api/alerts/{seeded.missing}/clear"
    assert client.post(path).status_code == 401
    cleared = client.post(path, auth=OPERATOR).json()
    assert cleared["cleared_at"] is not None and cleared["details"]["cleared_by"] == "operator"
    again = client.post(path, auth=OPERATOR).json()
    assert again["cleared_at"] == cleared["cleared_at"]
    assert _alerts(client)[seeded.missing]["cleared_at"] == cleared["cleared_at"]
    open_ids = {a["id"] for a in client.get("/api/alerts?open_only=true", auth=OPERATOR).json()}
    assert seeded.missing not in open_ids and seeded.edge_alarm in open_ids
    assert client.post("/api/alerts/999999/clear", auth=OPERATOR).status_code == 404
    assert client.get("/api/alerts/999999", auth=OPERATOR).status_code == 404
    assert client.get(f"/api/alerts/{2**31}", auth=OPERATOR).status_code == 422  # beyond any id column: bad input
