"""Shelves and stock: inventory cycles (CURRENT / ADDITIONS / DELETIONS), missing, misplaced and low stock,
with injected times. T0 is the start of a 30 s cycle; every scenario starts the rules with a tick one second
before T0, so the cycle from T0 to T0 + 30 s is the first whole one (cycle "0" below)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest

from ingest.rules import RulesError, StoreEngine
from ingest.rules.inventory import InventoryCycles, InventorySettings
from ingest.rules.model import (
    Decision,
    InventoryCycleReport,
    ItemFound,
    ItemMisplaced,
    ItemMissing,
    Product,
    ReadEvent,
    Sighting,
    StockLow,
    StockRestored,
    TagKind,
    TransactionCommitted,
    Zone,
)
from ingest.storefile import StoreFileError, parse_store_file

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
CYCLE = 30.0
ZONES = {
    z.name: z
    for z in (
        Zone("entrance", "entrance"),
        Zone("shelf-dairy", "shelf"),
        Zone("shelf-bakery", "shelf"),
        Zone("cooler-1", "cooler"),
        Zone("backroom", "backroom"),
        Zone("lane-1", "lane", display="lane-1-display", gateway="gw1"),
        Zone("exit", "exit", alarm="exit-alarm", gateway="gw1"),
    )
}
PRODUCTS = {
    p.sku: p
    for p in (
        Product("MILK-1L", "Organic milk 1 l", Decimal("1.29"), reorder_below=3, home_zones=("shelf-dairy",)),
        Product("BREAD", "Rye bread", Decimal("2.49"), reorder_below=2),
        Product("COFFEE", "Coffee beans 500 g", Decimal("6.99")),
    )
}
MILK = [f"EPC:3074257BF7194E40000001{n:02X}" for n in range(1, 6)]
BREAD = [f"EPC:3074257BF7194E40000002{n:02X}" for n in range(1, 4)]
COFFEE = [f"EPC:3074257BF7194E40000003{n:02X}" for n in range(1, 3)]
SKU = {**dict.fromkeys(MILK, "MILK-1L"), **dict.fromkeys(BREAD, "BREAD"), **dict.fromkeys(COFFEE, "COFFEE")}
ADA = "UID:0F003A6B5C"

D = TypeVar("D")
Step = Sighting | float  # a read, or a tick at T0 + that many seconds


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def read(tag: str, zone: str, at: float, event: ReadEvent = "seen") -> Sighting:
    kind: TagKind = "member" if tag == ADA else "item"
    ref = "M-1001" if tag == ADA else SKU[tag]
    return Sighting(tag=tag, kind=kind, ref=ref, zone=ZONES[zone], gateway="gw1", reader=f"{zone}-reader",
                    antenna=1, rssi=-50.0, count=3, event=event, first_seen=t(at), at=t(at))


def together(*streams: list[Step]) -> list[Step]:
    """Several zones' reads as they arrive: in time order."""
    return sorted((step for stream in streams for step in stream),
                  key=lambda step: step.at if isinstance(step, Sighting) else t(step))


def every(tags: Iterable[str], zone: str, start: float, stop: float, step: float = 5.0) -> list[Step]:
    """The periodic ``seen`` reports of tags lying in a zone from ``start`` up to (not including) ``stop``."""
    tags = list(tags)
    out: list[Step] = []
    at = start
    while at < stop:
        out.extend(read(tag, zone, at) for tag in tags)
        at += step
    return out


def inventory(
    *, taken: Iterable[str] = (), stock: dict[str, str] | None = None, locations: dict[str, str] | None = None,
    missing_after: int = 4,
) -> InventoryCycles:
    gone = set(taken)
    inv = InventoryCycles(ZONES, PRODUCTS, InventorySettings(cycle_s=CYCLE, missing_after_cycles=missing_after),
                          stock=stock, locations=locations, taken=gone.__contains__)
    assert inv.tick(t(-1)) == []
    return inv


def run(inv: InventoryCycles, steps: Iterable[Step]) -> list[Decision]:
    out: list[Decision] = []
    for step in steps:
        out.extend(inv.observe(step) if isinstance(step, Sighting) else inv.tick(t(step)))
    return out


