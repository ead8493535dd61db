"""Personal offers at checkout, against a real Mosquitto and a real SQLite file: an active offer is redeemed
once, the lane display shows the saving, the charge leaves a readable decision, no consent means no offer."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from contract.payloads import BusinessEvent, decode
from contract.topics import event_filter
from crm.settings import CrmSettings
from ingest import crm_store
from ingest.db import schema as t
from ingest.db.admin import seed_from_store_file
from ingest.db.engine import make_engine
from ingest.rules.model import BasketChanged
from ingest.storefile import load_store_file
from silentcommerce.broker import DASHBOARD_USER
from silentcommerce.mqtt import InboundMessage, MqttLink
from tests.fixtures.broker import RunningBroker
from tests.ingest.running import Ingest, running_ingest
from tests.ingest.test_service import BREAD_EPC, CARD, MILK_EPC, STORE_FILE, Gateway, eventually, read

pytestmark = pytest.mark.integration

MEMBER = "M-1001"
OFFER_ID = f"{MEMBER}:{MEMBER}:20260101:MILK-1L"


@pytest.fixture
def ingest(broker: RunningBroker, tmp_path: Path, db_url: str, ingest_workers: int) -> Iterator[Ingest]:
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-crm-test", db_url, workers=ingest_workers, crm_every_s=3600.0) as service:
        yield service


@pytest.fixture
def events(broker: RunningBroker) -> Iterator[queue.Queue[InboundMessage]]:
    received: queue.Queue[InboundMessage] = queue.Queue()
    watcher = MqttLink(broker.settings(DASHBOARD_USER, "crm-watcher"), subscriptions=[(event_filter("teststore"), 1)],
                       on_message=received.put)
    watcher.start()
    assert watcher.wait_connected(10)
    time.sleep(0.2)
    yield received
    watcher.stop()


def give_offer(service: Ingest, *, consent: bool, now: datetime, discount: str = "0.30") -> None:
    """The member's list holds a milk offer active now; the member has (or has not) consented to offers."""
    with service.db.begin() as conn:
        conn.execute(update(t.members).where(t.members.c.id == MEMBER).values(
            consent={"offers": consent, "reminders": False, "data_sharing": False}))
        conn.execute(insert(t.offers).values(
            id=OFFER_ID, store="teststore", member=MEMBER, list_id=f"{MEMBER}:20260101", sku="MILK-1L",
            kind="price", discount_abs=discount, deal_id="D-MILK", active_from=now - timedelta(days=1),
            active_to=now + timedelta(days=13), status="active",
            reason="you buy milk every week; the dairy's deal, 0.30 off"))


def checkout(gw1: Gateway, t0: datetime) -> None:
    """Card and two items in the lane, then out through the exit: one sale at the exit."""
    at = [t0 + timedelta(seconds=i) for i in range(5)]
    gw1.send([read(CARD, "lane-1", at[0])])
    gw1.send([read(MILK_EPC, "lane-1", at[1]), read(BREAD_EPC, "lane-1", at[1])])
    gw1.send([read(MILK_EPC, "lane-1", at[2]), read(BREAD_EPC, "lane-1", at[2])])
    gw1.send([read(CARD, "lane-1", at[3], event="left")])
    gw1.send([read(CARD, "exit", at[4]), read(MILK_EPC, "exit", at[4]), read(BREAD_EPC, "exit", at[4])])


def rows(service: Ingest, table: Any) -> list[Any]:
    with service.db.connect() as conn:
        return list(conn.execute(select(table)).all())


def offer_events(received: queue.Queue[InboundMessage]) -> list[BusinessEvent]:
    found: list[BusinessEvent] = []
    while True:
        try:
            message = received.get_nowait()
        except queue.Empty:
            return found
        event = decode(BusinessEvent, message.payload)
        if event.type == "offer":
            found.append(event)


