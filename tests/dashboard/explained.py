"""A store whose decisions explain themselves: an explained sale, an edge alarm, a held lane, stock alerts.

Sales, baskets and alerts are stored through ingest's persistence; the explanation columns of migration 0002
(``transactions.explanation``, ``alerts.rule/details/source/latency_ms``) are then written as ingest records
them, so these tests see exactly what the dashboard reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from contract.payloads import utc_rfc3339
from ingest.db import repo
from ingest.db import schema as t
from ingest.db.engine import make_engine
from ingest.rules.model import (
    Alert,
    BasketChanged,
    BasketHeld,
    Evidence,
    ItemMoved,
    TransactionCommitted,
    TransactionLine,
)
from tests.dashboard.conftest import ADA_CARD, MILK_TAG, record_decisions
from tests.fixtures.broker import STORE

GRACE_CARD = "UID:0F003A6B5D"
HELD_TAG = "EPC:3074257BF7194E4000001C01"
LOST_TAG = "EPC:3074257BF7194E4000001D02"
WALKOUT_TAG = "EPC:3074257BF7194E4000001E03"
SALE_ID = "T-explained-1"
LANE_PARAMS = {"min_rssi": "-75.0", "min_reads": "2", "settle_time_s": "4.0"}
GATE_PARAMS = {"window_s": "3.0", "min_reads": "2", "min_rssi": "-70.0", "chatter_limit": "6"}


@dataclass(frozen=True)
class Explained:
    sale: str
    edge_alarm: int
    lane_conflict: int
    low_stock: int
    missing: int


def _read(tag: str, zone: str, reader: str, rssi: float, count: int, at: datetime) -> Evidence:
    return Evidence(tag, zone, "gw1", reader, 1, rssi, count, "seen", at)


def _json(e: Evidence) -> dict[str, Any]:
    return {"tag": e.tag, "zone": e.zone, "gateway": e.gateway, "reader": e.reader, "antenna": e.antenna,
            "rssi": e.rssi, "count": e.count, "event": e.event, "at": utc_rfc3339(e.at)}


def _alert_id(conn: Any, kind: str) -> int:
    found: int = conn.execute(select(t.alerts.c.id).where(t.alerts.c.kind == kind).order_by(t.alerts.c.id.desc())).scalar_one()
    return found


def seed_explained(url: str, at: datetime | None = None) -> Explained:
    at = at or datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            repo.upsert_member(conn, "M-1002", "Grace Hopper", STORE)
            repo.bind_tag(conn, GRACE_CARD, "member", "M-1002")
    finally:
        engine.dispose()

    milk = TransactionLine(MILK_TAG, "MILK-1L", "Organic milk 1 l", Decimal("1.29"))
    sale_reads = (
        _read(ADA_CARD, "lane-1", "lane-1-uhf", -47.0, 6, at - timedelta(seconds=9)),
        _read(MILK_TAG, "lane-1", "lane-1-uhf", -52.5, 4, at - timedelta(seconds=8)),
    )
    held_reads = (
        _read(ADA_CARD, "lane-1", "lane-1-uhf", -49.0, 3, at - timedelta(seconds=3)),
        _read(GRACE_CARD, "lane-1", "lane-1-uhf", -55.0, 2, at - timedelta(seconds=2)),
    )
    record_decisions(url, [
        TransactionCommitted(SALE_ID, "M-1001", "lane-1", (milk,), Decimal("1.29"), 1, at - timedelta(seconds=4),
                             "settle", None, None, sale_reads),
        BasketChanged("B-held-1", "M-1001", "lane-1", HELD_TAG, "BREAD", "added", at - timedelta(seconds=5)),
        BasketHeld("lane-1", ("M-1001", "M-1002"), at - timedelta(seconds=2), held_reads),
        Alert(kind="lane_conflict", severity="warning", at=at - timedelta(seconds=2), zone="lane-1",
              evidence=held_reads, details={"members": "M-1001,M-1002"},
              message="2 members in lane lane-1 (M-1001, M-1002): its basket is held and nothing is charged "
                      "until only one is left"),
        ItemMoved(LOST_TAG, "MILK-1L", "shelf-dairy", at - timedelta(minutes=5)),
        Alert(kind="missing", severity="warning", at=at - timedelta(seconds=30), zone="shelf-dairy", tag=LOST_TAG,
              message=f"Organic milk 1 l ({LOST_TAG}) unseen for 4 inventory cycles; last in shelf-dairy"),
        Alert(kind="low_stock", severity="warning", at=at - timedelta(seconds=20), zone="shelf-dairy",
              message="Organic milk 1 l: 1 left on shelf-dairy (reorder below 3)"),
    ])
    gate_reads = [  # a gateway's GateAlarm evidence: raw reads, no tag or gateway field
        {"reader": "exit-uhf", "antenna": 1, "zone": "exit-inner", "rssi": -58.0, "count": 1,
         "at": utc_rfc3339(at - timedelta(milliseconds=900))},
        {"reader": "exit-uhf", "antenna": 1, "zone": "exit-inner", "rssi": -56.5, "count": 1,
         "at": utc_rfc3339(at - timedelta(milliseconds=700))},
        {"reader": "exit-uhf", "antenna": 2, "zone": "exit-outer", "rssi": -61.0, "count": 1,
         "at": utc_rfc3339(at - timedelta(milliseconds=300))},
        {"reader": "exit-uhf", "antenna": 2, "zone": "exit-outer", "rssi": -60.0, "count": 1,
         "at": utc_rfc3339(at - timedelta(milliseconds=150))},
    ]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(update(t.transactions).where(t.transactions.c.id == SALE_ID).values(explanation={
                "rule": "lane-basket", "params": LANE_PARAMS, "zone_sequence": ["entrance", "lane-1"],
                "evidence": [_json(e) for e in sale_reads],
            }))
            conn.execute(update(t.items).where(t.items.c.tag == LOST_TAG).values(status="missing"))
            for kind, rule, details in (
                ("lane_conflict", "lane-conflict", {"members": "M-1001,M-1002", "params": {"members_max": "1"},
                                                    "zone_sequence": ["lane-1"]}),
                ("missing", "inventory-missing", {"sku": "MILK-1L", "params": {"missing_after_cycles": "4",
                                                                               "cycle_s": "30.0"}}),
                ("low_stock", "stock-low", {"sku": "MILK-1L", "product": "Organic milk 1 l", "count": 1,
                                            "threshold": 3, "params": {"reorder_below": "3"}}),
            ):
                conn.execute(update(t.alerts).where(t.alerts.c.kind == kind)
                             .values(rule=rule, details=details, source="ingest"))
            edge = conn.execute(insert(t.alerts).values(
                store=STORE, kind="theft", severity="critical", zone="exit", tag=WALKOUT_TAG, member=None,
                message=f"unpaid item {WALKOUT_TAG} (MILK-1L) left through exit: the gateway sounded exit-alarm",
                evidence=gate_reads, at=at - timedelta(seconds=1), rule="exit-gate", source="edge", latency_ms=142.0,
                details={"params": GATE_PARAMS, "zone_sequence": ["exit-inner", "exit-outer"], "gateway": "gw1",
                         "verdict": "unpaid"},
            ).returning(t.alerts.c.id)).scalar_one()
            return Explained(SALE_ID, edge, _alert_id(conn, "lane_conflict"), _alert_id(conn, "low_stock"),
                             _alert_id(conn, "missing"))
    finally:
        engine.dispose()
