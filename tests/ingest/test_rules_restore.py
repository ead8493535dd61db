"""The engine takes back the open visits and uncommitted baskets the database holds after a restart."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from ingest.rules import StoreEngine
from ingest.rules.model import (
    BasketChanged,
    BasketHeld,
    BasketSettling,
    CommittedBasket,
    Decision,
    OpenBasket,
    OpenVisit,
    StoredLine,
    TheftAlarm,
    TransactionCommitted,
    VisitClosed,
    VisitOpened,
)
from tests.ingest.test_rules_engine import (
    ADA,
    BOB,
    BREAD,
    COFFEE,
    MILK,
    MILK2,
    ada_buys_three,
    engine,
    of,
    read,
    run,
    t,
)


class Ledger:
    """What the database holds of the engine's decisions, as ingest stores them: open visits (one per member),
    uncommitted baskets opened with their first change, their lines, and their newest change (an item joining
    or leaving, or the card leaving the lane), and the transactions (the committed baskets)."""

    def __init__(self) -> None:
        self.open_visits: dict[str, OpenVisit] = {}
        self.baskets: dict[str, tuple[OpenBasket, dict[str, StoredLine]]] = {}
        self.committed: dict[str, CommittedBasket] = {}

    def record(self, decisions: Iterable[Decision]) -> None:
        for d in decisions:
            if isinstance(d, VisitOpened):
                self.open_visits[d.member] = OpenVisit(d.member, d.zone, d.at)
            elif isinstance(d, VisitClosed):
                self.open_visits.pop(d.member, None)
            elif isinstance(d, TransactionCommitted):
                self.baskets.pop(d.transaction_id, None)
                self.committed.setdefault(
                    d.transaction_id, CommittedBasket(d.transaction_id, d.member, d.lane, d.at, d.trigger))
            elif isinstance(d, BasketChanged):
                self._change(d)
            elif isinstance(d, BasketSettling) and d.basket_id in self.baskets:
                basket, lines = self.baskets[d.basket_id]
                self.baskets[d.basket_id] = (replace(basket, last_change=max(basket.last_change, d.at)), lines)
            elif isinstance(d, BasketHeld):
                self.baskets.update({bid: (replace(b, held=True), lines) for bid, (b, lines) in self.baskets.items()
                                     if b.lane == d.lane})

    def _change(self, d: BasketChanged) -> None:
        basket, lines = self.baskets.get(d.basket_id) or (
            OpenBasket(d.basket_id, d.member, d.lane, d.at, d.at, ()), {})
        if d.change == "added":
            lines[d.tag] = StoredLine(d.tag, d.sku, d.at)
        else:
            lines.pop(d.tag, None)
        self.baskets[d.basket_id] = (replace(basket, last_change=d.at), lines)

    def restore(self, eng: StoreEngine, at: datetime) -> None:
        """Hand what is stored to a new engine, as ingest does at start."""
        baskets = [replace(basket, lines=tuple(lines.values())) for basket, lines in self.baskets.values()]
        eng.restore(visits=self.open_visits.values(), baskets=baskets, committed=self.committed.values(), at=at)


def restarted(at: float) -> StoreEngine:
    """An engine that ran Ada's lane session, then a fresh one restored from what was stored, at ``at``."""
    ledger = Ledger()
    ledger.record(run(engine(), ada_buys_three()))
    eng = engine()
    ledger.restore(eng, t(at))
    return eng


def test_a_restored_basket_commits_the_same_transaction_a_full_settle_time_after_the_restart() -> None:
    (uninterrupted,) = of(TransactionCommitted, run(engine(), [*ada_buys_three(), t(30)]))
    eng = restarted(21)
    assert [(b.basket_id, b.status, b.total) for b in eng.lane_view("lane-1").baskets] == [
        (uninterrupted.transaction_id, "settling", Decimal("10.77"))]
    assert eng.tick(t(24.9)) == []  # the card's 'left' is not stored: the settle time counts from the restart
    (tx,) = of(TransactionCommitted, eng.tick(t(25)))
    assert (tx.transaction_id, tx.member, tx.lane, tx.lines, tx.total, tx.points, tx.trigger) == (
        uninterrupted.transaction_id, "M-1001", "lane-1", uninterrupted.lines, Decimal("10.77"), 10, "settle")
    assert (tx.at, tx.display, tx.gateway) == (t(25), "lane-1-display", "gw1")
    assert all(eng.is_sold(tag) for tag in (MILK, BREAD, COFFEE))
    assert eng.tick(t(60)) == []


