"""The Alembic migration creates exactly the schema the code uses, and the engine is tuned as promised."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from ingest.db.engine import make_engine
from ingest.db.errors import DatabaseError
from ingest.db.migrate import downgrade, upgrade
from ingest.db.schema import metadata


def test_migrated_schema_matches_the_metadata(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}


def test_upgrade_twice_is_harmless_and_downgrade_removes_everything(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    downgrade(db_url)
    engine = make_engine(db_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_the_global_config_version_becomes_every_existing_stores_and_comes_back_on_downgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO stores (id, name, currency) VALUES ('a', 'A', 'EUR'), ('b', 'B', 'EUR')"))
        conn.execute(text("INSERT INTO config_version (id, version, updated_at) "
                          "VALUES (1, 7, '2026-11-22 10:00:00+00:00')"))
    upgrade(engine)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT store, version FROM store_config_versions ORDER BY store")).all()
        assert [tuple(r) for r in rows] == [("a", 7), ("b", 7)]
        conn.execute(text("UPDATE store_config_versions SET version = 9 WHERE store = 'b'"))
    downgrade(engine, "0008")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM config_version WHERE id = 1")).scalar() == 16
    engine.dispose()


def test_sqlite_connections_use_wal_normal_sync_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 1000


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "not a url"])
def test_unusable_urls_are_refused_with_the_url_in_the_message(url: str) -> None:
    with pytest.raises(DatabaseError, match="database URL"):
        make_engine(url)
