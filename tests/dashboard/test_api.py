"""The REST API against a real, migrated store (SQLite and PostgreSQL) seeded through the repository."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import (
    ADA_CARD,
    ADMIN,
    BREAD_TAG,
    LOGINS,
    MILK_TAG,
    OPERATOR,
    api_client,
    seeded_database,
)
from tests.fixtures.databases import Databases

READS = [
    "/api/health",
    "/api/transactions",
    "/api/alerts",
    "/api/inventory",
    "/api/members/M-1001",
    "/api/zones",
    "/api/products",
    "/api/live/snapshot",
    "/",
]


@pytest.fixture(scope="module")
def client(databases: Databases, db_engine: str) -> Iterator[TestClient]:
    """One app for the module (stopping its broker link takes a second); tests use distinct names."""
    with seeded_database(databases, db_engine) as db_url, api_client(db_url) as test_client:
        yield test_client


@pytest.mark.parametrize("path", READS)
def test_every_read_needs_a_login(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    assert client.get(path, auth=("operator", "wrong")).status_code == 401
    assert client.get(path, auth=("nobody", LOGINS["operator"])).status_code == 401
    assert client.get(path, auth=OPERATOR).status_code == 200


def test_zones_and_products_come_from_the_store(client: TestClient) -> None:
    zones = {z["name"]: z for z in client.get("/api/zones", auth=OPERATOR).json()}
    assert set(zones) >= {"entrance", "shelf-dairy", "lane-1", "exit", "cooler-1"}
    assert zones["exit"] == {
        "name": "exit", "store": "teststore", "type": "exit", "display": None, "alarm": "exit-alarm",
        "gateway": "gw1",
    }
    products = {p["sku"]: p for p in client.get("/api/products", auth=OPERATOR).json()}
    assert products["MILK-1L"]["price"] == "1.29"  # money is a decimal string, never a float
    assert products["BREAD"]["name"] == "Rye bread"


def test_inventory_counts_the_tagged_item(client: TestClient) -> None:
    stock = {s["sku"]: s for s in client.get("/api/inventory", auth=OPERATOR).json()}
    assert stock["MILK-1L"]["in_store"] == 1
    assert stock["MILK-1L"]["reorder"] is True  # 1 in store, reorder below 3
    assert stock["BREAD"]["in_store"] == 0


def test_member_profile_and_missing_things(client: TestClient) -> None:
    member = client.get("/api/members/M-1001", auth=OPERATOR).json()
    assert member["name"] == "Ada Lovelace"
    assert [t["tag"] for t in member["tags"]] == [ADA_CARD]
    assert member["total_spent"] == "2.19" and member["transaction_count"] == 1
    assert [t["id"] for t in member["transactions"]] == ["T-seed-1"]
    missing = client.get("/api/members/M-9999", auth=OPERATOR)
    assert missing.status_code == 404 and "M-9999" in missing.json()["detail"]
    assert client.get("/api/transactions/T-404", auth=OPERATOR).status_code == 404
    assert client.get("/api/transactions?limit=0", auth=OPERATOR).status_code == 422


def test_transactions_list_and_detail(client: TestClient) -> None:
    listed = client.get("/api/transactions", auth=OPERATOR).json()
    assert [(t["id"], t["member_name"], t["total"], t["line_count"]) for t in listed] == [
        ("T-seed-1", "Ada Lovelace", "2.19", 1)
    ]
    detail = client.get("/api/transactions/T-seed-1", auth=OPERATOR).json()
    assert detail["lines"] == [{"tag": BREAD_TAG, "sku": "BREAD", "name": "Rye bread", "unit_price": "2.19",
                                "returned_at": None}]
    assert detail["at"].startswith("2026-01-05T09:30:00")


def test_alerts_carry_their_evidence(client: TestClient) -> None:
    alerts = client.get("/api/alerts", auth=OPERATOR).json()
    theft = next(a for a in alerts if a["kind"] == "theft")
    assert theft["severity"] == "critical" and theft["zone"] == "exit" and theft["tag"] == "EPC:30AB"
    assert [(e["reader"], e["rssi"], e["count"]) for e in theft["evidence"]] == [("exit-uhf", -51.0, 4)]
    assert client.get("/api/alerts?open_only=true", auth=OPERATOR).json()[0]["id"] == theft["id"]


def test_operator_cannot_write_admin_can(client: TestClient) -> None:
    body = {"name": "Butter 250 g", "price": "2.49", "category": "dairy", "reorder_below": 2}
    assert client.put("/api/products/BUTTER", json=body).status_code == 401
    refused = client.put("/api/products/BUTTER", json=body, auth=OPERATOR)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert "BUTTER" not in {p["sku"] for p in client.get("/api/products", auth=OPERATOR).json()}

    created = client.put("/api/products/BUTTER", json=body, auth=ADMIN)
    assert created.status_code == 200, created.text
    assert created.json()["price"] == "2.49"
    assert "BUTTER" in {p["sku"] for p in client.get("/api/products", auth=OPERATOR).json()}


def test_admin_edits_members_tags_and_zones(client: TestClient) -> None:
    member = client.put("/api/members/M-2002", json={"name": "Alan Turing"}, auth=ADMIN)
    assert member.status_code == 200 and member.json()["name"] == "Alan Turing"
    tag = client.put("/api/tags/uid:1a2b3c4d5f", json={"kind": "member", "ref": "M-2002"}, auth=ADMIN)
    assert tag.status_code == 200 and tag.json()["tag"] == "UID:1A2B3C4D5F"
    assert [t["tag"] for t in client.get("/api/members/M-2002", auth=OPERATOR).json()["tags"]] == ["UID:1A2B3C4D5F"]
    zone = client.put("/api/zones/lane-2", json={"type": "lane", "display": "lane-2-display"}, auth=ADMIN)
    assert zone.status_code == 200 and zone.json()["type"] == "lane"
    assert "lane-2" in {z["name"] for z in client.get("/api/zones", auth=OPERATOR).json()}
    assert client.put("/api/tags/" + MILK_TAG, json={"kind": "item", "ref": "BREAD"}, auth=OPERATOR).status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/api/products/MILK-1L", {"name": "Milk", "price": "-1"}, 422, "price"),
        ("/api/products/MILK-1L", {"name": "Milk", "price": "1.00", "colour": "white"}, 422, "colour"),
        ("/api/products/MILK-1L", {"name": "Milk", "price": "1", "gtin": "123"}, 422, "gtin"),
        ("/api/products/bad%20sku", {"name": "Milk", "price": "1"}, 422, "sku"),
        ("/api/tags/UID:0F003A6B5C", {"kind": "member", "ref": "M-404"}, 404, "M-404"),
        ("/api/tags/EPC:30AA", {"kind": "item", "ref": "NO-SUCH-SKU"}, 404, "NO-SUCH-SKU"),
        ("/api/tags/not-a-tag", {"kind": "item", "ref": "BREAD"}, 422, "tag"),
        ("/api/zones/lane-9", {"type": "parking"}, 422, "type"),
        ("/api/members/M-3", {}, 422, "name"),
    ],
)
def test_bad_writes_get_clear_errors(client: TestClient, path: str, body: dict[str, object], status: int, says: str) -> None:
    response = client.put(path, json=body, auth=ADMIN)
    assert response.status_code == status, response.text
    assert says in response.text


def test_health_reports_a_missing_broker_link(client: TestClient) -> None:
    health = client.get("/api/health", auth=OPERATOR).json()
    assert health["database"] is True
    assert health["live"]["connected"] is False
    assert health["status"] == "degraded"
    assert health["config_version"] >= 1


def test_page_and_assets_are_served_from_the_app(client: TestClient) -> None:
    page = client.get("/", auth=OPERATOR)
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and "/static/app.css" in page.text
    assert page.text.index("/static/dom.js") < page.text.index("/static/app.js")  # the helpers app.js uses
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, no external fonts
    for asset in ("/static/dom.js", "/static/app.js", "/static/app.css"):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 500
        assert "https://" not in response.text


def test_openapi_schema_types_every_answer(client: TestClient) -> None:
    schema = client.get("/openapi.json", auth=OPERATOR).json()
    assert schema["openapi"].startswith("3.")
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            ok = operation["responses"].get("200", {})
            content = ok.get("content", {})
            assert content, f"{method.upper()} {path} has no typed 200 answer"
            if path != "/api/live":
                assert "$ref" in str(content["application/json"]["schema"]), f"{method.upper()} {path}"
