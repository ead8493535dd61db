"""The one place that creates SQLAlchemy engines (SQLite by default, PostgreSQL for scale-out)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

from ingest.db.errors import DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL: each process keeps up to pool_size idle connections and opens up to max_overflow more under
# load. Ingest writes from one thread (a batch is one transaction), so it needs few; a dashboard replica
# serves concurrent requests from a thread pool. Connections older than POOL_RECYCLE_S are replaced, so a
# proxy or failover that drops idle sessions costs no request.
POOL_OPTIONS = ("pool_size", "max_overflow")
POOL_DEFAULTS = {"pool_size": 5, "max_overflow": 10}
POOL_RECYCLE_S = 1800


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``), tuned for ingest.

    SQLite connections run in WAL mode with ``synchronous=NORMAL``, a busy timeout and foreign keys on,
    so the dashboard can read while ingest writes. They are pooled too (SQLAlchemy's defaults): opening one
    runs those pragmas, and closing the last one checkpoints the WAL into the database file, which made a
    connection per ingest message cost tens of milliseconds. PostgreSQL connections are pooled (``?pool_size=5&
    max_overflow=10`` in the URL by default), checked before use and recycled; many-row inserts go out as
    multi-row ``INSERT … VALUES`` statements and other many-row statements through psycopg's pipelined
    ``executemany``, so a batch costs a few round trips, not one per row.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"database URL {url!r} is not valid: {exc}") from None
    pool = _pool_options(url, parsed)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseError(
                f"database URL {url!r}: an in-memory SQLite database cannot be shared; give a file path"
            )
        engine = create_engine(
            parsed,
            echo=echo,
            poolclass=QueuePool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(parsed.difference_update_query(POOL_OPTIONS), echo=echo, pool_pre_ping=True,
                         pool_recycle=POOL_RECYCLE_S, **pool)


def _pool_options(url: str, parsed: URL) -> dict[str, int]:
    """``pool_size`` and ``max_overflow`` from the URL's query: the pool is sized where the database is named,
    per process (``--db`` / ``SC_DB_URL``), with no separate option for each service."""
    options = {name: POOL_DEFAULTS[name] for name in POOL_OPTIONS}
    for name in POOL_OPTIONS:
        if name not in parsed.query:
            continue
        if parsed.get_backend_name() == "sqlite":
            raise DatabaseError(f"database URL {url!r}: {name} is for PostgreSQL; SQLite keeps a small fixed pool")
        raw = parsed.query[name]
        try:
            options[name] = int(raw if isinstance(raw, str) else raw[-1])
        except ValueError:
            raise DatabaseError(f"database URL {url!r}: {name} must be a whole number, not {raw!r}") from None
        if options[name] < 0 or (name == "pool_size" and options[name] == 0):
            raise DatabaseError(f"database URL {url!r}: {name} {options[name]} is out of range")
    return options


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves (see _begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred BEGIN: with WAL, readers never wait for the writer; ingest is the main writer and the
    # dashboard's rare admin writes wait out the busy timeout.
    connection.exec_driver_sql("BEGIN")
