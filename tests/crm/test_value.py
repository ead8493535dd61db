"""Member value, RFM quintiles and ABC classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.model import Purchase
from crm.settings import CrmSettings
from crm.value import (
    GROSS_MARGIN_RATE,
    LIFETIME_HORIZON_WEEKS,
    abc_classes,
    growth_factor,
    member_value,
    rfm_scores,
    store_values,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
S = CrmSettings()


def buy(
    member: str,
    days_ago: float,
    price: str,
    *,
    sku: str = "MILK",
    category: str = "dairy",
    tx: str | None = None,
) -> Purchase:
    at = NOW - timedelta(days=days_ago)
    return Purchase(
        member=member,
        sku=sku,
        category=category,
        brand="national",
        price=Decimal(price),
        at=at,
        transaction_id=tx or f"{member}-{days_ago}",
    )


def test_historical_counts_all_spend_current_only_the_window() -> None:
    ps = [buy("m", 200, "10.00"), buy("m", 30, "5.50"), buy("m", 1, "4.50")]
    v = member_value(ps, NOW, S)
    assert v.historical == Decimal("20.00")
    assert v.current == Decimal("10.00")


def test_current_window_edge_is_inclusive_at_exactly_90_days() -> None:
    on_edge = buy("m", 90, "7.00")
    just_out = Purchase(**{**_asdict(buy("m", 90, "3.00")), "at": NOW - timedelta(days=90, seconds=1)})
    v = member_value([on_edge, just_out], NOW, S)
    assert v.current == Decimal("7.00")
    assert v.historical == Decimal("10.00")


def _asdict(p: Purchase) -> dict[str, object]:
    return {f: getattr(p, f) for f in p.__slots__}


def test_future_purchases_are_ignored() -> None:
    v = member_value([buy("m", -1, "9.99")], NOW, S)
    assert v.historical == Decimal("0.00")
    assert v.lifetime == Decimal("0.00")


def test_weekly_spend_over_the_observed_part_of_the_window() -> None:
    # $30 every week for the whole 90-day window: 13 baskets / (90 / 7) weeks
    long_member = [buy("m", 90 - 7 * w, "30.00") for w in range(13)]
    assert member_value(long_member, NOW, S).weekly_spend == Decimal("30.33")
    # older history does not stretch the window
    older = [*long_member, buy("m", 200, "500.00")]
    assert member_value(older, NOW, S).weekly_spend == Decimal("30.33")
    # a two-week-old member, $60 -> $30/week
    new_member = [buy("n", 14, "30.00"), buy("n", 7, "30.00")]
    assert member_value(new_member, NOW, S).weekly_spend == Decimal("30.00")
    # a first-day member is judged over at least one week
    assert member_value([buy("d", 0, "40.00")], NOW, S).weekly_spend == Decimal("40.00")


def test_lifetime_is_weekly_margin_times_remaining_weeks() -> None:
    ps = [buy("m", 7, "50.00"), buy("m", 0, "50.00")]  # $100 over 7 days, bought today
    v = member_value(ps, NOW, S)
    expected = v.weekly_spend * GROSS_MARGIN_RATE * LIFETIME_HORIZON_WEEKS
    assert v.lifetime == expected.quantize(Decimal("0.01"))
    # idle for the whole dissolution period: nothing left
    gone = member_value([buy("g", 60, "50.00")], NOW, S)
    assert gone.lifetime == Decimal("0.00")
    # half-way to dissolution: half the horizon
    half = member_value([buy("h", 30, "70.00")], NOW, S)
    assert half.lifetime == (half.weekly_spend * GROSS_MARGIN_RATE * LIFETIME_HORIZON_WEEKS / 2).quantize(
        Decimal("0.01")
    )


def test_potential_grows_for_members_narrower_than_the_store() -> None:
    assert growth_factor(2, Decimal(4)) == Decimal("1.5")
    assert growth_factor(5, Decimal(4)) == Decimal(1)
    assert growth_factor(0, Decimal(4)) == Decimal(2)
    assert growth_factor(3, None) == Decimal(1)
    narrow = [buy("n", 1, "20.00")]
    broad = [buy("b", 1, "20.00", category=c, sku=c) for c in ("dairy", "bakery", "produce")]
    values = store_values({"n": narrow, "b": broad}, NOW, S)  # average breadth 2
    assert values["n"].potential == Decimal("30.00")  # 20 x 1.5
    assert values["b"].potential == values["b"].current


def test_rfm_quintiles_rank_members() -> None:
    by_member = {
        f"m{i}": [buy(f"m{i}", 50 - 10 * i, str(10 * (i + 1)), tx=f"t{i}-{k}") for k in range(i + 1)]
        for i in range(5)
    }
    scores = rfm_scores(by_member, NOW)
    assert [scores[f"m{i}"].r for i in range(5)] == [1, 2, 3, 4, 5]
    assert [scores[f"m{i}"].f for i in range(5)] == [1, 2, 3, 4, 5]
    assert [scores[f"m{i}"].m for i in range(5)] == [1, 2, 3, 4, 5]


def test_rfm_ties_share_a_score_and_non_buyers_rank_lowest() -> None:
    by_member = {"a": [buy("a", 1, "10")], "b": [buy("b", 1, "10")], "c": []}
    scores = rfm_scores(by_member, NOW)
    assert scores["a"] == scores["b"]
    assert scores["c"].r == scores["c"].f == scores["c"].m == 1
    assert scores["a"].r > 1


def test_abc_top_value_holders_are_a() -> None:
    # one member holds 80 %: only they are A; the next holds 15 %: B; the rest C
    classes = abc_classes({"big": Decimal(80), "mid": Decimal(15), "small": Decimal(5), "none": Decimal(0)})
    assert classes == {"big": "A", "mid": "B", "small": "C", "none": "C"}


def test_abc_boundary_member_starting_exactly_at_80_percent_is_b() -> None:
    classes = abc_classes({"a1": Decimal(40), "a2": Decimal(40), "x": Decimal(10), "y": Decimal(10)})
    assert classes["a1"] == classes["a2"] == "A"
    assert classes["x"] == "B"  # ranked above it: exactly 80 %
    # 'x' and 'y' tie; ids break the tie, 'y' starts at 90 % -> B
    assert classes["y"] == "B"
    edge = abc_classes({"a": Decimal(95), "c": Decimal(5)})
    assert edge == {"a": "A", "c": "C"}  # 'c' starts at exactly 95 %


def test_abc_with_no_revenue_is_all_c() -> None:
    assert abc_classes({"a": Decimal(0), "b": Decimal(0)}) == {"a": "C", "b": "C"}
    assert abc_classes({}) == {}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(0, 10_000), max_size=30))
def test_abc_is_monotone_in_value(raw: dict[str, int]) -> None:
    values = {k: Decimal(v) for k, v in raw.items()}
    classes = abc_classes(values)
    order = {"A": 0, "B": 1, "C": 2}
    for a in values:
        for b in values:
            if values[a] > values[b]:
                assert order[classes[a]] <= order[classes[b]]
    positive = [k for k, v in values.items() if v > 0]
    if positive:
        assert any(classes[k] == "A" for k in positive)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(1, 10_000)), max_size=20))
def test_current_never_exceeds_historical(rows: list[tuple[int, int]]) -> None:
    ps = [buy("m", d, str(Decimal(c) / 100), tx=f"t{i}") for i, (d, c) in enumerate(rows)]
    v = member_value(ps, NOW, S)
    assert Decimal(0) <= v.current <= v.historical
    assert v.potential >= v.current
    assert v.lifetime >= 0
