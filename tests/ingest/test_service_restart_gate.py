"""A thief's pass through an exit gate decided by ingest, split by an ingest restart or by the store moving to
another worker: the inner reads reach one owner, the outer reads the next. Exactly one theft alarm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ingest.db import schema as t
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import Ingest, IngestCluster, running_ingest
from tests.ingest.test_service import UNPAID_EPC, Gateway, batches_of, eventually, read
from tests.ingest.test_service_edge import EDGE_STORE_FILE

pytestmark = pytest.mark.integration

GATED_STORE_FILE = EDGE_STORE_FILE.replace('decide_at = "edge"', 'decide_at = "ingest"')


def thefts(service: Ingest) -> list[tuple[str, str]]:
    with service.db.connect() as conn:
        return [(r.tag, r.rule) for r in conn.execute(select(t.alerts).where(t.alerts.c.kind == "theft"))]


def stored_gate_reads(service: Ingest) -> int:
    with service.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.gate_reads)).scalar_one())


def inner_half(gw1: Gateway, service: Ingest, at: datetime) -> None:
    """The unpaid bread is read on the shelf, then (strongly, three times) by the gate's inner antenna."""
    gw1.send([read(UNPAID_EPC, "shelf-dairy", at - timedelta(seconds=5))])
    gw1.send([read(UNPAID_EPC, "exit-inner", at)])
    assert eventually(lambda: batches_of(service) == [1, 2])
    assert thefts(service) == []
    assert stored_gate_reads(service) == 1  # the gate's read only: the shelf's is not kept


def outer_half(gw1: Gateway, service: Ingest, at: datetime) -> None:
    """... then by the outer antenna half a second later (and again a moment after): one alarm, sounded."""
    gw1.send([read(UNPAID_EPC, "exit-outer", at + timedelta(seconds=0.5))])
    assert eventually(lambda: thefts(service)) == [(f"EPC:{UNPAID_EPC}", "exit-gate")]
    command = gw1.next_command()
    assert (command.action, command.target) == ("alarm", "exit-alarm")
    gw1.send([read(UNPAID_EPC, "exit-outer", at + timedelta(seconds=1.5))])
    assert eventually(lambda: batches_of(service) == [1, 2, 3, 4])
    assert thefts(service) == [(f"EPC:{UNPAID_EPC}", "exit-gate")]


def test_a_pass_split_by_an_ingest_restart_raises_one_theft_alarm(
    broker: RunningBroker, tmp_path: Path, db_url: str, gw1: Gateway
) -> None:
    at = datetime.now(UTC)
    with running_ingest(broker, tmp_path, GATED_STORE_FILE, "ingest-gate", db_url) as first:
        inner_half(gw1, first, at)
    with running_ingest(broker, tmp_path, GATED_STORE_FILE, "ingest-gate", db_url) as again:
        outer_half(gw1, again, at)


def test_a_pass_split_by_the_store_moving_to_another_worker_raises_one_theft_alarm(
    broker: RunningBroker, tmp_path: Path, db_url: str, gw1: Gateway
) -> None:
    at = datetime.now(UTC)
    with running_ingest(broker, tmp_path, GATED_STORE_FILE, "ingest-gate", db_url, workers=3) as cluster:
        assert isinstance(cluster, IngestCluster)
        inner_half(gw1, cluster, at)
        cluster.owner.stop()  # it releases the store; another worker takes it
        assert eventually(lambda: any(w.service(STORE) for w in cluster.workers), timeout=30)
        assert cluster.owners == 2
        outer_half(gw1, cluster, at)