@pytest.mark.seq_order
def test_an_active_offer_is_redeemed_once_and_the_receipt_shows_the_saving(
    ingest: Ingest, gw1: Gateway, events: queue.Queue[InboundMessage]
) -> None:
    t0 = datetime.now(UTC)
    give_offer(ingest, consent=True, now=t0)
    checkout(gw1, t0)
    display = gw1.next_command()
    assert (display.action, display.target) == ("display", "lane-1-display")
    assert display.text == ["2 items  saved 0.30", "TOTAL 3.18    +3 pts"]
    assert all(len(line) <= 20 for line in display.text)

    # A replay of the exit (new seq) and a redelivered batch (same seq) charge and redeem nothing more.
    exit_reads = [read(CARD, "exit", t0 + timedelta(seconds=4)), read(MILK_EPC, "exit", t0 + timedelta(seconds=4)),
                  read(BREAD_EPC, "exit", t0 + timedelta(seconds=4))]
    gw1.send(exit_reads)
    gw1.send(exit_reads, seq=gw1.seq)
    assert eventually(lambda: ingest.stats.batches == 6 and ingest.stats.duplicates == 1)

    [sale] = rows(ingest, t.transactions)
    assert (Decimal(sale.total), Decimal(sale.saved), sale.points) == (Decimal("3.18"), Decimal("0.30"), 3)
    lines = {line.sku: line for line in rows(ingest, t.transaction_lines)}
    assert (Decimal(lines["MILK-1L"].discount), lines["MILK-1L"].offer_id) == (Decimal("0.30"), OFFER_ID)
    assert (Decimal(lines["BREAD"].discount), lines["BREAD"].offer_id) == (Decimal("0"), None)
    [offer] = rows(ingest, t.offers)
    assert (offer.status, offer.transaction_id) == ("redeemed", sale.id)

    [decision] = rows(ingest, t.crm_decisions)
    assert (decision.kind, decision.member, decision.rule) == ("charge", MEMBER, "checkout-price")
    assert "charged 3.18 for 2 items" in decision.reason
    assert "saved 0.30" in decision.reason and "you buy milk every week" in decision.reason
    assert decision.data["offers_redeemed"] == OFFER_ID and decision.context["consent_offers"] == "true"

    redeemed = eventually(lambda: offer_events(events))
    assert [(e.data["kind"], e.data["offer_id"], e.data["discount"]) for e in redeemed] == [
        ("offer_redeemed", OFFER_ID, "0.30")]


@pytest.mark.seq_order
def test_an_offer_for_a_member_without_consent_is_never_applied(ingest: Ingest, gw1: Gateway) -> None:
    t0 = datetime.now(UTC)
    give_offer(ingest, consent=False, now=t0)
    checkout(gw1, t0)
    display = gw1.next_command()
    assert display.text == ["2 items", "TOTAL 3.48    +3 pts"]
    [sale] = eventually(lambda: rows(ingest, t.transactions))
    assert (Decimal(sale.total), Decimal(sale.saved)) == (Decimal("3.48"), Decimal("0"))
    [offer] = rows(ingest, t.offers)
    assert (offer.status, offer.transaction_id) == ("active", None)
    [decision] = rows(ingest, t.crm_decisions)
    assert "not consented to offers" in decision.reason
    assert decision.context["consent_offers"] == "false"


# -- lists in the running store: the tick and the regeneration after a sale (SQLite, no broker) --------------

START = datetime(2026, 2, 23, tzinfo=UTC)  # a period start: 2024-01-01 + 56 periods of 14 days


