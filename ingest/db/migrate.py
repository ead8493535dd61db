"""Alembic migrations run programmatically (no alembic.ini): ``upgrade(url)`` brings a database to head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from ingest.db.engine import make_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


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
        command.upgrade(alembic_config(engine), revision)
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
