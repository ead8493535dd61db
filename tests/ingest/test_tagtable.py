"""The tag table: one entry per tag answers for its binding and its stock row, as separate structures did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ingest.rules.tagtable import Binding, TagTable

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _naive_bound(bindings: list[Binding], tag: str, at: datetime) -> tuple[str, str] | None:
    """The rule, spelled out: of the tag's bindings valid at ``at``, the latest-starting one (of equal starts,
    the first made)."""
    earliest = datetime.min.replace(tzinfo=UTC)
    valid = [b for b in bindings if b.tag == tag and b.valid_at(at) and b.kind in ("member", "staff", "item")]
    best = max(valid, key=lambda b: b.valid_from or earliest, default=None)
    if best is None:
        return None
    first = next(b for b in valid if (b.valid_from or earliest) == (best.valid_from or earliest))
    return first.kind, first.ref


bindings = st.lists(st.builds(
    Binding,
    tag=st.sampled_from(["UID:A", "UID:B", "EPC:C"]),
    kind=st.sampled_from(["member", "staff", "item"]),
    ref=st.sampled_from(["M-1", "M-2", "S-1", "MILK"]),
    valid_from=st.none() | st.sampled_from([T0 - DAY, T0, T0 + DAY]),
    valid_to=st.none() | st.sampled_from([T0, T0 + DAY, T0 + 2 * DAY]),
), max_size=6)


@given(bindings, st.sampled_from([T0 - 2 * DAY, T0 - DAY, T0, T0 + DAY, T0 + 3 * DAY]))
def test_a_tag_is_bound_to_its_latest_starting_valid_binding(made: list[Binding], at: datetime) -> None:
    table = TagTable.of(made)
    for tag in ("UID:A", "UID:B", "EPC:C", "UID:never-bound"):
        assert table.bound(tag, at) == _naive_bound(made, tag, at)


def test_a_second_binding_of_a_tag_takes_over_only_from_its_start() -> None:
    table = TagTable.of([Binding("UID:A", "member", "M-1"), Binding("UID:A", "member", "M-2", valid_from=T0)])
    assert table.bound("UID:A", T0 - DAY) == ("member", "M-1")
    assert table.bound("UID:A", T0) == ("member", "M-2")


def test_stock_locations_missing_and_sold_are_the_item_rows_by_status() -> None:
    table = TagTable()
    table.add_item("EPC:1", "MILK", "in_store", "shelf-1")
    table.add_item("EPC:2", "MILK", "missing", None)
    table.add_item("EPC:3", "BREAD", "sold", "lane-1")
    table.bind("EPC:1", "item", "MILK")
    table.bind("EPC:3", "item", "BREAD")
    table.bind("EPC:4", "item", "BREAD")  # bound, no item row yet: not stock
    assert dict(table.stock) == {"EPC:1": "MILK", "EPC:2": "MILK"} and len(table.stock) == 2
    assert dict(table.locations) == {"EPC:1": "shelf-1"} and len(table.locations) == 1
    assert table.locations.get("EPC:2") is None and table.stock.get("EPC:3") is None
    assert set(table.missing) == {"EPC:2"} and "EPC:2" in table.missing and "EPC:1" not in table.missing
    assert set(table.sold) == {"EPC:3"} and len(table.sold) == 1
    assert table.bound("EPC:3", T0) == ("item", "BREAD") and table.bound("EPC:4", T0) == ("item", "BREAD")


def test_items_with_the_same_facts_share_them_and_each_tag_is_held_once() -> None:
    table = TagTable()
    for n in range(1000):
        table.add_item(f"EPC:{n}", "MILK", "in_store", "shelf-1")
        table.bind(f"EPC:{n}", "item", "MILK")
    first, last = table.facts("EPC:0"), table.facts("EPC:999")
    assert first is not None and first is last
    assert len(table) == 1000


def test_a_reload_binds_the_tags_afresh_and_keeps_the_start_stock() -> None:
    table = TagTable()
    table.add_item("EPC:1", "MILK", "in_store", "shelf-1")
    table.bind("EPC:1", "item", "MILK")
    table.bind("UID:A", "member", "M-1")
    table.bind("UID:B", "member", "M-2", valid_from=T0)
    table.unbind_all()
    table.bind("UID:A", "member", "M-3")
    assert table.bound("EPC:1", T0) is None and table.bound("UID:B", T0) is None
    assert table.bound("UID:A", T0) == ("member", "M-3")
    assert dict(table.stock) == {"EPC:1": "MILK"} and dict(table.locations) == {"EPC:1": "shelf-1"}
    assert len(table) == 2
