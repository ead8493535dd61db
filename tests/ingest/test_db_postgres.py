"""The same schema, migration and repository on PostgreSQL: a throwaway cluster from the installed binaries.

Needs the Debian ``postgresql`` binaries and the ``psycopg`` driver; skips without them (fails under CI).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from ingest.db import repo
from ingest.db.admin import Person, StockItem, seed
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.db.persist import apply_decisions
from ingest.db.schema import metadata
from ingest.rules.model import Product, TransactionCommitted, TransactionLine, Zone
from silentcommerce.broker import free_port, wait_for_port
from tests.fixtures.servers import IN_CI, require_executable

pytestmark = pytest.mark.integration


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = require_executable(*(found or ["initdb"]), package="postgresql")
    return Path(initdb).parent


def _wait_ready(bindir: Path, port: int, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """The port opens before the server accepts sessions ("the database system is starting up")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"postgres exited with {server.returncode} while starting")
        ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False)
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"postgres on port {port} did not accept sessions within {timeout:.0f} s")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL cluster on a free port for this module; yields a URL for its ``postgres`` database."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        message = "the psycopg driver is not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    bindir = _pg_bin()
    # initdb refuses to run as root: run the cluster as the 'postgres' system user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    workdir = Path(tempfile.mkdtemp(prefix="sc-pg-"))
    data = workdir / "data"
    if as_user:
        shutil.chown(workdir, "postgres")
    port = free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    server = subprocess.Popen(
        [*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port, 30, server)
        _wait_ready(bindir, port, server)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pg(pg_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A fresh, migrated database in the cluster for one test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    admin = make_engine(pg_url)
    with admin.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(pg_url.rsplit("/", 1)[0] + f"/{name}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_migrated_postgres_schema_matches_the_metadata(pg: Engine) -> None:
    with pg.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_seed_sale_and_reads_work_the_same_on_postgres(pg: Engine) -> None:
    at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    tag = "EPC:E2000000000000000000000A"
    for _ in range(2):
        with pg.begin() as conn:
            seed(conn, store="demo", zones=[Zone("lane-1", "lane")],
                 products=[Product("BREAD", "Rye bread", Decimal("2.19"), reorder_below=1)],
                 members=[Person("M-1", "Ada", ("UID:0F003A6B5C",))], items=[StockItem(tag, "BREAD", "lane-1")])
    sale = TransactionCommitted("lane-1:M-1:x", "M-1", "lane-1", (TransactionLine(tag, "BREAD", "Rye bread",
                                Decimal("2.19")),), Decimal("2.19"), 2, at, "exit", None, None)
    for _ in range(2):
        with pg.begin() as conn:
            apply_decisions(conn, "demo", [sale])
    with pg.connect() as conn:
        sales = repo.list_transactions(conn)
        stock = repo.inventory(conn)
        member = repo.get_member(conn, "M-1")
    assert [(s.id, s.total, s.at) for s in sales] == [("lane-1:M-1:x", Decimal("2.19"), at)]
    assert [(s.sku, s.sold, s.in_store, s.reorder) for s in stock] == [("BREAD", 1, 0, True)]
    assert member is not None and member.total_spent == Decimal("2.19")