def test_an_item_of_a_restored_basket_at_the_exit_is_charged_not_alarmed() -> None:
    eng = restarted(21)
    out = eng.observe(read(MILK, "exit", 22))
    assert not of(TheftAlarm, out)
    (tx,) = of(TransactionCommitted, out)
    assert (tx.trigger, tx.total, tx.at) == ("exit", Decimal("10.77"), t(22))


def test_a_member_still_in_the_lane_after_the_restart_keeps_the_basket_open() -> None:
    eng = restarted(21)
    out = run(eng, [read(ADA, "lane-1", 22), read(MILK2, "lane-1", 23), t(40)])
    assert not of(VisitOpened, out) and not of(TransactionCommitted, out)
    (added,) = of(BasketChanged, out)
    assert (added.tag, added.basket_id) == (MILK2, "lane-1:M-1001:20250301T100010.000000")
    out = run(eng, [read(ADA, "lane-1", 41, "left", first=22), t(45)])
    (tx,) = of(TransactionCommitted, out)
    assert ({line.tag for line in tx.lines}, tx.total) == ({MILK, BREAD, COFFEE, MILK2}, Decimal("12.06"))


def test_a_restored_visit_is_closed_at_the_exit_and_not_opened_again() -> None:
    eng = restarted(21)
    out = run(eng, [read(ADA, "entrance", 22), read(ADA, "exit", 23)])
    assert not of(VisitOpened, out)
    assert of(VisitClosed, out) == [VisitClosed("M-1001", t(23), "exit")]


def test_an_item_sold_meanwhile_leaves_the_restored_basket() -> None:
    ledger = Ledger()
    ledger.record(run(engine(), ada_buys_three()))
    eng = engine()
    eng.mark_sold(BREAD)
    ledger.restore(eng, t(21))
    (tx,) = of(TransactionCommitted, eng.tick(t(25)))
    assert ({line.tag for line in tx.lines}, tx.total) == ({MILK, COFFEE}, Decimal("8.28"))


def test_a_late_card_report_from_before_the_restored_basket_changed_does_not_reopen_it() -> None:
    eng = restarted(21)
    out = run(eng, [read(ADA, "lane-1", 11.5, first=10), t(25)])  # delivered late, after the restart
    (tx,) = of(TransactionCommitted, out)
    assert (tx.total, tx.at) == (Decimal("10.77"), t(25))


def test_a_restored_basket_of_a_held_lane_is_not_charged_by_the_clock_but_at_the_exit() -> None:
    ledger = Ledger()
    ledger.record(run(engine(), [*ada_buys_three()[:-1], read(BOB, "lane-1", 13)]))
    eng = engine()
    ledger.restore(eng, t(21))
    assert not of(TransactionCommitted, eng.tick(t(60)))
    (tx,) = of(TransactionCommitted, eng.observe(read(ADA, "exit", 61)))
    assert (tx.member, tx.total, tx.trigger) == ("M-1001", Decimal("10.77"), "exit")


def test_after_a_restart_an_item_read_in_the_next_lane_since_still_joins_nothing_there() -> None:
    """Only a count made wholly before the restart is in doubt: an item counted in lane 1 by a read after it
    is still there, and its cross-read in lane 2 joins nothing until it leaves lane 1."""
    eng = engine()
    eng.restore(at=t(5))
    out = run(eng, [read(MILK, "lane-1", 1), read(MILK, "lane-1", 6), read(BOB, "lane-2", 6),
                    read(MILK, "lane-2", 7, rssi=-60)])
    assert not of(BasketChanged, out)
    out = run(eng, [read(MILK, "lane-1", 8, "left", first=1), read(MILK, "lane-2", 9, rssi=-55)])
    assert [(c.member, c.tag, c.change) for c in of(BasketChanged, out)] == [("M-1002", MILK, "added")]