def of(kind: type[D], decisions: Iterable[Decision]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


def reports(decisions: Iterable[Decision], zone: str) -> list[tuple[int, list[str], list[str], list[str]]]:
    """(cycle relative to T0's, CURRENT, ADDITIONS, DELETIONS) of one zone, named by tag index."""
    base = int(T0.timestamp() // CYCLE)

    def names(tags: tuple[str, ...]) -> list[str]:
        return [f"{SKU[tag].split('-')[0].lower()}{SKU_INDEX[tag]}" for tag in tags]

    return [(r.cycle - base, names(r.current), names(r.additions), names(r.deletions))
            for r in of(InventoryCycleReport, decisions) if r.zone == zone]


SKU_INDEX = {tag: i for group in (MILK, BREAD, COFFEE) for i, tag in enumerate(group)}


# -- cycles ---------------------------------------------------------------------------------------


def test_each_cycle_reports_current_additions_and_deletions() -> None:
    inv = inventory()
    out = run(inv, [
        *every([MILK[0], MILK[1]], "shelf-dairy", 1, 30),
        *every([MILK[0], MILK[2]], "shelf-dairy", 31, 60),
        100.0,
    ])
    assert reports(out, "shelf-dairy") == [
        (0, ["milk0", "milk1"], ["milk0", "milk1"], []),
        (1, ["milk0", "milk2"], ["milk2"], ["milk1"]),
        (2, [], [], ["milk0", "milk2"]),
    ]
    assert [r.at for r in of(InventoryCycleReport, out)] == [t(30), t(60), t(90)]
    assert reports(run(inv, [400.0]), "shelf-dairy") == []  # nothing more to say about an empty zone


def test_a_cycle_closes_after_its_grace_and_later_reads_miss_its_report() -> None:
    inv = inventory()
    out = run(inv, [read(MILK[0], "shelf-dairy", 10), 31.0, read(MILK[1], "shelf-dairy", 29.5), 31.9])
    assert of(InventoryCycleReport, out) == []  # within the 2 s grace: still open
    out = run(inv, [32.0, read(COFFEE[0], "shelf-dairy", 29.9), 70.0])
    assert reports(out, "shelf-dairy")[0] == (0, ["milk0", "milk1"], ["milk0", "milk1"], [])


def test_reads_outside_shelves_backroom_and_coolers_make_no_cycle() -> None:
    inv = inventory()
    out = run(inv, [read(MILK[0], "lane-1", 5), read(MILK[1], "exit", 6), read(MILK[2], "entrance", 7),
                    read(MILK[3], "backroom", 8), read(MILK[4], "cooler-1", 9), 40.0])
    assert sorted(r.zone for r in of(InventoryCycleReport, out)) == ["backroom", "cooler-1"]


def test_the_partial_first_cycle_is_not_reported() -> None:
    inv = InventoryCycles(ZONES, PRODUCTS, InventorySettings(cycle_s=CYCLE))
    out = run(inv, [read(MILK[0], "shelf-dairy", 12), 33.0])
    assert out == []
    assert inv.current("shelf-dairy") == {MILK[0]}


def test_cycle_numbers_are_the_same_in_every_zone_and_across_restarts() -> None:
    first = run(inventory(), [read(MILK[0], "shelf-dairy", 40), read(BREAD[0], "shelf-bakery", 45), 70.0])
    again = run(inventory(), [read(MILK[0], "shelf-dairy", 41), 70.0])
    assert {r.cycle for r in of(InventoryCycleReport, first)} == {r.cycle for r in of(InventoryCycleReport, again)}


def test_a_long_silence_is_decided_at_once() -> None:
    inv = inventory()
    run(inv, every([MILK[0]], "shelf-dairy", 1, 30))
    started = time.perf_counter()
    out = run(inv, [30.0 * 1_000_000])  # almost a year later
    assert time.perf_counter() - started < 0.5
    assert [(c, cur, dele) for c, cur, _, dele in reports(out, "shelf-dairy")] == [(0, ["milk0"], []),
                                                                                   (1, [], ["milk0"])]
    assert [d.tag for d in of(ItemMissing, out)] == [MILK[0]]


def test_disabled_without_settings() -> None:
    inv = InventoryCycles(ZONES, PRODUCTS, None, stock={MILK[0]: "MILK-1L"})
    assert run(inv, [*every([MILK[0]], "shelf-bakery", 0, 100), 1000.0]) == []


@pytest.mark.parametrize(("cycle_s", "after"), [(0.0, 4), (-1.0, 4), (30.0, 0)])
def test_settings_are_checked(cycle_s: float, after: int) -> None:
    with pytest.raises(RulesError):
        InventorySettings(cycle_s=cycle_s, missing_after_cycles=after)


# -- missing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("missing_after", "last_read", "missing_at"), [
    pytest.param(4, 10.0, 150.0, id="read-in-cycle-0-unseen-in-1-to-4"),
    pytest.param(1, 10.0, 60.0, id="one-cycle"),
    pytest.param(2, 59.0, 120.0, id="read-at-the-end-of-cycle-1"),
])
def test_an_item_unseen_in_every_zone_for_n_cycles_is_missing_once(
    missing_after: int, last_read: float, missing_at: float
) -> None:
    inv = inventory(missing_after=missing_after)
    before = run(inv, [read(MILK[0], "shelf-dairy", last_read), missing_at + 1.9])
    assert of(ItemMissing, before) == []
    out = run(inv, [missing_at + 2.0, missing_at + 500])
    assert of(ItemMissing, out) == [ItemMissing(MILK[0], "MILK-1L", "shelf-dairy", t(last_read), t(missing_at))]
    assert inv.is_missing(MILK[0])


