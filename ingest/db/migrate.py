"""Alembic migrations run programmatically (no alembic.ini): ``upgrade(url)`` brings a database to head."""

from __future__ import annotations

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
        if engine.dialect.name != "postgresql":  # SQLite: the migration's write transaction serialises them
            command.upgrade(alembic_config(engine), revision)
            return
        # Several ingest workers start at once: without the lock two would both see the old revision and
        # both create the same tables. The lock is held by its own connection (a session lock) while the
        # migration runs on another; the second worker then finds the schema at head and does nothing.
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


def downgrade(url: str | Engine, revision: str = "base") -> None:
    engine = make_engine(url) if isinstance(url, str) else url
    try:
        command.downgrade(alembic_config(engine), revision)
    finally:
        if isinstance(url, str):
            engine.dispose()
