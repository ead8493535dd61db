"""A gateway's messages reach the rules in ``seq`` order whatever order ingest receives them in: a visit
spread over many batches, delivered scrambled through a real Mosquitto, gives the same sale as in order; a
message held for a missing ``seq`` is not lost when ingest stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from contract.payloads import TagRead
from ingest.db import repo
from ingest.db import schema as t
from ingest.service import IngestService
from tests.fixtures.broker import RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import (
    BREAD_EPC,
    CARD,
    MILK_EPC,
    STORE_FILE,
    Gateway,
    batches_of,
    eventually,
    item,
    read,
)

pytestmark = pytest.mark.integration


def visit(t0: datetime) -> list[list[TagRead]]:
    """One member's visit as a gateway batches it when each read is its own moment: the card in the lane,
    the two items picked up (each read twice), the card leaving the lane, then card and items at the exit."""
    at = [t0 + timedelta(seconds=i) for i in range(8)]
    return [
        [read(CARD, "lane-1", at[0])],
        [read(MILK_EPC, "lane-1", at[1])],
        [read(BREAD_EPC, "lane-1", at[1])],
        [read(MILK_EPC, "lane-1", at[2])],
        [read(BREAD_EPC, "lane-1", at[2])],
        [read(CARD, "lane-1", at[3], event="left")],
        [read(CARD, "exit", at[4])],
        [read(MILK_EPC, "exit", at[4]), read(BREAD_EPC, "exit", at[4])],
    ]


def sale(ingest: IngestService) -> tuple[object, ...]:
    """What a user sees of the visit: the sales with their lines, the items' state and the theft alarms."""
    with ingest.db.connect() as conn:
        sales = [(s.member, s.total) for s in repo.list_transactions(conn)]
        lines = sorted(conn.execute(select(t.transaction_lines.c.tag, t.transaction_lines.c.unit_price)).all())
        theft = [a.kind for a in repo.list_alerts(conn) if a.kind == "theft"]
    items = [(item(ingest, tag).status, item(ingest, tag).last_zone) for tag in (MILK_EPC, BREAD_EPC)]
    return sales, lines, items, theft


@pytest.mark.parametrize("order", [
    [1, 2, 3, 4, 5, 6, 7, 8],  # as the gateway sent them
    [8, 7, 6, 5, 4, 3, 2, 1],  # the exit first
    [2, 6, 1, 8, 4, 3, 7, 5],
    [1, 7, 8, 6, 2, 5, 3, 4],  # the card leaves and exits before the items are picked up
], ids=["in-order", "reversed", "scrambled", "exit-before-items"])
def test_a_visit_over_many_batches_gives_the_same_sale_in_any_delivery_order(
    broker: RunningBroker, tmp_path: Path, gw1: Gateway, db_url: str, order: list[int],
) -> None:
    batches = visit(datetime.now(UTC))
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-reorder-" + "-".join(map(str, order)), db_url) as ingest:
        for seq in order:  # a new gateway: its outbox starts at seq 1
            gw1.send(batches[seq - 1], seq=seq)
        assert eventually(lambda: batches_of(ingest) == sorted(order))
        assert eventually(lambda: sale(ingest)[0])
        found = sale(ingest)
        held, waited, gaps = ingest.reorder.stats.held, ingest.reorder.stats.waited, ingest.stats.gaps
    assert found == (
        [("M-1001", Decimal("3.48"))],
        [(f"EPC:{MILK_EPC}", "1.29"), (f"EPC:{BREAD_EPC}", "2.19")],
        [("sold", "lane-1"), ("sold", "lane-1")],
        [],
    )
    assert waited == 0, "every batch arrived well within the wait: none was released with a seq missing"
    assert (held > 0) == (order != sorted(order))
    assert gaps == 0, "no seq was ever missing when the rules took the next one"


def test_a_message_held_for_a_missing_seq_is_processed_after_ingest_stops_and_starts_again(
    broker: RunningBroker, tmp_path: Path, gw1: Gateway, db_url: str,
) -> None:
    """Held messages are not acknowledged: the broker delivers them to the next session, where the missing
    ``seq`` lets them through in order."""
    batches = visit(datetime.now(UTC))
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-held", db_url, reorder_wait_s=60.0) as ingest:
        for seq in (1, 2, 3, 6, 7, 8):  # 4 and 5 are late
            gw1.send(batches[seq - 1], seq=seq)
        assert eventually(lambda: batches_of(ingest) == [1, 2, 3])
        assert eventually(lambda: ingest.reorder.held == 3)
    for seq in (4, 5):
        gw1.send(batches[seq - 1], seq=seq)
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-held", db_url, reorder_wait_s=60.0) as ingest:
        assert eventually(lambda: batches_of(ingest) == list(range(1, 9)))
        assert eventually(lambda: sale(ingest)[0])
        found = sale(ingest)
        stats = ingest.reorder.stats
    assert found == ([("M-1001", Decimal("3.48"))], [(f"EPC:{MILK_EPC}", "1.29"), (f"EPC:{BREAD_EPC}", "2.19")],
                     [("sold", "lane-1"), ("sold", "lane-1")], [])
    assert stats.waited == 0
