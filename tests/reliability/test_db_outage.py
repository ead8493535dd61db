"""The database is unavailable while a gateway streams: ingest stops taking and acknowledging messages (the
broker keeps them), holds no more than its queue, and stores everything exactly once when the database is
back, without a restart. SQLite is made unavailable by another connection holding its write lock,
PostgreSQL by refusing connections to ingest's database and ending the ones it has.

CI size: the outage lasts until ingest has failed a write and the gateway has sent everything (~15 s, most
of it SQLite's busy time-out); ``SC_SOAK=1`` holds it for a minute with ten times the batches."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ingest.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine
from tests.fixtures.broker import RunningBroker
from tests.fixtures.databases import Databases
from tests.ingest.running import IngestCluster, running_ingest
from tests.ingest.test_service import STORE_FILE, Gateway, eventually, read
from tests.reliability.conftest import stored_seqs

pytestmark = pytest.mark.integration

SOAK = os.environ.get("SC_SOAK") == "1"
BATCHES = 300 if SOAK else 30
OUTAGE_S = 60.0 if SOAK else 0.0
QUEUE = 5


@contextmanager
def unavailable(db_url: str, databases: Databases) -> Iterator[None]:
    """The database at ``db_url`` can be neither written nor (on PostgreSQL) connected to, until the end."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        lock = sqlite3.connect(str(url.database), isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        return
    admin = make_engine(databases.postgres().url())

    def run(statement: str) -> None:
        with admin.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(statement))

    run(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
    run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{url.database}'")
    try:
        yield
    finally:
        run(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
        admin.dispose()


@pytest.mark.sqlite_workers  # SQLite's lone writer: with several workers the store's lease runs out and it moves
def test_ingest_holds_back_while_the_database_is_down_and_stores_everything_once_when_it_returns(
    broker: RunningBroker, tmp_path: Path, db_engine: str, db_url: str, ingest_workers: int,
    databases: Databases, gw1: Gateway
) -> None:
    t0 = datetime.now(UTC)
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-outage", db_url, workers=ingest_workers,
                        queue_size=QUEUE) as ingest:
        gw1.send([read(f"E2000000000000000000{1:04X}", "shelf-dairy", t0)])
        assert eventually(lambda: stored_seqs(ingest) == [1])

        with unavailable(db_url, databases):
            started = time.monotonic()
            for n in range(2, BATCHES + 1):
                gw1.send([read(f"E2000000000000000000{n:04X}", "shelf-dairy", t0 + timedelta(seconds=n))])
            assert eventually(lambda: ingest.stats.db_retries >= 1, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000 + 10)
            while time.monotonic() - started < OUTAGE_S:
                time.sleep(1)
            # paho's thread blocks on the full queue: what ingest took is bounded; the broker keeps the rest
            # (2: the message the worker holds and the one paho's thread is waiting to queue). With several
            # workers that is the store's owner; each other worker holds the share it could neither store nor
            # hand over, unacknowledged (the broker's max_inflight_messages bounds it).
            if isinstance(ingest, IngestCluster):
                assert ingest.owner.link.stats.received - ingest.owner.stats.states <= 1 + QUEUE + 2
            else:
                assert ingest.link.stats.received <= 1 + QUEUE + 2 < BATCHES
            if db_engine == "sqlite":  # PostgreSQL cannot be read either
                assert stored_seqs(ingest) == [1], "nothing is stored while the database is down"

        assert eventually(lambda: stored_seqs(ingest) == list(range(1, BATCHES + 1)), timeout=60)
        # A long outage can cost the connection (paho's thread waits on the full queue and misses its keepalive);
        # the broker then delivers the unacknowledged messages again, and each repeat is recognised as one.
        assert ingest.link.stats.received == BATCHES + ingest.stats.duplicates
        if not isinstance(ingest, IngestCluster):
            assert ingest.gaps.stats.noticed == 0, f"gaps noticed: {ingest.gaps.stats}"
        # With several workers the hand-over stops with the database for longer than the reorder wait, so the
        # owner goes on without the handed-over batches and they arrive late (counted, never re-requested).
        assert ingest.gaps.stats.requests == 0 and ingest.gaps.stats.lost == 0, f"gaps: {ingest.gaps.stats}"
