"""Alembic environment for ingest's schema; the engine comes from :func:`ingest.db.migrate.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from ingest.db.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through ingest.db.migrate.upgrade(url), which provides the engine")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
