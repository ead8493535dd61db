"""A return at the service desk, with the real broker: the item is sold, brought back, and sold again; the exit
gateway is told at once that the returned item may no longer leave unpaid."""

from __future__ import annotations

import queue
from datetime import UTC, datetime, timedelta

import pytest

from contract.payloads import Command
from ingest.db import repo
from ingest.service import IngestService
from tests.ingest.running import IngestCluster
from tests.ingest.test_service import BREAD_EPC, CARD, Gateway, eventually, read
from tests.ingest.test_service_edge import ingest as ingest  # the edge-gated store's ingest

pytestmark = pytest.mark.integration


def buy_bread(gw: Gateway, t0: datetime) -> None:
    at = [t0 + timedelta(seconds=i) for i in range(4)]
    gw.send([read(CARD, "lane-1", at[0])])
    gw.send([read(BREAD_EPC, "lane-1", at[1])])
    gw.send([read(BREAD_EPC, "lane-1", at[2])])
    gw.send([read(CARD, "lane-1", at[3], event="left")])


def commands_until(gw: Gateway, wanted: str, timeout: float = 15) -> list[Command]:
    seen: list[Command] = []
    while not any(c.action == wanted for c in seen):
        try:
            seen.append(gw.next_command(timeout))
        except queue.Empty:
            raise AssertionError(f"no {wanted!r} command; got {[c.action for c in seen]}") from None
    return seen


def sales(ingest: IngestService) -> list[repo.TransactionSummary]:
    with ingest.db.connect() as conn:
        return repo.list_transactions(conn)


def test_a_returned_item_is_disallowed_at_the_exit_and_can_be_sold_again(ingest: IngestService, gw1: Gateway) -> None:
    tag = f"EPC:{BREAD_EPC}"
    buy_bread(gw1, datetime.now(UTC) - timedelta(seconds=200))  # settled long ago by the reads' own clock
    (first,) = eventually(lambda: sales(ingest), 15)
    allowed = commands_until(gw1, "allow")
    assert any(tag in c.tags for c in allowed if c.action == "allow")

    with ingest.db.begin() as conn:  # what POST /api/items/{tag}/return does
        assert repo.return_item(conn, tag) == first.id

    disallowed = [c for c in commands_until(gw1, "disallow") if c.action == "disallow"]
    assert [c.tags for c in disallowed] == [[tag]]
    service = ingest.service if isinstance(ingest, IngestCluster) else ingest  # the store's rules engine
    assert service._engine is not None and not service._engine.is_sold(tag)

    buy_bread(gw1, datetime.now(UTC) - timedelta(seconds=100))
    both = eventually(lambda: len(sales(ingest)) == 2 and sales(ingest), 15)
    assert both, "the returned item was not sold again"
    with ingest.db.connect() as conn:
        old = repo.get_transaction(conn, first.id)
    assert old is not None and [(x.tag, x.returned_at is not None) for x in old.lines] == [(tag, True)]
