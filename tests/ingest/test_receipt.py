"""The lane display's receipt always fits the 2 × 20 pole display the gateway drives."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ingest.db.persist import receipt_lines
from readers.display import DisplayDecoder, DisplayScreen, show


def test_one_item_names_it_and_shows_total_and_points() -> None:
    assert receipt_lines(["Organic milk 1 l"], Decimal("1.29"), 1) == ["Organic milk 1 l", "TOTAL 1.29    +1 pts"]


def test_several_items_are_counted() -> None:
    assert receipt_lines(["Milk", "Bread", "Butter"], Decimal("6.07"), 6)[0] == "3 items"


@given(
    names=st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=30),
    total=st.decimals(min_value=0, max_value=10**7, places=2),
    points=st.integers(min_value=0, max_value=10**7),
)
def test_every_receipt_is_shown_by_a_two_line_display(names: list[str], total: Decimal, points: int) -> None:
    lines = receipt_lines(names, total, points)
    screen = DisplayScreen()
    screen.apply(DisplayDecoder().feed(show(lines)))
    assert len(lines) == 2
    assert screen.lines[1].startswith(f"TOTAL {total}"[:20])
