"""Purchase cycles per member x sku."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.cycles import due_between, purchase_cycles
from crm.model import Purchase

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def bought(day: float, *, member: str = "m", sku: str = "COFFEE", tx: str | None = None) -> Purchase:
    return Purchase(
        member=member,
        sku=sku,
        category="hot drinks",
        brand="national",
        price=Decimal("7.50"),
        at=T0 + timedelta(days=day),
        transaction_id=tx or f"{member}-{day}",
    )


def test_one_purchase_gives_no_cycle_the_second_does() -> None:
    assert purchase_cycles([bought(0)]) == {}
    cycles = purchase_cycles([bought(0), bought(10)])
    c = cycles[("m", "COFFEE")]
    assert c.count == 2
    assert c.mean_interval == timedelta(days=10)
    assert c.last == T0 + timedelta(days=10)
    assert c.next_due == T0 + timedelta(days=20)


def test_mean_interval_over_irregular_gaps() -> None:
    c = purchase_cycles([bought(0), bought(6), bought(15), bought(21)])[("m", "COFFEE")]
    assert c.mean_interval == timedelta(days=7)
    assert c.next_due == T0 + timedelta(days=28)
    assert c.count == 4


def test_several_units_in_one_basket_are_one_occasion() -> None:
    ps = [bought(0, tx="t1"), bought(0, tx="t1"), bought(14, tx="t2"), bought(14, tx="t2")]
    c = purchase_cycles(ps)[("m", "COFFEE")]
    assert c.count == 2
    assert c.mean_interval == timedelta(days=14)
    # two lines of one basket only: no interval, no cycle
    assert purchase_cycles([bought(0, tx="t"), bought(0, tx="t")]) == {}


def test_cycles_are_kept_apart_per_member_and_sku() -> None:
    ps = [
        bought(0), bought(7),
        bought(0, sku="TEA"), bought(30, sku="TEA"),
        bought(0, member="n"), bought(3, member="n"),
    ]  # fmt: skip
    cycles = purchase_cycles(ps)
    assert cycles[("m", "COFFEE")].mean_interval == timedelta(days=7)
    assert cycles[("m", "TEA")].mean_interval == timedelta(days=30)
    assert cycles[("n", "COFFEE")].mean_interval == timedelta(days=3)


def test_due_between_is_half_open() -> None:
    cycles = purchase_cycles([bought(0), bought(10)])  # due at day 20
    assert due_between(cycles, T0 + timedelta(days=20), T0 + timedelta(days=34))
    assert not due_between(cycles, T0 + timedelta(days=6), T0 + timedelta(days=20))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 365), min_size=2, max_size=15, unique=True))
def test_next_due_is_one_mean_interval_after_the_last(days: list[int]) -> None:
    c = purchase_cycles([bought(d) for d in days])[("m", "COFFEE")]
    assert c.count == len(days)
    assert c.last == T0 + timedelta(days=max(days))
    assert c.next_due == c.last + c.mean_interval
    span = timedelta(days=max(days) - min(days))
    assert abs(c.mean_interval * (len(days) - 1) - span) < timedelta(microseconds=len(days))