def test_a_read_in_any_zone_keeps_an_item_from_going_missing() -> None:
    inv = inventory(missing_after=2)
    out = run(inv, [read(MILK[0], "shelf-dairy", 5), read(MILK[0], "lane-1", 50), read(MILK[0], "backroom", 100),
                    150.0])
    assert of(ItemMissing, out) == []


def test_stock_known_at_the_start_but_never_read_goes_missing_with_its_last_zone() -> None:
    inv = inventory(stock={MILK[0]: "MILK-1L", MILK[1]: "MILK-1L"}, locations={MILK[0]: "backroom"})
    out = run(inv, [*every([MILK[1]], "shelf-dairy", 0, 122), 122.0])
    assert of(ItemMissing, out) == [ItemMissing(MILK[0], "MILK-1L", "backroom", None, t(120))]


def test_a_missing_item_read_again_is_found_and_can_go_missing_again() -> None:
    inv = inventory(missing_after=1)
    out = run(inv, [read(MILK[0], "shelf-dairy", 5), 62.0, read(MILK[0], "backroom", 70), read(MILK[0], "backroom",
                                                                                               75), 122.0])
    assert [type(d).__name__ for d in out if isinstance(d, ItemMissing | ItemFound)] == [
        "ItemMissing", "ItemFound", "ItemMissing"]
    assert of(ItemFound, out) == [ItemFound(MILK[0], "MILK-1L", "backroom", t(70))]


def test_an_item_missing_before_a_restart_is_not_missing_twice_and_is_found_when_read() -> None:
    inv = InventoryCycles(ZONES, PRODUCTS, InventorySettings(cycle_s=CYCLE, missing_after_cycles=1),
                          stock={MILK[0]: "MILK-1L"}, missing=[MILK[0]], locations={MILK[0]: "shelf-dairy"})
    out = run(inv, [-1.0, 200.0, read(MILK[0], "shelf-dairy", 210)])
    assert of(ItemMissing, out) == []
    assert of(ItemFound, out) == [ItemFound(MILK[0], "MILK-1L", "shelf-dairy", t(210))]


def test_sold_items_are_never_missing() -> None:
    inv = inventory(taken=[MILK[0]], stock={MILK[0]: "MILK-1L", MILK[1]: "MILK-1L"}, missing_after=1)
    out = run(inv, [read(MILK[0], "shelf-dairy", 5), 200.0])
    assert [d.tag for d in of(ItemMissing, out)] == [MILK[1]]


