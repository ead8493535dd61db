"""Decisions → rows: exactly-once sales, alerts with evidence, commands, visits and item locations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from ingest.db import repo
from ingest.db import schema as t
from ingest.db.admin import Person, StockItem, seed
from ingest.db.engine import make_engine
from ingest.db.persist import Outgoing, apply_decisions
from ingest.rules.model import (
    Alert,
    Decision,
    Evidence,
    ItemMoved,
    Product,
    TheftAlarm,
    TransactionCommitted,
    TransactionLine,
    VisitClosed,
    VisitOpened,
    Zone,
)

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
MILK = Product("MILK-1L", "Organic milk 1 l", Decimal("1.29"), "80614141123458", reorder_below=2)
BREAD = Product("BREAD", "Rye bread", Decimal("2.19"))
A, B, C = "EPC:E2000000000000000000000A", "EPC:E2000000000000000000000B", "EPC:E2000000000000000000000C"
PROOF = Evidence(C, "exit", "gw1", "exit-uhf", 1, -52.0, 4, "seen", T0)


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        seed(conn, store="demo", zones=[Zone("lane-1", "lane"), Zone("exit", "exit"), Zone("shelf", "shelf")],
             products=[MILK, BREAD], members=[Person("M-1", "Ada", ("UID:0F003A6B5C",))],
             items=[StockItem(A, "MILK-1L", "shelf"), StockItem(B, "BREAD", "shelf"), StockItem(C, "BREAD")])
    yield engine
    engine.dispose()


def sale(basket: str, *tags: str, at: datetime = T0) -> TransactionCommitted:
    lines = tuple(TransactionLine(tag, "BREAD" if tag != A else "MILK-1L", "x", Decimal("2.19") if tag != A
                                  else Decimal("1.29")) for tag in tags)
    total = sum((line.unit_price for line in lines), Decimal(0))
    return TransactionCommitted(basket, "M-1", "lane-1", lines, total, int(total), at, "settle",
                                display="lane-1-display", gateway="gw1")


def apply(engine: Engine, *decisions: Decision) -> Outgoing:
    with engine.begin() as conn:
        return apply_decisions(conn, "demo", decisions)


def test_a_sale_is_stored_once_however_often_it_is_applied(engine: Engine) -> None:
    first = apply(engine, sale("lane-1:M-1:1", A, B))
    again = apply(engine, sale("lane-1:M-1:1", A, B))
    with engine.connect() as conn:
        sales = repo.list_transactions(conn)
        stock = {s.sku: s for s in repo.inventory(conn)}
        display = conn.execute(select(t.commands)).one()
    assert [(s.id, s.total, s.line_count) for s in sales] == [("lane-1:M-1:1", Decimal("3.48"), 2)]
    assert (stock["MILK-1L"].sold, stock["MILK-1L"].in_store, stock["MILK-1L"].reorder) == (1, 0, True)
    assert [e.type for e in first.events] == ["transaction", "inventory", "inventory"]
    assert first.events[0].data["total"] == "3.48" and first.events[0].data["member_name"] == "Ada"
    assert [(c.action, c.target, c.text) for c in first.commands] == [
        ("display", "lane-1-display", ["2 items", "TOTAL 3.48    +3 pts"])]
    assert display.id == first.commands[0].id and display.ack_ok is None
    assert (again.events, again.commands) == ([], [])


def test_an_item_already_sold_is_left_out_of_a_second_sale(engine: Engine) -> None:
    apply(engine, sale("lane-1:M-1:1", A))
    out = apply(engine, sale("lane-1:M-1:2", A, B, at=T0 + timedelta(minutes=1)))
    with engine.connect() as conn:
        second = repo.get_transaction(conn, "lane-1:M-1:2")
    assert second is not None
    assert [line.tag for line in second.lines] == [B] and second.summary.total == Decimal("2.19")
    assert out.events[0].data["total"] == "2.19"


def test_a_theft_alarm_is_an_alert_with_evidence_and_an_alarm_command(engine: Engine) -> None:
    out = apply(engine, TheftAlarm(C, "BREAD", "exit", "gw1", "exit-alarm", T0, (PROOF,)),
                TheftAlarm(A, "MILK-1L", "exit", "gw2", None, T0))
    with engine.connect() as conn:
        alerts = repo.list_alerts(conn)
    assert [(a.kind, a.severity, a.tag) for a in alerts] == [("theft", "critical", A), ("theft", "critical", C)]
    assert alerts[1].evidence == [{"tag": C, "zone": "exit", "gateway": "gw1", "reader": "exit-uhf", "antenna": 1,
                                   "rssi": -52.0, "count": 4, "event": "seen", "at": "2026-03-01T10:00:00.000Z"}]
    assert [(c.action, c.gateway, c.target) for c in out.commands] == [("alarm", "gw1", "exit-alarm")]
    assert [e.data["kind"] for e in out.events] == ["theft", "theft"]


def test_a_cleared_alert_closes_the_open_one_of_its_kind_in_that_zone(engine: Engine) -> None:
    apply(engine, Alert("lane_conflict", "warning", "two members", T0, zone="lane-1"))
    apply(engine, Alert("lane_conflict_cleared", "info", "clear", T0 + timedelta(seconds=5), zone="lane-1"))
    with engine.connect() as conn:
        by_kind = {a.kind: a for a in repo.list_alerts(conn)}
        assert repo.health(conn).open_alerts == 1
    assert by_kind["lane_conflict"].cleared_at == T0 + timedelta(seconds=5)


def test_visits_open_and_close_and_moves_update_or_create_items(engine: Engine) -> None:
    sgtin = "EPC:3074257BF7194E4000001A85"
    apply(engine, VisitOpened("M-1", "entrance", T0), ItemMoved(sgtin, "MILK-1L", "shelf", T0),
          ItemMoved(B, "BREAD", "lane-1", T0), ItemMoved("EPC:E200FFFF", None, "shelf", T0),
          VisitClosed("M-1", T0 + timedelta(minutes=9), "exit"))
    with engine.connect() as conn:
        visits = conn.execute(select(t.visits)).all()
        stock = {s.sku: s for s in repo.inventory(conn)}
        profile = repo.get_member(conn, "M-1")
    assert [(v.member, v.closed_at, v.close_reason) for v in visits] == [("M-1", T0 + timedelta(minutes=9), "exit")]
    assert stock["MILK-1L"].on_shelf == {"shelf": 2}
    assert stock["BREAD"].on_shelf == {"?": 1, "lane-1": 1}
    assert profile is not None and profile.visits == 1


def test_seeding_and_a_sale_twice_store_them_once(migrated_db_url: str) -> None:
    tag = "EPC:E2000000000000000000000A"
    engine = make_engine(migrated_db_url)
    for _ in range(2):
        with engine.begin() as conn:
            seed(conn, store="demo", zones=[Zone("lane-1", "lane")],
                 products=[Product("BREAD", "Rye bread", Decimal("2.19"), reorder_below=1)],
                 members=[Person("M-1", "Ada", ("UID:0F003A6B5C",))], items=[StockItem(tag, "BREAD", "lane-1")])
    sold = TransactionCommitted("lane-1:M-1:x", "M-1", "lane-1", (TransactionLine(tag, "BREAD", "Rye bread",
                                Decimal("2.19")),), Decimal("2.19"), 2, T0, "exit", None, None)
    for _ in range(2):
        with engine.begin() as conn:
            apply_decisions(conn, "demo", [sold])
    with engine.connect() as conn:
        sales = repo.list_transactions(conn)
        stock = repo.inventory(conn)
        member = repo.get_member(conn, "M-1")
    engine.dispose()
    assert [(s.id, s.total, s.at) for s in sales] == [("lane-1:M-1:x", Decimal("2.19"), T0)]
    assert [(s.sku, s.sold, s.in_store, s.reorder) for s in stock] == [("BREAD", 1, 0, True)]
    assert member is not None and member.total_spent == Decimal("2.19")
