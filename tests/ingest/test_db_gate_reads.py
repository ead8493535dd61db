"""The exit gates' stored reads against the real databases (SQLite and PostgreSQL): what a restore replays,
and the pruning that keeps the table bounded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from ingest.db import gate_reads
from ingest.db import schema as t
from ingest.db.engine import make_engine
from ingest.rules.exitgate import GateRead

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MEMORY = timedelta(seconds=300)
CAP, SCARF = "EPC:E2000000000000000000CAFE", "EPC:E2000000000000000000BEEF"


@pytest.fixture
def db(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def heard(tag: str, zone: str, seconds: float, rssi: float | None = -52.5, count: int = 2) -> GateRead:
    return GateRead(tag, zone, rssi, count, NOW + timedelta(seconds=seconds), f"{zone}-r", 2)


def rows(db: Engine, store: str | None = None) -> int:
    query = select(func.count()).select_from(t.gate_reads)
    if store is not None:
        query = query.where(t.gate_reads.c.store == store)
    with db.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_the_reads_come_back_as_fed_within_the_memory_of_the_newest(db: Engine) -> None:
    fed = [heard(CAP, "exit-inner", 0, rssi=None), heard(SCARF, "exit-inner", 400),
           heard(CAP, "exit-outer", 401.5, count=1), heard(CAP, "exit-inner", 401)]  # delivered out of time order
    with db.begin() as conn:
        gate_reads.record(conn, "s1", fed[:2])
        gate_reads.record(conn, "s1", fed[2:])
        gate_reads.record(conn, "s2", [heard(CAP, "exit-inner", 500)])
        gate_reads.record(conn, "s1", [])
    with db.connect() as conn:
        assert gate_reads.load(conn, "s1", MEMORY) == fed[1:]  # the read at 0 s is older than 300 s before 401.5 s
        assert gate_reads.load(conn, "s1", MEMORY, limit=2) == fed[2:]  # the newest two
        assert gate_reads.load(conn, "s3", MEMORY) == []


def test_pruning_keeps_the_table_bounded_while_the_gate_chatters(db: Engine) -> None:
    """Stock by the door read every second for an hour, pruned every 30 s: the table holds what the gates
    remember plus the margin, never the hour."""
    remembered = int((MEMORY + gate_reads.PRUNE_MARGIN).total_seconds())
    sizes = []
    for second in range(3600):
        with db.begin() as conn:
            gate_reads.record(conn, "s1", [heard(CAP, "exit-inner", second)])
            if second % 30 == 29:
                gate_reads.prune(conn, "s1", NOW + timedelta(seconds=second), MEMORY)
        if second % 30 == 29:
            sizes.append(rows(db))
    assert max(sizes) == remembered + 1  # the reads of the last 360 s, both ends included
    assert sizes[-1] == remembered + 1
    with db.begin() as conn:
        gate_reads.record(conn, "s2", [heard(CAP, "exit-inner", 0)])
        assert gate_reads.prune(conn, "s1", NOW + timedelta(hours=2), MEMORY) > 0
    assert rows(db, "s1") == 0 and rows(db, "s2") == 1  # a store prunes its own reads only


def alert(store: str, tag: str, seconds: float, *, kind: str = "theft", source: str = "ingest") -> dict[str, Any]:
    return {"store": store, "kind": kind, "severity": "critical", "message": "", "tag": tag, "evidence": [],
            "at": NOW + timedelta(seconds=seconds), "source": source}


def test_recent_alarms_are_ingests_own_exit_alarms_newest_per_tag(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(t.alerts), [
            alert("s1", CAP, 10), alert("s1", CAP, 20), alert("s1", SCARF, 15, kind="unknown_tag_at_exit"),
            alert("s1", "EPC:OLD", -3601), alert("s1", "EPC:EDGE", 12, source="edge"),
            alert("s1", "EPC:LOW", 12, kind="low_stock"), alert("s2", "EPC:OTHER", 12)])
    with db.connect() as conn:
        assert gate_reads.recent_alarms(conn, "s1", NOW) == {
            CAP: NOW + timedelta(seconds=20), SCARF: NOW + timedelta(seconds=15)}


def test_recent_returns_are_the_stores_newest_return_per_tag_since_a_time(db: Engine) -> None:
    def sale(tx_id: str, store: str, *lines: tuple[str, float | None]) -> None:
        conn.execute(insert(t.transactions), [{"id": tx_id, "store": store, "member": "M-1", "lane": "lane-1",
                                               "total": "1.00", "trigger": "settle", "at": NOW}])
        conn.execute(insert(t.transaction_lines), [
            {"transaction_id": tx_id, "tag": tag, "sku": "CAP", "name": "Cap", "unit_price": "1.00",
             "returned_at": None if back is None else NOW + timedelta(seconds=back)} for tag, back in lines])

    with db.begin() as conn:
        sale("tx-1", "s1", (CAP, 10), (SCARF, -100))
        sale("tx-2", "s1", (CAP, 20))
        sale("tx-3", "s1", (CAP, None), ("EPC:KEPT", None))
        sale("tx-4", "s2", ("EPC:OTHER", 15))
    with db.connect() as conn:
        assert gate_reads.recent_returns(conn, "s1", NOW) == {CAP: NOW + timedelta(seconds=20)}