def test_start_stock_first_read_after_it_went_missing_is_found_and_the_unread_rest_stays_missing() -> None:
    stock = {MILK[0]: "MILK-1L", MILK[1]: "MILK-1L"}
    inv = inventory(stock=stock, locations={MILK[0]: "backroom"}, missing_after=1)
    out = run(inv, [62.0, read(MILK[0], "shelf-dairy", 70)])
    assert [d.tag for d in of(ItemMissing, out)] == [MILK[0], MILK[1]]
    assert of(ItemFound, out) == [ItemFound(MILK[0], "MILK-1L", "shelf-dairy", t(70))]
    assert not inv.is_missing(MILK[0])
    assert inv.is_missing(MILK[1])
    assert stock == {MILK[0]: "MILK-1L", MILK[1]: "MILK-1L"}  # handed over, not changed


def test_start_stock_sold_when_it_would_go_missing_is_not_found_when_returned_and_read() -> None:
    sold = {MILK[0]}
    inv = InventoryCycles(ZONES, PRODUCTS, InventorySettings(cycle_s=CYCLE, missing_after_cycles=1),
                          stock={MILK[0]: "MILK-1L", MILK[1]: "MILK-1L"}, taken=sold.__contains__)
    out = run(inv, [-1.0, 62.0])
    assert [d.tag for d in of(ItemMissing, out)] == [MILK[1]]
    sold.clear()  # returned to the store
    assert not inv.is_missing(MILK[0])
    assert of(ItemFound, run(inv, [read(MILK[0], "shelf-dairy", 70)])) == []


def test_closing_cycles_does_not_walk_the_start_stock_until_it_goes_missing() -> None:
    asked: list[str] = []

    def taken(tag: str) -> bool:
        asked.append(tag)
        return False

    stock = {f"EPC:{n:024X}": "MILK-1L" for n in range(10_000)}
    inv = InventoryCycles(ZONES, PRODUCTS, InventorySettings(cycle_s=CYCLE, missing_after_cycles=4),
                          stock=stock, taken=taken)
    out = run(inv, [-1.0, *every([MILK[0]], "shelf-dairy", 0, 121), 121.0])
    assert of(ItemMissing, out) == []
    assert len(asked) < 100  # only the read tag was looked at, not the 10,000 of the start stock
    assert len(of(ItemMissing, run(inv, [122.0]))) == 10_000


def test_items_sold_through_the_engine_are_never_missing_but_the_rest_of_the_stock_is() -> None:
    eng = StoreEngine(ZONES, PRODUCTS, inventory=InventorySettings(cycle_s=CYCLE, missing_after_cycles=2),
                      stock={MILK[0]: "MILK-1L", MILK[1]: "MILK-1L"}, locations={MILK[0]: "shelf-dairy"})
    steps: list[Step] = [-1.0, read(ADA, "lane-1", 5), read(MILK[0], "lane-1", 6), read(MILK[0], "lane-1", 7),
                          read(ADA, "lane-1", 8, "left")]
    out: list[Decision] = []
    for step in [*steps, 300.0]:
        out.extend(eng.observe(step) if isinstance(step, Sighting) else eng.tick(t(step)))
    sold = [line.tag for sale in of(TransactionCommitted, out) for line in sale.lines]
    assert sold == [MILK[0]]
    assert [d.tag for d in of(ItemMissing, out)] == [MILK[1]]


# -- misplaced ------------------------------------------------------------------------------------


def test_an_item_on_the_wrong_shelf_for_a_whole_cycle_is_misplaced_once() -> None:
    inv = inventory()
    out = run(inv, [*every([MILK[0]], "shelf-bakery", 10, 150), 152.0])
    assert of(ItemMisplaced, out) == [ItemMisplaced(MILK[0], "MILK-1L", "shelf-bakery", ("shelf-dairy",), t(60))]


@pytest.mark.parametrize("steps", [
    pytest.param(every([MILK[0]], "shelf-dairy", 0, 150), id="at-home"),
    pytest.param(every([MILK[0]], "backroom", 0, 150), id="in-the-backroom"),
    pytest.param([*every([MILK[0]], "shelf-bakery", 25, 35), *every([MILK[0]], "lane-1", 36, 150)],
                 id="carried-past-the-shelf-across-a-cycle-boundary"),
    pytest.param(every([BREAD[0]], "shelf-dairy", 0, 150), id="a-product-without-home-zones"),
])
def test_not_misplaced(steps: list[Step]) -> None:
    assert of(ItemMisplaced, run(inventory(), [*steps, 200.0])) == []


