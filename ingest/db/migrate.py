"""Alembic migrations run programmatically (no alembic.ini): ``upgrade(url)`` brings a database to head."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from ingest.db.engine import make_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK = 0x5C1A9E57
"""The PostgreSQL advisory lock (any 64-bit number, the same in every process) held while migrating."""


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs ``ingest/migrations`` against ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(url: str | Engine, revision: str = "head") -> None:
    """Migrate the database at ``url`` (or an engine from :func:`make_engine`) to ``revision``."""
    engine = make_engine(url) if isinstance(url, str) else url
    try:
        # Several ingest workers start at once: without a lock two would both see the old revision and both
        # create the same tables. The second one waits, then finds the schema at head and does nothing.
        if engine.dialect.name == "sqlite":
            with _file_lock(engine):
                command.upgrade(alembic_config(engine), revision)
            return
        # PostgreSQL: an advisory lock, held by its own connection (a session lock) while the migration runs
        # on another.
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(engine), revision)
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                lock.commit()
    finally:
        if isinstance(url, str):
            engine.dispose()


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on ``<database>.migrate-lock`` beside the SQLite file (whose processes all run on
    this machine): SQLite's own locks do not serialise two migrations, the second fails as "locked"."""
    database = engine.url.database
    if not database:
        yield
        return
    with Path(f"{database}.migrate-lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def downgrade(url: str | Engine, revision: str = "base") -> None:
    engine = make_engine(url) if isinstance(url, str) else url
    try:
        command.downgrade(alembic_config(engine), revision)
    finally:
        if isinstance(url, str):
            engine.dispose()
