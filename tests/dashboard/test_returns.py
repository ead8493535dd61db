"""Taking a sold item back at the service desk, through the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import BREAD_TAG, MILK_TAG, OPERATOR, api_client


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with api_client(db_url) as c:
        yield c


def test_a_sold_item_is_returned_once_and_its_sale_shows_it(client: TestClient) -> None:
    assert client.post(f"/api/items/{BREAD_TAG}/return").status_code == 401
    done = client.post(f"/api/items/{BREAD_TAG.lower()}/return", auth=OPERATOR)
    assert done.status_code == 200, done.text
    assert (done.json()["tag"], done.json()["transaction_id"]) == (BREAD_TAG, "T-seed-1")

    sale = client.get("/api/transactions/T-seed-1", auth=OPERATOR).json()
    assert [(x["tag"], x["returned_at"] is not None) for x in sale["lines"]] == [(BREAD_TAG, True)]
    stock = {s["sku"]: s for s in client.get("/api/inventory", auth=OPERATOR).json()}
    assert stock["BREAD"]["sold"] == 0

    again = client.post(f"/api/items/{BREAD_TAG}/return", auth=OPERATOR)
    assert again.status_code == 404 and "not sold" in again.json()["detail"]
    assert client.post(f"/api/items/{MILK_TAG}/return", auth=OPERATOR).status_code == 404
    assert client.post("/api/items/not-a-tag/return", auth=OPERATOR).status_code in (404, 422)