def test_an_item_that_leaves_the_wrong_shelf_and_comes_back_is_misplaced_again() -> None:
    inv = inventory()
    out = run(inv, [*every([MILK[0]], "shelf-bakery", 0, 60), *every([MILK[0]], "shelf-dairy", 60, 120),
                    *every([MILK[0]], "shelf-bakery", 125, 200), 202.0])
    assert [(d.zone, d.at) for d in of(ItemMisplaced, out)] == [("shelf-bakery", t(30)), ("shelf-bakery", t(180))]


# -- stock ----------------------------------------------------------------------------------------


def test_low_stock_in_a_home_zone_is_raised_once_and_restored() -> None:
    inv = inventory()
    out = run(inv, [
        *every(MILK[:3], "shelf-dairy", 0, 30),        # cycle 0: 3, enough
        *every(MILK[:2], "shelf-dairy", 30, 90),       # cycles 1 and 2: 2, below 3
        *every(MILK[:4], "shelf-dairy", 90, 120),      # cycle 3: 4
        122.0,
    ])
    low = [d for d in out if isinstance(d, StockLow | StockRestored)]
    assert low == [StockLow("MILK-1L", "Organic milk 1 l", "shelf-dairy", 2, 3, t(60)),
                   StockRestored("MILK-1L", "shelf-dairy", 4, t(120))]


def test_an_empty_home_zone_is_low_stock() -> None:
    out = run(inventory(), [32.0])
    assert of(StockLow, out) == [StockLow("MILK-1L", "Organic milk 1 l", "shelf-dairy", 0, 3, t(30))]


def test_items_carried_off_the_shelf_in_basket_or_sold_do_not_count() -> None:
    inv = inventory(taken=[MILK[2]])
    out = run(inv, [
        *every(MILK[:3], "shelf-dairy", 0, 20),
        read(MILK[1], "lane-1", 25),                   # picked up and carried to the lane
        32.0,
    ])
    assert of(StockLow, out) == [StockLow("MILK-1L", "Organic milk 1 l", "shelf-dairy", 1, 3, t(30))]
    assert reports(out, "shelf-dairy")[0][1] == ["milk0", "milk1", "milk2"]  # CURRENT is what was read


def test_a_product_without_home_zones_is_checked_where_it_was_stocked() -> None:
    inv = inventory()
    out = run(inv, [*together(
        every(BREAD[:1], "shelf-dairy", 0, 90),        # one stray loaf on the dairy shelf: never stocked there
        every(BREAD[1:3], "shelf-bakery", 0, 30),      # two on the bakery shelf, then one
        every(BREAD[1:2], "shelf-bakery", 30, 90),
    ), 92.0])
    assert [d for d in of(StockLow, out) if d.sku == "BREAD"] == [StockLow("BREAD", "Rye bread", "shelf-bakery", 1, 2,
                                                                           t(60))]


def test_products_without_a_reorder_level_are_never_low() -> None:
    out = run(inventory(), [*every(COFFEE[:1], "shelf-bakery", 0, 30), 100.0])
    assert [d.sku for d in of(StockLow, out)] == ["MILK-1L"]


# -- the store file's [inventory] -----------------------------------------------------------------


def test_the_store_file_inventory_section_is_optional_and_checked() -> None:
    base = {"store": {"id": "s1", "name": "Shop"}}
    assert parse_store_file(base).inventory_settings() is None
    settings = parse_store_file({**base, "inventory": {"cycle_s": 10, "missing_after_cycles": 3}}).inventory_settings()
    assert settings == InventorySettings(cycle_s=10.0, missing_after_cycles=3)
    with pytest.raises(StoreFileError) as bad:
        parse_store_file({**base, "inventory": {"cycle_s": 0, "missing_after": 3}})
    assert any(p.startswith("inventory.cycle_s:") for p in bad.value.problems)
    assert "inventory.missing_after: unknown key (not part of the store file format)" in bad.value.problems