def test_reads_from_before_a_restart_delivered_after_it_still_keep_a_cross_read_out() -> None:
    """The backlog of an outage arrives after the restart in its own order: a cross-read in it is judged as
    before, against the neighbouring lane's count of the same period."""
    eng = engine()
    eng.restore(at=t(60))
    out = run(eng, [read(MILK, "lane-1", 1), read(BOB, "lane-2", 2), read(MILK, "lane-2", 3, rssi=-60)])
    assert not of(BasketChanged, out)


def test_a_late_report_of_a_paid_card_session_after_a_restart_neither_reopens_nor_charges_the_basket_again() -> None:
    """(The stateful checkout's seed 22.) Ada's basket settles at 24 s; ingest restarts at 30 s and then gets a
    redelivered report of her card from that session. Before the restart it was stale; after it too: the lane
    stays empty, her milk read there later joins nothing, and it sounds the alarm at the exit instead of
    'committing' the paid basket a second time (which the database would drop, leaving the milk unpaid and
    silent)."""
    ledger = Ledger()
    ledger.record(run(engine(), [*ada_buys_three(), t(24)]))
    eng = engine()
    ledger.restore(eng, t(30))
    out = run(eng, [read(ADA, "lane-1", 11.5, first=10), read(MILK2, "lane-1", 31), t(40)])
    assert eng.lane_view("lane-1").members == ()
    assert not of(BasketChanged, out) and not of(TransactionCommitted, out)
    out = run(eng, [read(ADA, "exit", 41), read(MILK2, "exit", 41.5)])
    assert not of(TransactionCommitted, out)
    assert [a.tag for a in of(TheftAlarm, out)] == [MILK2]


def test_a_redelivered_item_read_of_a_basket_paid_at_the_exit_charges_nothing_after_a_restart() -> None:
    """Ada walks out with her basket still open (committed at the exit at 25 s); after a restart the old
    session's card and item reports arrive again: nobody is put back in the lane, nothing is charged."""
    ledger = Ledger()
    ledger.record(run(engine(), [*ada_buys_three()[:-1], read(ADA, "exit", 25)]))
    eng = engine()
    ledger.restore(eng, t(30))
    out = run(eng, [read(ADA, "lane-1", 12, first=10), read(MILK2, "lane-1", 12.5), t(60)])
    assert eng.lane_view("lane-1").members == ()
    assert not of(TransactionCommitted, out)


def test_a_redelivered_card_report_after_a_restart_does_not_bring_back_a_member_who_left_the_lane() -> None:
    """(The stateful checkout's "charged when not there", a duplicate delivered across a restart.) Ada leaves
    lane 1 at 13 s with her milk in the basket, Bob comes at 13.5 s, ingest restarts at 14 s and then gets a
    second copy of Ada's card report of 12 s. She had left: the bread Bob puts down at 14.5 s is not hers, and
    she is charged for her milk alone."""
    ledger = Ledger()
    ledger.record(run(engine(), [read(ADA, "lane-1", 10), read(MILK, "lane-1", 11),
                                 read(ADA, "lane-1", 13, "left", first=10), read(BOB, "lane-1", 13.5)]))
    eng = engine()
    ledger.restore(eng, t(14))
    out = run(eng, [read(ADA, "lane-1", 12, first=10), read(BREAD, "lane-1", 14.5)])
    assert "M-1001" not in eng.lane_view("lane-1").members
    out += run(eng, [read(BOB, "exit", 20), read(BREAD, "exit", 20.5), t(60)])
    assert [(tx.member, [line.tag for line in tx.lines]) for tx in of(TransactionCommitted, out)] == [
        ("M-1001", [MILK])]
    assert [alarm.tag for alarm in of(TheftAlarm, out)] == [BREAD]
