"""Brand loyalty x usage segments and the 3 x 3 grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.model import ProductInfo, Purchase
from crm.segments import loyalty_of, segment_grid, segments, usage_of

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CATALOGUE = {
    "TYL": ProductInfo("TYL", "Tylenol 24", "pain", "national", Decimal("6.00")),
    "OWN": ProductInfo("OWN", "Store paracetamol", "pain", "store", Decimal("2.00")),
}


def line(
    member: str, sku: str, price: str = "5.00", *, brand: Literal["national", "store"] = "national"
) -> Purchase:
    return Purchase(
        member=member,
        sku=sku,
        category="pain",
        brand=brand,
        price=Decimal(price),
        at=NOW - timedelta(days=3),
        transaction_id=f"{member}-{sku}",
    )


def mix(member: str, national: int, store: int) -> list[Purchase]:
    return [line(member, "TYL")] * national + [line(member, "OWN")] * store


def test_exactly_70_percent_national_is_national_loyal() -> None:
    segs = segments({"m": mix("m", 7, 3)}, CATALOGUE)
    assert segs[("m", "pain")].loyalty == "national"
    assert segments({"m": mix("m", 69, 31)}, CATALOGUE)[("m", "pain")].loyalty == "swinger"


def test_exactly_30_percent_national_is_store_loyal() -> None:
    assert segments({"m": mix("m", 3, 7)}, CATALOGUE)[("m", "pain")].loyalty == "store"
    assert segments({"m": mix("m", 31, 69)}, CATALOGUE)[("m", "pain")].loyalty == "swinger"


def test_loyalty_and_usage_cut_offs() -> None:
    assert loyalty_of(Fraction(7, 10)) == "national"
    assert loyalty_of(Fraction(3, 10)) == "store"
    assert loyalty_of(Fraction(1, 2)) == "swinger"
    assert usage_of(Fraction(1, 3) - Fraction(1, 10**9)) == "low"
    assert usage_of(Fraction(1, 3)) == "medium"
    assert usage_of(Fraction(2, 3)) == "high"


def test_catalogue_brand_wins_over_the_purchase_record() -> None:
    # the line says national, but the catalogue knows OWN is the store brand
    ps = [line("m", "OWN", brand="national")] * 3
    assert segments({"m": ps}, CATALOGUE)[("m", "pain")].loyalty == "store"
    # an sku the catalogue does not know keeps the purchase's own facts
    unknown = [line("m", "GEN", brand="store")]
    assert segments({"m": unknown}, {})[("m", "pain")].loyalty == "store"


def test_usage_tertiles_across_the_category_buyers() -> None:
    by_member = {
        "light": [line("light", "TYL", "2.00")],
        "mid": [line("mid", "TYL", "10.00")],
        "heavy": [line("heavy", "TYL", "40.00")],
    }
    segs = segments(by_member, CATALOGUE)
    assert segs[("light", "pain")].usage == "low"
    assert segs[("mid", "pain")].usage == "medium"
    assert segs[("heavy", "pain")].usage == "high"
    # a lone buyer, or buyers who all spend the same, sit in the middle
    assert segments({"solo": [line("solo", "TYL")]}, CATALOGUE)[("solo", "pain")].usage == "medium"


def test_grid_counts_members_in_all_nine_cells() -> None:
    by_member = {
        "a": mix("a", 10, 0) * 4,
        "b": mix("b", 0, 10),
        "c": mix("c", 5, 5) * 2,
    }
    segs = segments(by_member, CATALOGUE)
    grid = segment_grid(segs, "pain")
    assert len(grid) == 9
    assert sum(grid.values()) == 3
    assert grid[("national", "high")] == 1
    assert grid[("store", "low")] == 1
    assert grid[("swinger", "medium")] == 1
    assert segment_grid(segs, "dairy") == {k: 0 for k in grid}
    assert segment_grid(segs) == grid


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from("abcdefgh"),
        st.tuples(st.integers(0, 6), st.integers(0, 6)).filter(lambda t: sum(t) > 0),
    )
)
def test_every_buyer_gets_exactly_one_cell(raw: dict[str, tuple[int, int]]) -> None:
    by_member = {m: mix(m, n, s) for m, (n, s) in raw.items()}
    segs = segments(by_member, CATALOGUE)
    assert set(segs) == {(m, "pain") for m in raw}
    assert sum(segment_grid(segs).values()) == len(raw)
