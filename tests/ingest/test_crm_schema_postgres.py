"""Migration 0004 and the CRM repository on PostgreSQL: down to 0003 and up again, consent as JSON."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from crm.model import Consent
from ingest.db import crm_repo
from ingest.db.admin import seed_from_store_file
from ingest.db.migrate import downgrade, upgrade
from ingest.storefile import parse_store_file
from tests.ingest.test_db_postgres import pg, pg_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "simulators" / "scenarios" / "demo-store.toml"
CRM_TABLES = {"households", "deals", "personal_lists", "offers", "disputes", "crm_decisions", "campaigns", "put_backs"}


def test_migration_0004_goes_down_and_up_again_on_postgres(pg: Engine) -> None:  # noqa: F811
    downgrade(pg, "0003")
    assert not CRM_TABLES & set(inspect(pg).get_table_names())
    assert "consent" not in {c["name"] for c in inspect(pg).get_columns("members")}
    upgrade(pg)
    assert set(inspect(pg).get_table_names()) >= CRM_TABLES


def test_seeding_and_consent_work_on_postgres(pg: Engine) -> None:  # noqa: F811
    store_file = parse_store_file(tomllib.loads(DEMO.read_text(encoding="utf-8")))
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with pg.begin() as conn:
        seed_from_store_file(conn, store_file)
        seed_from_store_file(conn, store_file)
        crm_repo.set_consent(conn, "M-1001", Consent(offers=False), at)
    with pg.connect() as conn:
        row = crm_repo.member_row(conn, "M-1001")
        assert len(crm_repo.deals(conn, "demo", at=at)) == 4
        assert [d.rule for d in crm_repo.member_decisions(conn, "M-1001")] == [crm_repo.CONSENT_RULE]
    assert row is not None and row.consent == Consent() and row.household == "H-LOVELACE"
