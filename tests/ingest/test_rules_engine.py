"""Scenario tests of the pure rules engine: sightings with injected times in, decisions out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest

from ingest.rules import RulesError, StoreEngine
from ingest.rules.model import (
    Alert,
    AllowTags,
    BasketChanged,
    BasketHeld,
    Decision,
    ItemMoved,
    Product,
    ReadEvent,
    RuleSettings,
    Sighting,
    TagKind,
    TheftAlarm,
    TransactionCommitted,
    VisitClosed,
    VisitOpened,
    Zone,
)

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)

ZONES = {
    z.name: z
    for z in (
        Zone("entrance", "entrance"),
        Zone("shelf-dairy", "shelf"),
        Zone("backroom", "backroom"),
        Zone("lane-1", "lane", display="lane-1-display", gateway="gw1"),
        Zone("lane-2", "lane", display="lane-2-display"),
        Zone("exit", "exit", alarm="exit-alarm", gateway="gw1"),
        Zone("side-exit", "exit"),
    )
}
PRODUCTS = {
    p.sku: p
    for p in (
        Product("MILK-1L", "Organic milk 1 l", Decimal("1.29")),
        Product("BREAD", "Rye bread", Decimal("2.49")),
        Product("COFFEE", "Coffee beans 500 g", Decimal("6.99")),
    )
}
MILK, BREAD, COFFEE, MILK2 = (f"EPC:3074257BF7194E40000000{n:02X}" for n in (1, 2, 3, 4))
ITEMS = {MILK: "MILK-1L", BREAD: "BREAD", COFFEE: "COFFEE", MILK2: "MILK-1L"}
ADA, BOB = "UID:0F003A6B5C", "UID:0F003A6B5D"
MEMBERS = {ADA: "M-1001", BOB: "M-1002"}
STRANGER = "EPC:E2801170200014CD9B5A08EC"

D = TypeVar("D")


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def read(
    tag: str,
    zone: str,
    at: float,
    event: ReadEvent = "seen",
    *,
    rssi: float | None = -50.0,
    count: int = 3,
    first: float | None = None,
    gateway: str = "gw2",
    historical: bool = False,
) -> Sighting:
    """A resolved read as ingest would build it from the store's bindings."""
    kind: TagKind
    ref: str | None
    if tag in MEMBERS:
        kind, ref = "member", MEMBERS[tag]
    elif tag in ITEMS:
        kind, ref = "item", ITEMS[tag]
    else:
        kind, ref = "unknown", None
    return Sighting(
        tag=tag, kind=kind, ref=ref, zone=ZONES[zone], gateway=gateway, reader=f"{zone}-reader", antenna=1,
        rssi=rssi, count=count, event=event, first_seen=t(at if first is None else first), at=t(at),
        historical=historical,
    )


def engine(**settings: float) -> StoreEngine:
    return StoreEngine(ZONES, PRODUCTS, RuleSettings(**settings))  # type: ignore[arg-type]


def run(eng: StoreEngine, steps: Iterable[Sighting | datetime]) -> list[Decision]:
    out: list[Decision] = []
    for step in steps:
        out.extend(eng.tick(step) if isinstance(step, datetime) else eng.observe(step))
    return out


