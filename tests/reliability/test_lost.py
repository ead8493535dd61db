"""A seq the gateway no longer keeps is reported, not waited for forever: ingest asks for it, the real
gateway answers that it is not kept, and a ``data_lost`` alert names the gateway and the seq."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from contract.payloads import ReadsBatch, encode
from gateway.outbox import Outbox, OutboxEntry
from gateway.service import Gateway
from ingest.db import schema as t
from ingest.db.delivery import DATA_LOST
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import MILK_EPC, STORE_FILE, eventually, read
from tests.reliability.conftest import Storm

pytestmark = pytest.mark.integration


def test_a_seq_the_gateway_no_longer_keeps_is_reported_lost(
    broker: RunningBroker, tmp_path: Path, db_url: str, ingest_workers: int, storm: Storm,
    gateway_with: Callable[[Callable[[Outbox], None]], Gateway],
) -> None:
    entries: list[OutboxEntry] = []

    def published_and_forgotten(outbox: Outbox) -> None:
        """Three batches went out long ago: the gateway kept none of them."""
        forgetful = Outbox(outbox.path, STORE, "gw1", keep_count=0)
        for _ in range(3):
            entries.append(forgetful.append("reads", lambda seq: encode(ReadsBatch(
                store=STORE, gateway="gw1", seq=seq, sent_at=datetime.now(UTC),
                reads=[read(MILK_EPC, "shelf-dairy", datetime.now(UTC))]))))
        forgetful.mark_delivered(e.id for e in entries)
        forgetful.close()

    gateway = gateway_with(published_and_forgotten)
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-lost", db_url, workers=ingest_workers, gap_grace_s=0.2) as ingest:
        storm.deliver([entries[0], entries[2]])  # seq 2 never arrives

        def lost_alert() -> object:
            with ingest.db.connect() as conn:
                return conn.execute(select(t.alerts).where(t.alerts.c.kind == DATA_LOST)).first()

        alert = eventually(lost_alert, timeout=20)
        assert alert is not None
        assert (alert.details["gateway"], alert.details["seq"], alert.severity) == ("gw1", "2", "warning")
        with ingest.db.connect() as conn:
            resend = conn.execute(select(t.commands).where(t.commands.c.action == "resend")).one()
        assert (resend.ack_ok, resend.ack_error) == (False, "not kept: 2")
        assert (ingest.gaps.stats.lost, ingest.gaps.stats.requests, ingest.gaps.missing("gw1")) == (1, 1, [])
    assert gateway.commands.stats.resent == 0