@pytest.fixture
def db(migrated_db_url: str, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    store_file = tmp_path / "store.toml"
    store_file.write_text(STORE_FILE)
    with engine.begin() as conn:
        seed_from_store_file(conn, load_store_file(store_file))
        conn.execute(update(t.members).where(t.members.c.id == MEMBER).values(
            consent={"offers": True, "reminders": False, "data_sharing": False}))
    yield engine
    engine.dispose()


def buy_milk(engine: Engine, price: str, *days_before: int) -> None:
    """The member bought milk (at ``price`` a line) that many days before the period start."""
    with engine.begin() as conn:
        for n, days in enumerate(days_before):
            sale = f"sale-{days}"
            conn.execute(insert(t.transactions).values(id=sale, store="teststore", member=MEMBER, lane="lane-1",
                                                       total=price, points=0, trigger="exit",
                                                       at=START - timedelta(days=days)))
            conn.execute(insert(t.transaction_lines).values(transaction_id=sale, tag=f"EPC:{n}", sku="MILK-1L",
                                                            name="Organic milk 1 l", unit_price=price))


def test_the_tick_gives_a_member_above_the_threshold_a_list_once(db: Engine) -> None:
    buy_milk(db, "25.00", 21, 14, 7)  # 50.00 in the last 14 days: 25.00 a week, the threshold exactly
    now = START + timedelta(hours=1)
    with db.begin() as conn:
        made, _ = crm_store.tick(conn, "teststore", now, CrmSettings())
        again, context = crm_store.tick(conn, "teststore", now, CrmSettings())
        crm_store.generate_list(conn, "teststore", MEMBER, START, now, CrmSettings(), context)  # regeneration
        offers = conn.execute(select(t.offers)).all()
        lists = conn.execute(select(t.personal_lists)).all()
        decisions = conn.execute(select(t.crm_decisions).where(t.crm_decisions.c.kind == "offer")).all()
    assert (made, again) == (1, 0)
    by_sku = {o.sku: o for o in offers}
    assert sorted((o.id, o.kind, o.status) for o in offers) == [
        (f"{MEMBER}:{MEMBER}:20260223:FAST-LANE", "reward", "active"),  # the store's only member is class A
        (f"{MEMBER}:{MEMBER}:20260223:MILK-1L", "price", "active")]
    assert by_sku["MILK-1L"].active_from == START - timedelta(days=3)  # next due (START) less the lead
    assert len(lists) == 1 and len(decisions) == 2  # one record per offer, none repeated by the regeneration


@pytest.mark.parametrize("price", ["25.00", "24.99"])
def test_the_tick_judges_a_member_once_a_period_and_reads_the_history_only_then_or_hourly(
        db: Engine, price: str) -> None:
    buy_milk(db, price, 21, 14, 7)  # at the threshold (a list), or a cent below it (no list row, ever)
    now = START + timedelta(hours=1)
    with db.begin() as conn:
        assert crm_store.due_members(conn, "teststore", START, CrmSettings()) == [MEMBER]
        made, context = crm_store.tick(conn, "teststore", now, CrmSettings())
        again, same = crm_store.tick(conn, "teststore", now + timedelta(minutes=59), CrmSettings(), context)
        _, later = crm_store.tick(conn, "teststore", now + timedelta(hours=1), CrmSettings(), context)
        lists = conn.execute(select(t.personal_lists)).all()
    assert (made, again, len(lists)) == ((1, 0, 1) if price == "25.00" else (0, 0, 0))
    assert context.value_class == {MEMBER: "A"} and context.checked == {MEMBER}
    assert same is context  # nobody left to judge, context fresh: the history was not read again
    assert later is not context and later.computed_at == now + timedelta(hours=1) and later.checked == {MEMBER}


def test_below_the_spend_threshold_no_list_is_stored(db: Engine) -> None:
    buy_milk(db, "24.99", 21, 14, 7)
    with db.begin() as conn:
        made, _ = crm_store.tick(conn, "teststore", START + timedelta(hours=1), CrmSettings())
        assert conn.execute(select(t.offers)).all() == []
    assert made == 0


def test_offers_past_their_window_expire_on_the_tick(db: Engine) -> None:
    buy_milk(db, "25.00", 21, 14, 7)
    with db.begin() as conn:
        crm_store.tick(conn, "teststore", START + timedelta(hours=1), CrmSettings())
        milk = conn.execute(select(t.offers).where(t.offers.c.sku == "MILK-1L")).one()
        crm_store.tick(conn, "teststore", milk.active_to - timedelta(seconds=1), CrmSettings())
        assert conn.execute(select(t.offers.c.status).where(t.offers.c.id == milk.id)).scalar() == "active"
        crm_store.tick(conn, "teststore", milk.active_to, CrmSettings())
        assert conn.execute(select(t.offers.c.status).where(t.offers.c.id == milk.id)).scalar() == "expired"


def put_back(engine: Engine, at: datetime) -> None:
    with engine.begin() as conn:
        crm_store.record_put_back(conn, "teststore", BasketChanged(
            "basket-1", MEMBER, "lane-1", f"EPC:{BREAD_EPC}", "BREAD", "removed", at))
        crm_store.record_put_back(conn, "teststore", BasketChanged(  # the same put-back told twice
            "basket-1", MEMBER, "lane-1", f"EPC:{BREAD_EPC}", "BREAD", "removed", at))


def test_an_item_put_back_becomes_an_offer_on_the_next_visit_once(db: Engine) -> None:
    put_back(db, START)
    with db.begin() as conn:
        assert len(conn.execute(select(t.put_backs)).all()) == 1
        [offer] = crm_store.retarget(conn, "teststore", MEMBER, START + timedelta(days=2), CrmSettings())
        again = crm_store.retarget(conn, "teststore", MEMBER, START + timedelta(days=3), CrmSettings())
        [decision] = conn.execute(select(t.crm_decisions)).all()
    assert (offer.sku, offer.discount_abs, again) == ("BREAD", Decimal("0.11"), [])  # 5 % of 2.19
    assert decision.rule == "put_back_retarget" and "put Rye bread back" in decision.reason


def test_no_put_back_offer_without_consent_or_after_the_window(db: Engine) -> None:
    put_back(db, START)
    with db.begin() as conn:
        assert crm_store.retarget(conn, "teststore", MEMBER, START + timedelta(days=15), CrmSettings()) == []
        conn.execute(update(t.members).where(t.members.c.id == MEMBER).values(consent={"offers": False}))
        assert crm_store.retarget(conn, "teststore", MEMBER, START + timedelta(days=1), CrmSettings()) == []
        assert conn.execute(select(t.offers)).all() == []
