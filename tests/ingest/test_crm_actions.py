"""What the member rules send, against a real Mosquitto and a real SQLite file: every dispute outcome (the
decision table's and a person's) is published as a ``dispute`` event, and the fast-lane reward opens the gate."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from contract.payloads import BusinessEvent, decode
from crm.fastlane import CLOSED_RULE, OPEN_RULE
from crm.offers import FAST_LANE
from dashboard.crm_writes import dispute, resolve_by_staff, write
from ingest.db import schema as t
from ingest.service import IngestService
from silentcommerce.mqtt import InboundMessage
from tests.fixtures.broker import RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_crm_checkout import MEMBER, checkout, events, rows  # noqa: F401  (events: a fixture)
from tests.ingest.test_service import BREAD_EPC, CARD, MILK_EPC, STORE_FILE, Gateway, eventually, read

pytestmark = pytest.mark.integration

FAST_LANE_STORE = STORE_FILE + """
[crm.fast_lane]
zone = "lane-1"
gateway = "gw1"
actuator = "fast-gate"
open_s = 4.0
"""


@pytest.fixture
def ingest(broker: RunningBroker, tmp_path: Path, db_url: str) -> Iterator[IngestService]:
    with running_ingest(broker, tmp_path, FAST_LANE_STORE, "ingest-crm-actions", db_url,
                        crm_every_s=3600.0) as service:
        yield service


def dispute_events(received: queue.Queue[InboundMessage], wanted: int) -> list[BusinessEvent]:
    found: list[BusinessEvent] = []

    def more() -> bool:
        while True:
            try:
                event = decode(BusinessEvent, received.get_nowait().payload)
            except queue.Empty:
                return len(found) >= wanted
            if event.type == "dispute":
                found.append(event)

    eventually(more)
    return found


def test_every_dispute_outcome_is_published_the_tables_and_a_persons(
    ingest: IngestService, gw1: Gateway, events: queue.Queue[InboundMessage],  # noqa: F811
) -> None:
    t0 = datetime.now(UTC)
    checkout(gw1, t0)
    [sale] = eventually(lambda: rows(ingest, t.transactions))
    with ingest.db.begin() as conn:  # bread was bought once before: a dispute of it is for a person to decide
        conn.execute(insert(t.transactions).values(id="earlier", store="teststore", member=MEMBER, lane="lane-1",
                                                   total="2.19", points=2, trigger="exit", at=t0 - timedelta(days=9)))
        conn.execute(insert(t.transaction_lines).values(transaction_id="earlier", tag="EPC:0B", sku="BREAD",
                                                        name="Rye bread", unit_price="2.19"))
    milk = write(ingest.db, lambda conn: dispute(conn, MEMBER, sale.id, f"EPC:{MILK_EPC}", "I never bought milk",
                                                 t0 + timedelta(minutes=1)))  # as the dashboard, beside ingest
    bread = write(ingest.db, lambda conn: dispute(conn, MEMBER, sale.id, f"EPC:{BREAD_EPC}", "not mine",
                                                  t0 + timedelta(minutes=2)))
    assert (milk.status, bread.status) == ("refunded", "needs_human")

    first = dispute_events(events, 2)
    assert [(e.data["kind"], e.data["tag"], e.data["outcome"], e.data["rule"], e.data["decided_by"]) for e in first] == [
        ("dispute_resolved", f"EPC:{MILK_EPC}", "refunded", "never_bought_alone", "rules"),
        ("dispute_queued", f"EPC:{BREAD_EPC}", "needs_human", "ambiguous", "rules")]
    assert all(e.data["member"] == MEMBER and e.data["transaction_id"] == sale.id for e in first)
    assert "never bought" in first[0].data["reason"]

    write(ingest.db, lambda conn: resolve_by_staff(conn, bread.id, "kept", "on the lane camera", "operator",
                                                   t0 + timedelta(hours=1)))
    [later] = dispute_events(events, 1)
    assert (later.data["kind"], later.data["dispute"], later.data["outcome"], later.data["decided_by"]) == (
        "dispute_resolved", bread.id, "kept", "operator")
    assert later.data["reason"] == "decided by operator: on the lane camera"
    published = [r.published_at for r in rows(ingest, t.event_outbox)]  # each left the outbox, once
    assert len(published) == 3 and None not in published
    assert eventually(lambda: [a.cleared_at is not None for a in rows(ingest, t.alerts)
                               if a.kind == "dispute_needs_human"] == [True])


def give_fast_lane(service: IngestService, now: datetime) -> None:
    with service.db.begin() as conn:
        conn.execute(insert(t.offers).values(
            id=f"{MEMBER}:{MEMBER}:20260101:{FAST_LANE}", store="teststore", member=MEMBER,
            list_id=f"{MEMBER}:20260101", sku=FAST_LANE, kind="reward", discount_abs="0", deal_id=None,
            active_from=now - timedelta(days=1), active_to=now + timedelta(days=13), status="active",
            reason="fast lane for class A members"))


def fast_lane_decisions(service: IngestService) -> list[Any]:
    with service.db.connect() as conn:
        c = t.crm_decisions.c
        return list(conn.execute(select(t.crm_decisions).where(c.rule.in_([OPEN_RULE, CLOSED_RULE]))
                                 .order_by(c.id)).all())


def test_the_fast_lane_reward_opens_the_gate_once_per_arrival_and_says_why(ingest: IngestService,
                                                                            gw1: Gateway) -> None:
    t0 = datetime.now(UTC)
    gw1.send([read(CARD, "lane-1", t0)])  # no reward yet: the gate stays closed, and the record says why
    [closed] = eventually(lambda: fast_lane_decisions(ingest))
    assert (closed.kind, closed.rule, closed.data["opened"]) == ("refusal", CLOSED_RULE, "false")
    assert "no active fast-lane reward" in closed.reason

    give_fast_lane(ingest, t0)
    gw1.send([read(CARD, "lane-1", t0 + timedelta(seconds=5), event="left")])
    gw1.send([read(CARD, "lane-1", t0 + timedelta(seconds=10))])  # back, holding the reward
    command = gw1.next_command()
    assert (command.action, command.target, command.duration_s) == ("open", "fast-gate", 4.0)
    assert "fast-lane reward is valid until" in command.reason

    gw1.send([read(CARD, "lane-1", t0 + timedelta(seconds=11))])  # still at the open gate: nothing new
    gw1.send([read(CARD, "lane-1", t0 + timedelta(seconds=16))])  # a new arrival after open_s: opens again
    again = gw1.next_command()
    assert (again.action, again.issued_at) == ("open", t0 + timedelta(seconds=16))
    decisions = fast_lane_decisions(ingest)
    assert [(d.kind, d.rule) for d in decisions] == [
        ("refusal", CLOSED_RULE), ("offer", OPEN_RULE), ("offer", OPEN_RULE)]
    assert decisions[1].data["offer_id"] == f"{MEMBER}:{MEMBER}:20260101:{FAST_LANE}"
    with ingest.db.connect() as conn:
        sent = conn.execute(select(t.commands.c.action, t.commands.c.target)).all()
    assert [tuple(r) for r in sent] == [("open", "fast-gate"), ("open", "fast-gate")]
