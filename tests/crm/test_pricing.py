"""THE price function: offers discount once, inside their window, never above the list price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.model import Offer, ProductInfo
from crm.pricing import LIST_PRICE, charge_records, price_basket

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
MILK = ProductInfo("milk", "Organic milk 1 l", "dairy", "national", Decimal("2.00"))
BREAD = ProductInfo("bread", "Rye bread", "bakery", "store", Decimal("3.50"))


def offer(sku: str, amount: str, start: datetime = NOW, days: int = 14, oid: str | None = None) -> Offer:
    return Offer(
        oid or f"m1:m1:20260301:{sku}", "m1", sku, "price", Decimal(amount), None, start,
        start + timedelta(days=days), f"{amount} off {sku}",
    )  # fmt: skip


def test_a_matching_active_offer_discounts_one_item_only() -> None:
    basket = price_basket([("t1", MILK), ("t2", MILK), ("t3", BREAD)], [offer("milk", "0.30")], NOW)
    assert [line.discount for line in basket.lines] == [Decimal("0.30"), Decimal("0.00"), Decimal("0.00")]
    assert basket.lines[0].offer_id == "m1:m1:20260301:milk" and basket.lines[1].reason == LIST_PRICE
    assert basket.total == Decimal("7.20") and basket.saved == Decimal("0.30") and basket.points == 7


def test_the_offer_window_is_half_open() -> None:
    o = offer("milk", "0.30", start=NOW, days=14)
    assert price_basket([("t", MILK)], [o], NOW - timedelta(microseconds=1)).saved == 0
    assert price_basket([("t", MILK)], [o], NOW).saved == Decimal("0.30")
    assert price_basket([("t", MILK)], [o], NOW + timedelta(days=14)).saved == 0


def test_rewards_are_not_price_cuts_and_discounts_never_exceed_the_price() -> None:
    reward = Offer("r", "m1", "milk", "reward", Decimal("5"), None, NOW, NOW + timedelta(days=1), "fast lane")
    assert price_basket([("t", MILK)], [reward], NOW).saved == 0
    big = price_basket([("t", MILK)], [offer("milk", "9.99")], NOW)
    assert big.total == Decimal("0.00") and big.saved == Decimal("2.00")


def test_the_best_offer_is_used_first_whatever_order_they_come_in() -> None:
    small, large = offer("milk", "0.10", oid="a"), offer("milk", "0.40", oid="b")
    for offers in ([small, large], [large, small]):
        basket = price_basket([("t1", MILK), ("t2", MILK)], offers, NOW)
        assert [line.offer_id for line in basket.lines] == ["b", "a"]


def test_every_line_charged_has_a_reason() -> None:
    basket = price_basket([("t1", MILK), ("t2", BREAD)], [offer("milk", "0.30")], NOW)
    records = charge_records("m1", basket, NOW, {"transaction_id": "tx1"})
    assert [r.rule for r in records] == ["personal_offer", "list_price"]
    assert records[0].reason == "Organic milk 1 l: 1.70 (0.30 off, 0.30 off milk)"
    assert records[1].data["charged"] == "3.50" and records[1].context == {"transaction_id": "tx1"}


PRODUCTS = [
    ProductInfo(f"s{i}", f"P{i}", "c", "national", Decimal(cents) / 100)
    for i, cents in enumerate((1, 99, 250, 1000))
]


@settings(max_examples=150, deadline=None)
@given(
    line_idx=st.lists(st.integers(0, 3), max_size=12),
    offer_specs=st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 2000), st.integers(-3, 3), st.integers(1, 5)), max_size=8
    ),
)
def test_never_above_list_price_never_twice_and_total_adds_up(
    line_idx: list[int], offer_specs: list[tuple[int, int, int, int]]
) -> None:
    lines = [(f"tag{n}", PRODUCTS[i]) for n, i in enumerate(line_idx)]
    offers = [
        offer(PRODUCTS[i].sku, str(Decimal(c) / 100), NOW + timedelta(days=shift), days, oid=f"o{n}")
        for n, (i, c, shift, days) in enumerate(offer_specs)
    ]
    basket = price_basket(lines, offers, NOW)
    used = [line.offer_id for line in basket.lines if line.offer_id is not None]
    assert len(used) == len(set(used))
    for line in basket.lines:
        assert Decimal(0) <= line.discount <= line.unit_price
    assert basket.total == sum((line.unit_price - line.discount for line in basket.lines), Decimal(0))
    assert basket.total <= sum((p.price for _, p in lines), Decimal(0))
    assert basket.saved == sum((line.discount for line in basket.lines), Decimal(0))
    assert price_basket(lines, list(reversed(offers)), NOW) == basket
