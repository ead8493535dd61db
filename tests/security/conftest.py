"""Security tests reuse the dashboard's seeded store (a fresh SQLite copy per test)."""

from tests.dashboard.conftest import db_url, seeded_template

__all__ = ["db_url", "seeded_template"]
