"""A thief's pass through an exit gate decided by ingest, split by an ingest restart, by the store moving to
another worker, or by its worker being SIGKILLed: the inner reads reach one owner, the outer reads the next.
Exactly one theft alarm."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from ingest.db import schema as t
from ingest.db.engine import make_engine
from tests.fixtures.broker import STORE, RunningBroker
from tests.fixtures.workers import running_workers, store_files
from tests.ingest.running import IngestCluster, running_ingest
from tests.ingest.test_service import UNPAID_EPC, Gateway, eventually, read
from tests.ingest.test_service_edge import EDGE_STORE_FILE

pytestmark = pytest.mark.integration

GATED_STORE_FILE = EDGE_STORE_FILE.replace('decide_at = "edge"', 'decide_at = "ingest"')
THEFT = [(f"EPC:{UNPAID_EPC}", "exit-gate")]


def thefts(db: Engine) -> list[tuple[str, str]]:
    with db.connect() as conn:
        return [(r.tag, r.rule) for r in conn.execute(select(t.alerts).where(t.alerts.c.kind == "theft"))]


def stored(db: Engine) -> tuple[list[int], int]:
    """The gateway's batches stored, and the gate reads kept."""
    with db.connect() as conn:
        seqs = list(conn.execute(select(t.gateway_batches.c.seq).order_by(t.gateway_batches.c.seq)).scalars())
        return seqs, int(conn.execute(select(func.count()).select_from(t.gate_reads)).scalar_one())


def inner_half(gw1: Gateway, db: Engine, at: datetime) -> None:
    """The unpaid bread is read on the shelf, then (strongly, three times) by the gate's inner antenna."""
    gw1.send([read(UNPAID_EPC, "shelf-dairy", at - timedelta(seconds=5))])
    gw1.send([read(UNPAID_EPC, "exit-inner", at)])
    assert eventually(lambda: stored(db)[0] == [1, 2], 30)
    assert thefts(db) == []
    assert stored(db)[1] == 1  # the gate's read only: the shelf's is not kept


def outer_half(gw1: Gateway, db: Engine, at: datetime, *, sent: Callable[[], object] = lambda: None,
               timeout: float = 10.0) -> None:
    """... then by the outer antenna half a second later (and again a moment after): one alarm, sounded."""
    gw1.send([read(UNPAID_EPC, "exit-outer", at + timedelta(seconds=0.5))])
    sent()
    assert eventually(lambda: thefts(db), timeout) == THEFT
    command = gw1.next_command(timeout)
    assert (command.action, command.target) == ("alarm", "exit-alarm")
    gw1.send([read(UNPAID_EPC, "exit-outer", at + timedelta(seconds=1.5))])
    assert eventually(lambda: stored(db)[0] == [1, 2, 3, 4], timeout)
    assert thefts(db) == THEFT


def test_a_pass_split_by_an_ingest_restart_raises_one_theft_alarm(
    broker: RunningBroker, tmp_path: Path, db_url: str, gw1: Gateway
) -> None:
    at = datetime.now(UTC)
    with running_ingest(broker, tmp_path, GATED_STORE_FILE, "ingest-gate", db_url) as first:
        inner_half(gw1, first.db, at)
    with running_ingest(broker, tmp_path, GATED_STORE_FILE, "ingest-gate", db_url) as again:
        outer_half(gw1, again.db, at)


def test_a_pass_split_by_the_store_moving_to_another_worker_raises_one_theft_alarm(
    broker: RunningBroker, tmp_path: Path, db_url: str, gw1: Gateway
) -> None:
    at = datetime.now(UTC)
    with running_ingest(broker, tmp_path, GATED_STORE_FILE, "ingest-gate", db_url, workers=3) as cluster:
        assert isinstance(cluster, IngestCluster)
        inner_half(gw1, cluster.db, at)
        cluster.owner.stop()  # it releases the store; another worker takes it
        assert eventually(lambda: any(w.service(STORE) for w in cluster.workers), timeout=30)
        assert cluster.owners == 2
        outer_half(gw1, cluster.db, at)


@pytest.fixture
def database(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_a_pass_split_by_a_killed_worker_raises_one_theft_alarm(
    broker: RunningBroker, tmp_path: Path, db_url: str, database: Engine, gw1: Gateway
) -> None:
    """Issue 7: the store's worker process is SIGKILLed between the two halves. The other one takes the store
    once the lease expires; the victim comes back (its session may hold the outer read) and hands over."""
    files = store_files(tmp_path / "stores", {STORE: GATED_STORE_FILE})
    with running_workers(broker, db_url, files, tmp_path / "workers", 2) as workers:
        (victim,) = workers.wait_owned(["w1", "w2"], [STORE]).values()
        at = datetime.now(UTC)
        inner_half(gw1, database, at)
        workers.kill(victim)
        (heir,) = {"w1", "w2"} - {victim}
        workers.wait_owned([heir], [STORE], timeout=60)
        outer_half(gw1, database, at, sent=lambda: workers.start(victim), timeout=60)