def of(kind: type[D], decisions: Iterable[Decision]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


def ada_buys_three(lane: str = "lane-1") -> list[Sighting | datetime]:
    """Ada enters, puts milk, bread and coffee down in the lane, and walks away at t=20."""
    return [
        read(ADA, "entrance", 0),
        read(ADA, lane, 10),
        read(MILK, lane, 11),
        read(BREAD, lane, 11.5),
        read(COFFEE, lane, 12),
        read(ADA, lane, 20, "left", first=10),
    ]


# -- happy path ----------------------------------------------------------------------------------


def test_member_with_three_items_leaves_the_lane_and_one_transaction_settles() -> None:
    eng = engine()
    out = run(eng, ada_buys_three())
    assert of(VisitOpened, out) == [VisitOpened("M-1001", "entrance", t(0))]
    added = of(BasketChanged, out)
    assert [(c.tag, c.sku, c.change) for c in added] == [
        (MILK, "MILK-1L", "added"), (BREAD, "BREAD", "added"), (COFFEE, "COFFEE", "added")]
    assert all(c.evidence and c.evidence[0].tag == c.tag for c in added)
    assert not of(TransactionCommitted, out)

    view = eng.lane_view("lane-1")
    assert view.members == () and not view.held
    assert [(b.status, b.total, b.settles_at) for b in view.baskets] == [("settling", Decimal("10.77"), t(24))]

    assert eng.tick(t(23.9)) == []
    (tx,) = eng.tick(t(24.5))
    assert isinstance(tx, TransactionCommitted)
    assert tx.transaction_id == "lane-1:M-1001:20250301T100010.000000" == added[0].basket_id
    assert tx.total == Decimal("10.77") and tx.points == 10
    assert [(line.tag, line.unit_price) for line in tx.lines] == [
        (MILK, Decimal("1.29")), (BREAD, Decimal("2.49")), (COFFEE, Decimal("6.99"))]
    assert (tx.member, tx.lane, tx.trigger, tx.at) == ("M-1001", "lane-1", "settle", t(24))
    assert (tx.display, tx.gateway) == ("lane-1-display", "gw1")
    assert {e.tag for e in tx.evidence} >= {ADA, MILK, BREAD, COFFEE}
    assert all(eng.is_sold(tag) for tag in (MILK, BREAD, COFFEE))
    assert eng.tick(t(60)) == [] and eng.lane_view("lane-1").baskets == ()


def test_lane_without_own_gateway_names_the_gateway_that_saw_the_card() -> None:
    (tx,) = of(TransactionCommitted, run(engine(), [*ada_buys_three("lane-2"), t(30)]))
    assert (tx.display, tx.gateway, tx.total) == ("lane-2-display", "gw2", Decimal("10.77"))


def test_member_returning_before_the_settle_time_keeps_the_basket_open() -> None:
    eng = engine()
    run(eng, ada_buys_three())
    assert run(eng, [read(ADA, "lane-1", 22, first=22), t(26)]) == []
    assert eng.lane_view("lane-1").baskets[0].status == "open"
    out = run(eng, [read(MILK2, "lane-1", 23), read(ADA, "lane-1", 30, "left", first=22), t(33), t(34)])
    (tx,) = of(TransactionCommitted, out)
    assert tx.transaction_id == "lane-1:M-1001:20250301T100010.000000"
    assert tx.at == t(34) and len(tx.lines) == 4 and tx.total == Decimal("12.06")


def test_settle_time_that_passed_before_the_next_read_commits_before_that_read() -> None:
    eng = engine()
    run(eng, ada_buys_three())
    out = eng.observe(read(ADA, "lane-1", 40, first=40))  # back long after t=24, no tick in between
    assert [type(d) for d in out] == [TransactionCommitted]
    assert isinstance(out[0], TransactionCommitted) and out[0].at == t(24)


def test_price_edits_before_the_commit_take_effect() -> None:
    eng = engine()
    run(eng, ada_buys_three())
    eng.update_catalog(ZONES, {**PRODUCTS, "MILK-1L": Product("MILK-1L", "Organic milk 1 l", Decimal("0.99"))})
    (tx,) = of(TransactionCommitted, eng.tick(t(30)))
    assert tx.total == Decimal("10.47") and tx.points == 10


# -- the lane's rules ------------------------------------------------------------------------------


def test_two_members_in_a_lane_hold_the_basket_and_nobody_is_charged() -> None:
    eng = engine()
    out = run(eng, [
        read(ADA, "lane-1", 10),
        read(BOB, "lane-1", 11),
        read(ADA, "lane-1", 11.5, first=10),  # more reports of the same occurrence: one alert only
        read(MILK, "lane-1", 12),
        read(BREAD, "lane-1", 13, count=10),
    ])
    (held,) = of(BasketHeld, out)
    assert held.lane == "lane-1" and held.members == ("M-1001", "M-1002")
    assert {e.tag for e in held.evidence} == {ADA, BOB}
    (alert,) = of(Alert, out)
    assert (alert.kind, alert.severity, alert.zone) == ("lane_conflict", "warning", "lane-1")
    assert "M-1001" in alert.message and "M-1002" in alert.message
    assert not of(BasketChanged, out)
    view = eng.lane_view("lane-1")
    assert view.held and view.members == ("M-1001", "M-1002") and view.baskets == ()
    out = run(eng, [read(ADA, "lane-1", 20, "left", first=10), read(BOB, "lane-1", 21, "left", first=11), t(60)])
    assert not of(TransactionCommitted, out) and not of(BasketChanged, out)


def test_a_held_lane_resumes_when_only_one_member_is_left() -> None:
    eng = engine()
    out = run(eng, [
        read(ADA, "lane-1", 10), read(BOB, "lane-1", 11), read(MILK, "lane-1", 12),
        read(BOB, "lane-1", 14, "left", first=11),
    ])
    assert [a.kind for a in of(Alert, out)] == ["lane_conflict", "lane_conflict_cleared"]
    assert not eng.lane_view("lane-1").held
    out = run(eng, [read(MILK, "lane-1", 15), read(ADA, "lane-1", 20, "left", first=10), t(30)])
    (tx,) = of(TransactionCommitted, out)
    assert tx.member == "M-1001" and [line.tag for line in tx.lines] == [MILK]
    # a second conflict later is a new occurrence, with a new alert
    out = run(eng, [read(ADA, "lane-1", 40, first=40), read(BOB, "lane-1", 41, first=41)])
    assert [a.kind for a in of(Alert, out)] == ["lane_conflict"]


@pytest.mark.parametrize(
    ("reads", "joins"),
    [
        pytest.param([(-80.0, 5)], False, id="weak rssi, many reads"),
        pytest.param([(-75.5, 2), (-76.0, 3)], False, id="just below min_rssi"),
        pytest.param([(-50.0, 1)], False, id="single strong glimpse"),
        pytest.param([(-50.0, 1), (-80.0, 4)], False, id="one strong read and weak ones"),
        pytest.param([(-50.0, 1), (-60.0, 1)], True, id="two strong reads add up"),
        pytest.param([(-75.0, 2)], True, id="exactly min_rssi and min_reads"),
        pytest.param([(None, 2)], True, id="reader without rssi"),
    ],
)
def test_stray_reads_never_join_a_basket(reads: list[tuple[float | None, int]], joins: bool) -> None:
    eng = engine()
    steps: list[Sighting | datetime] = [read(ADA, "lane-1", 10)]
    steps += [read(MILK, "lane-1", 11 + i, rssi=rssi, count=n, first=11) for i, (rssi, n) in enumerate(reads)]
    assert bool(of(BasketChanged, run(eng, steps))) is joins


def test_a_redelivered_glimpse_is_still_a_single_read() -> None:
    eng = engine()
    glimpse = read(MILK, "lane-1", 11, count=1)
    assert not of(BasketChanged, run(eng, [read(ADA, "lane-1", 10), glimpse, glimpse, glimpse]))


def test_an_item_that_leaves_while_its_member_stays_is_put_back() -> None:
    eng = engine()
    run(eng, ada_buys_three()[:-1])
    out = eng.observe(read(BREAD, "lane-1", 14, "left", first=11.5))
    assert [(c.tag, c.change) for c in of(BasketChanged, out)] == [(BREAD, "removed")]
    out = run(eng, [read(ADA, "lane-1", 20, "left", first=10), t(30)])
    (tx,) = of(TransactionCommitted, out)
    assert [line.tag for line in tx.lines] == [MILK, COFFEE] and tx.total == Decimal("8.28")
    # the bread stayed in the store unpaid: at the exit it sounds the alarm
    assert of(TheftAlarm, run(eng, [read(BREAD, "exit", 40)]))


def test_items_that_leave_together_with_the_member_are_not_put_back() -> None:
    eng = engine()
    run(eng, ada_buys_three()[:-1])
    out = run(eng, [
        read(MILK, "lane-1", 19.5, "left", first=11),  # the gateway reported the item's leave first
        read(ADA, "lane-1", 20, "left", first=10),
        t(30),
    ])
    assert [(c.tag, c.change) for c in of(BasketChanged, out)] == [(MILK, "removed"), (MILK, "added")]
    (tx,) = of(TransactionCommitted, out)
    assert tx.total == Decimal("10.77")


def test_a_basket_whose_items_were_all_put_back_commits_nothing() -> None:
    out = run(engine(), [
        read(ADA, "lane-1", 10), read(MILK, "lane-1", 11), read(MILK, "lane-1", 13, "left", first=11),
        read(ADA, "lane-1", 20, "left", first=10), t(60), read(ADA, "exit", 61),
    ])
    assert not of(TransactionCommitted, out)
    assert of(VisitClosed, out) == [VisitClosed("M-1001", t(61), "exit")]


def test_a_neighbouring_lane_does_not_take_an_item_from_another_basket() -> None:
    eng = engine()
    out = run(eng, [
        read(ADA, "lane-1", 10), read(MILK, "lane-1", 11),
        read(BOB, "lane-2", 10), read(MILK, "lane-2", 12, rssi=-60, count=8),  # cross-read, even strong
        read(COFFEE, "lane-2", 12),
        read(ADA, "lane-1", 20, "left", first=10), read(BOB, "lane-2", 20, "left", first=10), t(30),
    ])
    by_member = {tx.member: [line.tag for line in tx.lines] for tx in of(TransactionCommitted, out)}
    assert by_member == {"M-1001": [MILK], "M-1002": [COFFEE]}


def test_a_sold_item_never_joins_another_basket() -> None:
    eng = engine()
    run(eng, [*ada_buys_three(), t(30)])
    out = run(eng, [read(BOB, "lane-2", 40), read(MILK, "lane-2", 41, count=9), read(BOB, "lane-2", 45, "left"),
                    t(60)])
    assert not of(BasketChanged, out) and not of(TransactionCommitted, out)


def test_replaying_the_same_reads_after_the_commit_charges_nobody_twice() -> None:
    eng = engine()
    first = run(eng, [*ada_buys_three(), t(30)])
    again = run(eng, [*ada_buys_three(), t(30), t(90)])
    assert len(of(TransactionCommitted, first)) == 1
    assert not of(TransactionCommitted, again) and not of(BasketChanged, again)


def test_a_repeat_within_the_commit_memory_charges_nobody_again_even_for_returned_items() -> None:
    eng = engine(committed_memory_s=60)
    first = run(eng, [*ada_buys_three(), t(30)])
    for tag in (MILK, BREAD, COFFEE):
        eng.mark_returned(tag, at=t(40))  # returned at the desk: only the paid card session keeps them out
    again = run(eng, [t(80), *ada_buys_three(), t(83), t(90)])  # a late redelivery 56 s after the commit
    assert len(of(TransactionCommitted, first)) == 1
    assert not of(TransactionCommitted, again) and not of(BasketChanged, again)


def test_a_card_left_in_the_lane_after_an_exit_commit_is_not_charged_again_after_the_commit_memory() -> None:
    eng = engine(committed_memory_s=60)
    first = run(eng, [read(ADA, "entrance", 0), read(ADA, "lane-1", 10), read(MILK, "lane-1", 11),
                      read(MILK, "exit", 15)])  # the item carried out commits the basket; the card stays
    later = run(eng, [t(20), read(ADA, "lane-1", 50), t(100), read(ADA, "lane-1", 110), read(BREAD, "lane-1", 111),
                      read(ADA, "lane-1", 120, "left", first=10), t(130)])
    assert len(of(TransactionCommitted, first)) == 1
    assert not of(TransactionCommitted, later) and not of(BasketChanged, later)


def test_a_store_that_runs_for_long_remembers_only_the_recent_commits() -> None:
    eng = engine(committed_memory_s=300)
    for n in range(50):  # one sale every 100 s, each item returned and sold again
        base = 100.0 * n
        out = run(eng, [read(ADA, "lane-1", base), read(MILK, "lane-1", base + 1),
                        read(ADA, "lane-1", base + 5, "left", first=base), t(base + 10)])
        assert len(of(TransactionCommitted, out)) == 1
        eng.mark_returned(MILK, at=t(base + 20))
    assert eng.remembered_commits <= 4  # the sales of the last 300 s, not all 50


def test_a_restarted_engine_knows_what_was_sold() -> None:
    eng = StoreEngine(ZONES, PRODUCTS, sold=[MILK, BREAD, COFFEE])
    out = run(eng, [*ada_buys_three(), t(30), read(MILK, "exit", 31)])
    assert not of(TransactionCommitted, out) and not of(TheftAlarm, out)


# -- the exit --------------------------------------------------------------------------------------


def test_an_unpaid_item_at_the_exit_sounds_that_gate_s_alarm_once_per_repeat_time() -> None:
    eng = engine()
    out = eng.observe(read(MILK, "exit", 5, gateway="gw2"))
    assert out == [TheftAlarm(MILK, "MILK-1L", "exit", "gw1", "exit-alarm", t(5), out[0].evidence,  # type: ignore[union-attr]
                              rule="exit-zone", params=(("alarm_repeat_s", "30"),), zone_sequence=("exit",))]
    assert run(eng, [read(MILK, "exit", 6), read(MILK, "exit", 34.9)]) == []
    assert of(TheftAlarm, eng.observe(read(MILK, "exit", 35)))


def test_an_exit_without_its_own_gateway_alarms_through_the_gateway_that_saw_the_item() -> None:
    (alarm,) = engine().observe(read(COFFEE, "side-exit", 5, gateway="gw2"))
    assert isinstance(alarm, TheftAlarm) and (alarm.gateway, alarm.alarm) == ("gw2", None)


def test_sold_items_pass_the_exit_silently() -> None:
    eng = engine()
    run(eng, [*ada_buys_three(), t(30)])
    assert run(eng, [read(MILK, "exit", 40), read(BREAD, "exit", 40), read(COFFEE, "exit", 40)]) == []


def test_late_historical_reads_at_the_exit_raise_no_alarm() -> None:
    assert engine().observe(read(MILK, "exit", 5, historical=True)) == []


def test_an_unknown_tag_at_the_exit_is_a_warning_not_an_alarm() -> None:
    eng = engine()
    (alert,) = eng.observe(read(STRANGER, "exit", 5))
    assert isinstance(alert, Alert)
    assert (alert.kind, alert.severity, alert.tag, alert.zone) == ("unknown_tag_at_exit", "warning", STRANGER, "exit")
    assert eng.observe(read(STRANGER, "exit", 6)) == []


def test_an_item_of_a_settling_basket_at_the_exit_commits_it_before_any_alarm() -> None:
    eng = engine()
    run(eng, ada_buys_three())  # left the lane at 20, would settle at 24
    out = run(eng, [read(COFFEE, "exit", 21), read(MILK, "exit", 21), read(BREAD, "exit", 21.2),
                    read(ADA, "exit", 21.5), t(30)])
    assert [type(d) for d in out] == [TransactionCommitted, VisitClosed]
    tx = out[0]
    assert isinstance(tx, TransactionCommitted)
    assert (tx.trigger, tx.at, tx.total) == ("exit", t(21), Decimal("10.77"))
    assert tx.evidence[-1].zone == "exit"


def test_a_member_at_the_exit_commits_an_open_basket_then_closes_the_visit() -> None:
    eng = engine()
    out = run(eng, [*ada_buys_three()[:-1], read(ADA, "exit", 15), read(MILK, "exit", 15.5), t(60)])
    assert [type(d) for d in out if not isinstance(d, BasketChanged | ItemMoved | AllowTags)] == [
        VisitOpened, TransactionCommitted, VisitClosed]
    assert of(VisitClosed, out)[0].reason == "exit"
    assert eng.lane_view("lane-1").members == ()
    # a late report from the lane, from before the exit, reopens nothing
    assert eng.observe(read(ADA, "lane-1", 14, first=10)) == []


def test_an_item_in_an_open_basket_at_the_exit_is_not_theft() -> None:
    out = run(engine(), [read(ADA, "lane-1", 10), read(MILK, "lane-1", 11), read(MILK, "exit", 13)])
    assert not of(TheftAlarm, out)
    assert [tx.trigger for tx in of(TransactionCommitted, out)] == ["exit"]


# -- visits and stock ------------------------------------------------------------------------------


def test_visits_open_once_and_time_out_after_the_last_read() -> None:
    eng = engine(visit_timeout_s=600)
    out = run(eng, [read(ADA, "entrance", 0), read(ADA, "lane-2", 100), read(ADA, "shelf-dairy", 300)])
    assert out == [VisitOpened("M-1001", "entrance", t(0))]
    assert eng.tick(t(899)) == []
    assert eng.tick(t(901)) == [VisitClosed("M-1001", t(900), "timeout")]
    assert eng.tick(t(5000)) == []
    assert eng.observe(read(ADA, "entrance", 6000)) == [VisitOpened("M-1001", "entrance", t(6000))]


def test_a_member_seen_on_a_shelf_first_opens_no_visit() -> None:
    assert engine().observe(read(ADA, "shelf-dairy", 0)) == []


def test_items_report_a_move_only_when_their_zone_changes() -> None:
    eng = StoreEngine(ZONES, PRODUCTS, locations={MILK: "shelf-dairy"})
    out = run(eng, [
        read(MILK, "shelf-dairy", 1), read(MILK, "shelf-dairy", 2), read(MILK, "backroom", 3),
        read(MILK, "backroom", 4), read(MILK, "shelf-dairy", 2.5),  # older than the last move: ignored
        read(BREAD, "backroom", 5),
    ])
    assert out == [ItemMoved(MILK, "MILK-1L", "backroom", t(3)), ItemMoved(BREAD, "BREAD", "backroom", t(5))]


def test_mark_sold_and_returned_follow_the_database() -> None:
    eng = engine()
    run(eng, ada_buys_three()[:-1])
    eng.mark_sold(MILK)
    assert [line.tag for line in eng.lane_view("lane-1").baskets[0].lines] == [BREAD, COFFEE]
    assert eng.observe(read(MILK, "exit", 15)) == []
    eng.mark_returned(MILK)
    assert of(TheftAlarm, eng.observe(read(MILK, "exit", 16)))


@pytest.mark.parametrize(
    ("settings", "names"),
    [({"min_reads": 0}, "min_reads"), ({"settle_time_s": -1}, "settle_time_s"),
     ({"min_rssi": float("nan")}, "min_rssi"), ({"committed_memory_s": -1}, "committed_memory_s")],
)
def test_unusable_settings_are_refused_with_their_name(settings: dict[str, float], names: str) -> None:
    with pytest.raises(RulesError, match=names):
        engine(**settings)


def test_a_catalog_keyed_by_the_wrong_name_is_refused() -> None:
    with pytest.raises(RulesError, match=r"zones\['till'\]"):
        StoreEngine({"till": ZONES["lane-1"]}, PRODUCTS)


def test_a_left_that_overtakes_its_seen_does_not_keep_the_member_in_the_lane() -> None:
    eng = engine()
    # Delivered out of order: the card's 'left' (at 20) before its 'seen' (at 10); then Bob comes.
    out = run(eng, [read(ADA, "lane-1", 20, "left", first=10), read(ADA, "lane-1", 10),
                    read(BOB, "lane-1", 30), read(BREAD, "lane-1", 31), read(BREAD, "lane-1", 32)])
    assert not of(BasketHeld, out), "Ada's stale 'seen' held the lane for Bob"
    assert eng.lane_view("lane-1").members == ("M-1002",)  # Bob alone
