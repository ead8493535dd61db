"""Security tests reuse the dashboard's seeded store (a fresh one per test, on SQLite and PostgreSQL)."""

from tests.dashboard.conftest import db_url

__all__ = ["db_url"]
