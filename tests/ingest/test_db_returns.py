"""A returned item can be sold again; the first sale still shows what was sold, marked returned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from ingest.db import edge, repo
from ingest.db import schema as t
from ingest.db.admin import seed
from ingest.rules.model import ItemReturned, Zone
from tests.ingest.test_db_persist import T0, A, apply, sale
from tests.ingest.test_db_persist import engine as engine


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    yield engine


def _return(engine: Engine, tag: str, minutes: int) -> None:
    with engine.begin() as conn:
        edge.item_returned(conn, ItemReturned(tag, "MILK-1L", T0 + timedelta(minutes=minutes)))


def test_a_returned_item_is_sold_again_and_history_stays_true(db: Engine) -> None:
    apply(db, sale("lane-1:M-1:first", A))
    _return(db, A, 10)
    apply(db, sale("lane-1:M-1:second", A, at=T0 + timedelta(minutes=20)))
    with db.connect() as conn:
        first = repo.get_transaction(conn, "lane-1:M-1:first")
        second = repo.get_transaction(conn, "lane-1:M-1:second")
        stock = {s.sku: s for s in repo.inventory(conn)}
    assert first is not None and second is not None
    assert [(line.tag, line.returned_at) for line in first.lines] == [(A, T0 + timedelta(minutes=10))]
    assert [(line.tag, line.returned_at) for line in second.lines] == [(A, None)]
    assert second.summary.total == Decimal("1.29")
    assert stock["MILK-1L"].sold == 1


def test_an_unreturned_item_is_never_sold_twice(db: Engine) -> None:
    apply(db, sale("lane-1:M-1:first", A))
    apply(db, sale("lane-1:M-1:second", A))  # a second basket claiming the same item charges nothing
    with db.connect() as conn:
        assert [s.id for s in repo.list_transactions(conn)] == ["lane-1:M-1:first"]
    with pytest.raises(IntegrityError), db.begin() as conn:  # and the database itself refuses it
        conn.execute(insert(t.transaction_lines).values(
            transaction_id="lane-1:M-1:first", tag=A, sku="MILK-1L", name="x", unit_price="1.29"))


def test_a_return_reloads_the_store_that_sold_the_item_and_no_other(db: Engine) -> None:
    apply(db, sale("lane-1:M-1:first", A))
    with db.begin() as conn:
        seed(conn, store="other", zones=[Zone("o-lane", "lane")])
        before = {store: repo.config_version(conn, store) for store in ("demo", "other")}
        repo.return_item(conn, A, at=T0 + timedelta(minutes=10))
        after = {store: repo.config_version(conn, store) for store in ("demo", "other")}
    assert after == {"demo": before["demo"] + 1, "other": before["other"]}
