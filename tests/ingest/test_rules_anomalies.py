"""The engine with exit gates, the edge allow list, returns, anomalies, explanations and lane noise."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ingest.rules import StoreEngine
from ingest.rules.anomalies import AnomalyWatch
from ingest.rules.exitgate import Departure, ExitGate
from ingest.rules.model import (
    Alert,
    AllowTags,
    BasketChanged,
    Decision,
    DisallowTags,
    ItemReturned,
    ReadEvent,
    RuleSettings,
    Sighting,
    TagKind,
    TheftAlarm,
    TransactionCommitted,
    Zone,
)
from tests.ingest.test_rules_engine import (
    ADA,
    BOB,
    BREAD,
    COFFEE,
    ITEMS,
    MEMBERS,
    MILK,
    MILK2,
    PRODUCTS,
    STRANGER,
    of,
    t,
)

ZONES = {
    z.name: z
    for z in (
        Zone("entrance", "entrance"),
        Zone("shelf-dairy", "shelf", neighbours=("lane-1",)),
        Zone("shelf-bakery", "shelf"),
        Zone("lane-1", "lane", display="lane-1-display", gateway="gw1"),
        Zone("lane-2", "lane", display="lane-2-display", gateway="gw1"),
        Zone("exit-inner", "exit"),
        Zone("exit-outer", "exit"),
    )
}
GATE = ExitGate("exit", "exit-inner", "exit-outer", alarm="exit-alarm", gateway="gw1")


def read(tag: str, zone: str, at: float, event: ReadEvent = "seen", *, rssi: float | None = -50.0,
         count: int = 3, first: float | None = None, historical: bool = False) -> Sighting:
    kind: TagKind
    ref: str | None
    if tag in MEMBERS:
        kind, ref = "member", MEMBERS[tag]
    elif tag in ITEMS:
        kind, ref = "item", ITEMS[tag]
    else:
        kind, ref = "unknown", None
    return Sighting(tag, kind, ref, ZONES[zone], "gw2", f"{zone}-reader", 1, rssi, count, event,
                    t(at if first is None else first), t(at), historical)


def engine(edge: bool = False, **kw: object) -> StoreEngine:
    return StoreEngine(ZONES, PRODUCTS, RuleSettings(), exits=[GATE], edge_exits=["exit"] if edge else [],
                       **kw)  # type: ignore[arg-type]


def run(eng: StoreEngine, steps: Iterable[Sighting | datetime]) -> list[Decision]:
    out: list[Decision] = []
    for step in steps:
        out.extend(eng.tick(step) if isinstance(step, datetime) else eng.observe(step))
    return out


def leave(tag: str, at: float) -> list[Sighting]:
    return [read(tag, "exit-inner", at), read(tag, "exit-outer", at + 0.5)]


def enter(tag: str, at: float) -> list[Sighting]:
    return [read(tag, "exit-outer", at), read(tag, "exit-inner", at + 0.5)]


def shop(lane: str = "lane-1") -> list[Sighting]:
    return [read(ADA, "entrance", 0), read(ADA, lane, 10), read(MILK, lane, 11), read(BREAD, lane, 11.5)]


# -- exit gates -----------------------------------------------------------------------------------


def test_an_unpaid_item_leaving_through_an_ingest_gate_alarms_and_explains_why() -> None:
    out = run(engine(), [read(MILK, "shelf-dairy", 1), *leave(MILK, 5)])
    (alarm,) = of(TheftAlarm, out)
    assert (alarm.tag, alarm.gateway, alarm.alarm, alarm.at, alarm.rule) == (MILK, "gw1", "exit-alarm", t(5.5),
                                                                              "exit-gate")
    assert alarm.zone_sequence == ("shelf-dairy", "exit-inner", "exit-outer")
    assert dict(alarm.params)["window_s"] == "3"
    assert [(e.zone, e.reader) for e in alarm.evidence] == [("exit-inner", "exit-inner-reader"),
                                                           ("exit-outer", "exit-outer-reader")]


def test_entering_dwelling_and_weak_reads_at_the_gate_decide_nothing() -> None:
    eng = engine()
    dwelling = [read(COFFEE, "exit-inner", 20 + k) for k in range(10)]
    weak = [read(BREAD, "exit-inner", 40, rssi=-80), read(BREAD, "exit-outer", 40.5, rssi=-80)]
    assert run(eng, [*enter(MILK, 5), *dwelling, *weak]) == []


def test_at_an_edge_gate_the_engine_reports_the_departure_and_commands_nothing() -> None:
    out = run(engine(edge=True), leave(MILK, 5))
    assert not of(TheftAlarm, out)
    (departure,) = of(Departure, out)
    assert (departure.gate, departure.tag, departure.zone_sequence) == ("exit", MILK, ("exit-inner", "exit-outer"))


def test_a_member_departing_commits_the_basket_and_its_items_are_silent() -> None:
    eng = engine(edge=True)
    out = run(eng, [*shop(), *leave(ADA, 15), *leave(MILK, 15.2), *leave(BREAD, 15.4)])
    (tx,) = of(TransactionCommitted, out)
    assert (tx.trigger, tx.total, tx.rule) == ("exit", PRODUCTS["MILK-1L"].price + PRODUCTS["BREAD"].price,
                                               "lane-basket")
    assert tx.zone_sequence == ("entrance", "lane-1", "exit-inner", "exit-outer")
    assert {e.zone for e in tx.evidence} >= {"exit-inner", "exit-outer"}
    assert not of(Departure, out) and not of(TheftAlarm, out)
    assert run(eng, leave(MILK, 60)) == []  # a sold item passing the exit later


def test_an_item_of_an_open_basket_departing_commits_it() -> None:
    out = run(engine(), [*shop(), *leave(MILK, 14)])
    assert [tx.trigger for tx in of(TransactionCommitted, out)] == ["exit"]
    assert not of(TheftAlarm, out)


def test_an_unknown_tag_departing_is_an_alert() -> None:
    out = run(engine(), [*enter(STRANGER, 0), *leave(STRANGER, 10)])
    assert [(a.kind, a.rule) for a in of(Alert, out)] == [("unknown_tag_at_exit", "exit-gate")]


# -- allow list and returns -----------------------------------------------------------------------


def test_the_allow_list_follows_baskets_put_backs_and_returns() -> None:
    eng = engine(edge=True)
    out = run(eng, [*shop(), read(BREAD, "lane-1", 13, "left", first=11.5)])
    assert [(type(d).__name__, d.tags, d.reason) for d in out if isinstance(d, AllowTags | DisallowTags)] == [
        ("AllowTags", (MILK,), "joined a basket"), ("AllowTags", (BREAD,), "joined a basket"),
        ("DisallowTags", (BREAD,), "put back")]
    run(eng, [read(ADA, "lane-1", 20, "left", first=10), t(30)])
    assert eng.is_sold(MILK)
    assert eng.mark_returned(MILK, t(100), "MILK-1L") == [ItemReturned(MILK, "MILK-1L", t(100)),
                                                          DisallowTags((MILK,), "returned")]
    assert eng.mark_returned(MILK, t(101)) == []
    assert [d.tag for d in of(Departure, run(eng, leave(MILK, 200)))] == [MILK]  # guards the exit again
    # and is sellable again
    out = run(eng, [read(BOB, "lane-2", 300), read(MILK, "lane-2", 301), read(BOB, "lane-2", 305, "left", first=300),
                    t(320)])
    assert [line.tag for tx in of(TransactionCommitted, out) for line in tx.lines] == [MILK]


# -- anomalies ------------------------------------------------------------------------------------


def test_a_clone_is_one_code_in_two_distant_zones_at_once() -> None:
    eng = engine()
    out = run(eng, [read(COFFEE, "shelf-bakery", 4, first=0), read(COFFEE, "lane-2", 3.5, first=1)])
    (clone,) = of(Alert, out)
    assert (clone.kind, clone.rule, clone.details["zones"]) == ("clone", "clone", "lane-2,shelf-bakery")
    assert {e.zone for e in clone.evidence} == {"shelf-bakery", "lane-2"}
    # back and forth within seconds is a clone too; at most one alert per repeat time
    out = run(eng, [read(BREAD, "shelf-bakery", 10), read(BREAD, "lane-2", 11), read(BREAD, "shelf-bakery", 11.8)])
    assert [a.kind for a in of(Alert, out)] == ["clone"]


def test_moves_neighbours_and_stray_reads_are_no_clone() -> None:
    out = run(engine(), [
        read(COFFEE, "shelf-bakery", 1), read(COFFEE, "lane-2", 2.5),  # carried to the lane
        # carried across two zones whose edges touch: both readers hear it for a moment (0.3 s)
        read(MILK2, "shelf-bakery", 20.3, first=15), read(MILK2, "lane-2", 22, first=20),
        read(MILK, "shelf-dairy", 5, first=3), read(MILK, "lane-1", 4, first=3),  # neighbours
        read(BREAD, "shelf-bakery", 5, first=3), read(BREAD, "lane-2", 4, rssi=-85),  # a weak stray
        read(ADA, "exit-inner", 9, first=8), read(ADA, "exit-outer", 9, first=8.5),  # one gate's zones
    ])
    assert not of(Alert, out)


def test_a_sold_item_read_in_the_store_again_is_an_anomaly_once() -> None:
    eng = StoreEngine(ZONES, PRODUCTS, sold=[COFFEE], exits=[GATE])
    (alert,) = of(Alert, run(eng, [read(COFFEE, "shelf-bakery", 5), read(COFFEE, "shelf-bakery", 50)]))
    assert (alert.kind, alert.tag, alert.zone, alert.rule) == ("sold_item_in_store", COFFEE, "shelf-bakery",
                                                               "sold-item-in-store")
    # just sold: the paid basket still read in the lane is no anomaly
    eng = engine()
    out = run(eng, [*shop(), read(ADA, "lane-1", 20, "left", first=10), t(30), read(MILK, "lane-1", 31)])
    assert of(TransactionCommitted, out) and not of(Alert, out)


# -- lanes under noise ----------------------------------------------------------------------------


def test_a_cross_read_of_an_item_counted_in_the_next_lane_joins_nothing_until_it_leaves_there() -> None:
    eng = engine()
    out = run(eng, [read(MILK, "lane-1", 1), read(BOB, "lane-2", 2), read(MILK, "lane-2", 3, rssi=-60)])
    assert not of(BasketChanged, out)
    out = run(eng, [read(MILK, "lane-1", 4, "left", first=1), read(MILK, "lane-2", 5, rssi=-55)])
    assert [(c.lane, c.tag, c.change, c.rule) for c in of(BasketChanged, out)] == [
        ("lane-2", MILK, "added", "lane-basket")]


def test_single_glimpses_and_weak_reads_join_no_basket() -> None:
    out = run(engine(), [read(ADA, "lane-1", 10), read(MILK, "lane-1", 11, count=1),
                         read(BREAD, "lane-1", 11, rssi=-90), read(BREAD, "lane-1", 12, rssi=-90)])
    assert not of(BasketChanged, out)


def test_the_zone_trail_keeps_the_last_eight_zones_in_order_with_repeats_collapsed() -> None:
    watch = AnomalyWatch(ZONES, min_rssi=-70.0)
    moves = ["shelf-dairy", "shelf-dairy", "shelf-bakery", "lane-1", "lane-1", "lane-2", "shelf-dairy",
             "entrance", "shelf-bakery", "lane-1", "lane-2"]
    for n, zone in enumerate(moves):
        watch.observe(read(MILK, zone, n * 60.0), sold=False)
        watch.observe(read(MILK2, "shelf-dairy", n * 60.0), sold=False)
        watch.observe(read(BREAD, zone, n * 60.0, rssi=-90.0), sold=False)  # weak: a stray, not on its trail
    assert watch.zone_sequence(MILK) == ("shelf-bakery", "lane-1", "lane-2", "shelf-dairy", "entrance",
                                         "shelf-bakery", "lane-1", "lane-2")
    assert watch.zone_sequence(MILK2) == ("shelf-dairy",)
    assert watch.zone_sequence(BREAD) == ()
