"""A duplicate and reorder storm: every batch of a checkout-and-theft visit delivered 2 to 3 times, the
repeats shuffled among later traffic, and one batch withheld (it arrives late, after the ones that followed it). Exactly one sale, one charge, one theft alarm and one row per seq are stored, and
the withheld batch is asked for again and comes from the gateway's real outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contract.payloads import ReadsBatch, TagRead, encode
from gateway.outbox import Outbox, OutboxEntry
from gateway.service import Gateway
from ingest.db import repo
from ingest.db import schema as t
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import BREAD_EPC, CARD, MILK_EPC, STORE_FILE, UNPAID_EPC, eventually, read
from tests.reliability.conftest import Storm, stored_seqs

pytestmark = pytest.mark.integration

EXTRA_EPC = "E2000000000000000000F00D"
STORE_TEXT = STORE_FILE + f"""
[[zones]]
name = "shelf-bakery"
type = "shelf"

[[items]]
tag = "EPC:{EXTRA_EPC}"
sku = "BREAD"
zone = "shelf-dairy"
"""


def visit(t0: datetime) -> list[list[list[TagRead]]]:
    """The visit's batches in three phases: at the lane, leaving with the paid items, an unpaid item leaving."""
    at = [t0 + timedelta(seconds=i) for i in range(7)]
    lane = [
        [read(CARD, "lane-1", at[0])],
        [read(MILK_EPC, "lane-1", at[1]), read(BREAD_EPC, "lane-1", at[1])],
        [read(MILK_EPC, "lane-1", at[2]), read(BREAD_EPC, "lane-1", at[2])],
        [read(CARD, "lane-1", at[3], event="left")],
        [read(EXTRA_EPC, "shelf-bakery", at[3])],  # withheld: its seq is asked for again
    ]
    leave = [[read(CARD, "exit", at[4]), read(MILK_EPC, "exit", at[4]), read(BREAD_EPC, "exit", at[4])]]
    theft = [[read(UNPAID_EPC, "exit", at[5])]]
    return [lane, leave, theft]


def test_duplicates_and_reordering_store_everything_exactly_once_and_a_withheld_seq_is_resent(
    broker: RunningBroker, tmp_path: Path, storm: Storm, gateway_with: Callable[[Callable[[Outbox], None]], Gateway],
    db_url: str, ingest_workers: int,
) -> None:
    phases: list[list[OutboxEntry]] = []

    def published_before(outbox: Outbox) -> None:
        """The gateway made and published the visit's batches before this test's network starts failing."""
        for reads_of_phase in visit(datetime.now(UTC)):
            phases.append([outbox.append("reads", lambda seq, reads=reads: encode(ReadsBatch(
                store=STORE, gateway="gw1", seq=seq, sent_at=datetime.now(UTC), reads=reads)))
                for reads in reads_of_phase])
        outbox.mark_delivered(e.id for phase in phases for e in phase)

    gateway = gateway_with(published_before)
    withheld = phases[0][-1].seq
    with running_ingest(broker, tmp_path, STORE_TEXT, "ingest-storm", db_url, workers=ingest_workers, gap_grace_s=0.5) as ingest:
        for stream in storm.plan([[e for e in phase if e.seq != withheld] for phase in phases]):
            storm.deliver(stream)
            assert eventually(lambda stream=stream: {e.seq for e in stream} <= set(stored_seqs(ingest)))

        def settled() -> bool:
            """The withheld batch is in, every command was sent and answered, and every seq stored."""
            with ingest.db.connect() as conn:
                open_commands = conn.execute(select(func.count()).select_from(t.commands).where(
                    (t.commands.c.sent_at.is_(None)) | (t.commands.c.acked_at.is_(None)))).scalar()
            seqs = stored_seqs(ingest)
            return withheld in seqs and not open_commands and seqs == list(range(1, gateway.outbox.last_seq() + 1))

        assert eventually(settled, timeout=20), f"stored {stored_seqs(ingest)}; gateway at {gateway.outbox.last_seq()}"
        with ingest.db.connect() as conn:
            sales = repo.list_transactions(conn)
            lines = conn.execute(select(func.count()).select_from(t.transaction_lines)).scalar()
            charges = conn.execute(select(func.count()).select_from(t.crm_decisions)
                                   .where(t.crm_decisions.c.kind == "charge")).scalar()
            theft = [a for a in repo.list_alerts(conn) if a.kind == "theft"]
            commands = conn.execute(select(t.commands)).all()
            batches = conn.execute(select(func.count()).select_from(t.gateway_batches)).scalar()
            extra = conn.execute(select(t.items.c.last_zone).where(t.items.c.tag == f"EPC:{EXTRA_EPC}")).scalar()

    assert [(s.member, s.total) for s in sales] == [("M-1001", Decimal("3.48"))]
    assert (lines, charges, len(theft)) == (2, 1, 1)
    assert sorted(c.action for c in commands) == ["alarm", "display", "resend"]
    (resend,) = [c for c in commands if c.action == "resend"]
    assert (resend.payload["from_seq"], resend.payload["to_seq"], resend.ack_ok) == (withheld, withheld, True)
    assert batches == gateway.outbox.last_seq(), "one row per seq: the visit's batches and the gateway's acks"
    assert extra == "shelf-bakery", "the withheld batch was processed"
    assert ingest.stats.duplicates == storm.copies - sum(len(p) for p in phases) + 1
    assert (ingest.gaps.stats.filled, ingest.gaps.stats.lost) == (1, 0)
    assert gateway.commands.stats.resent == 1
