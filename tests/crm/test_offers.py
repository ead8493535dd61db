"""Personal lists: who gets one, what is on it, how big the offers are, and why some are not made."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm import guards
from crm.cycles import purchase_cycles
from crm.model import Consent, Deal, MemberProfile, Offer, PersonalList, ProductInfo, Purchase
from crm.offers import FAST_LANE, build_list, coupon_total, decision_records_for, discount_pct
from crm.pricing import price_basket
from crm.settings import CrmSettings

P = datetime(2026, 3, 2, tzinfo=UTC)  # the period start, a Monday
DAY = timedelta(days=1)
S = CrmSettings()
MILK = ProductInfo("milk", "Organic milk 1 l", "dairy", "national", Decimal("2.00"))
PADS = ProductInfo("pads", "Sanitary pads", "hygiene", "national", Decimal("4.00"), sensitive=True)
FILL = ProductInfo("fill", "Weekly groceries", "grocery", "store", Decimal("46.00"))
PRODUCTS = {p.sku: p for p in (MILK, PADS, FILL)}


def member(offers: bool = True, dispute: bool = False) -> MemberProfile:
    return MemberProfile("m1", None, P - 400 * DAY, Consent(offers=offers), 2, dispute)


def buy(product: ProductInfo, at: datetime, tx: str, price: Decimal | None = None) -> Purchase:
    return Purchase("m1", product.sku, product.category, product.brand, price or product.price, at, tx)


def history(fill: str = "46.00", milk_days: Sequence[float] = (10, 4)) -> list[Purchase]:
    """Milk every 6 days (next due P + 2 days) and a basket bringing the fortnight to 4 + fill."""
    milk = [buy(MILK, P - d * DAY, f"m{d}") for d in milk_days]
    return [*milk, buy(FILL, P - DAY, "f", Decimal(fill))]


def build(
    purchases: Sequence[Purchase] | None = None,
    *,
    who: MemberProfile | None = None,
    value_class: str = "C",
    heavy: frozenset[str] = frozenset(),
    deals: Sequence[Deal] = (),
    products: dict[str, ProductInfo] | None = None,
    already: Sequence[Offer] = (),
    contacts: int = 0,
    settings: CrmSettings = S,
    stage: str | None = None,
) -> PersonalList:
    purchases = history() if purchases is None else list(purchases)
    return build_list(
        who or member(), P, purchases, purchase_cycles(purchases), value_class, heavy, deals,
        products or PRODUCTS, already, contacts, settings, stage=stage,
    )  # fmt: skip


def test_spending_25_a_week_gets_a_list_and_24_99_does_not() -> None:
    below = build(history(fill="45.98"))  # 49.98 in a fortnight = 24.99 a week
    assert below.offers == () and [r.rule for r in below.refusals] == [guards.SPEND_THRESHOLD]
    assert "24.99" in below.refusals[0].reason
    at = build(history(fill="46.00"))  # 50.00 = 25.00 a week
    assert [o.sku for o in at.offers] == ["milk"] and at.refusals == ()


def test_spend_counts_over_the_fortnight_before_the_period() -> None:
    milk = [buy(MILK, P - 10 * DAY, "a"), buy(MILK, P - 4 * DAY, "b")]
    first_day = [*milk, buy(FILL, P - 14 * DAY, "f")]
    assert build(first_day).offers  # the fortnight's first instant counts
    too_early = [*milk, buy(FILL, P - 14 * DAY - timedelta(microseconds=1), "f")]
    assert not build(too_early).offers
    on_the_day = [*milk, buy(FILL, P, "f")]  # the period's own purchases count for the next list
    assert not build(on_the_day).offers


def test_items_due_within_the_14_day_period_are_listed() -> None:
    def due_at(offset: timedelta) -> list[str]:
        last = P + offset - 6 * DAY
        return [o.sku for o in build([buy(MILK, last - 6 * DAY, "a"), buy(MILK, last, "b"),
                                      buy(FILL, P - DAY, "f", Decimal(50))]).offers]  # fmt: skip

    assert due_at(timedelta(0)) == ["milk"]
    assert due_at(-timedelta(microseconds=1)) == []
    assert due_at(14 * DAY - timedelta(microseconds=1)) == ["milk"]
    assert due_at(14 * DAY) == []  # due on the next list


def test_the_offer_becomes_active_lead_days_before_it_is_due() -> None:
    (offer,) = build().offers
    due = P + 2 * DAY
    assert offer.active_from == due - 3 * DAY and offer.active_to == offer.active_from + 14 * DAY
    before = price_basket([("t", MILK)], [offer], offer.active_from - timedelta(microseconds=1))
    on_edge = price_basket([("t", MILK)], [offer], offer.active_from)
    assert before.saved == 0 and on_edge.saved == offer.discount_abs


def test_the_reason_says_what_why_when_and_who_pays() -> None:
    (offer,) = build().offers
    assert offer.reason == "5 % off Organic milk 1 l: you buy it every 6 days; next due 04 Mar; funded by the store"
    assert offer.id == "m1:m1:20260302:milk" and offer.kind == "price" and offer.deal_id is None


def test_the_discount_grows_with_value_between_base_and_max() -> None:
    assert [discount_pct(c, False, S) for c in ("C", "B", "A")] == [Decimal(5), Decimal("12.5"), Decimal(20)]
    assert [o.discount_abs for o in build(value_class="B").offers] == [Decimal("0.25")]
    assert discount_pct("unknown", False, S) == S.base_discount_pct
    assert discount_pct("A", True, S) == S.max_discount_pct
    generous = CrmSettings(heavy_user_bonus_pct=Decimal(30))
    assert discount_pct("A", True, generous) == generous.max_discount_pct  # never above the max


def test_heavy_users_of_a_category_get_the_bonus() -> None:
    plain = build().offers[0].discount_abs
    heavy = build(heavy=frozenset({"dairy"})).offers[0].discount_abs
    assert (plain, heavy) == (Decimal("0.10"), Decimal("0.20"))
    assert build(heavy=frozenset({"bakery"})).offers[0].discount_abs == plain


def deal(pct: str | None = None, abs_: str | None = None, *, sku: str | None = "milk", category: str | None = None,
         to: datetime = P + 30 * DAY) -> Deal:  # fmt: skip
    return Deal("d1", sku, category, pct and Decimal(pct), abs_ and Decimal(abs_), P - 30 * DAY, to, "Alpine Dairy")


def test_a_manufacturers_deal_joins_the_list_and_is_capped_at_the_max() -> None:
    (offer,) = build(deals=[deal("10")]).offers
    assert offer.deal_id == "d1" and offer.discount_abs == Decimal("0.20")
    assert offer.reason.endswith("funded by Alpine Dairy") and offer.reason.startswith("10 % off")
    (capped,) = build(deals=[deal("60")]).offers
    assert capped.discount_abs == Decimal("0.50")  # 25 % of 2.00
    (by_category,) = build(deals=[deal(abs_="0.30", sku=None, category="dairy")]).offers
    assert by_category.discount_abs == Decimal("0.30") and by_category.deal_id == "d1"
    (richer,) = [o for o in build(deals=[deal("1")], value_class="A").offers if o.sku == "milk"]  # store's is bigger
    assert richer.discount_abs == Decimal("0.40") and richer.reason.endswith("funded by the store")


def test_a_deal_that_has_ended_by_the_activation_is_not_used() -> None:
    (offer,) = build(deals=[deal("10", to=P - DAY)]).offers
    assert offer.deal_id is None


def loyal_history(price: str, n: int = 6) -> tuple[list[Purchase], dict[str, ProductInfo]]:
    products = {"milk": MILK}  # the weekly basket is not coupon material here
    purchases = history()
    for i in range(n):
        p = ProductInfo(f"x{i}", f"Item {i}", "grocery", "national", Decimal(price))
        products[p.sku] = p
        purchases.append(buy(p, P - (40 + i) * DAY, f"x{i}", Decimal(price) + i))  # x0 least spent-on
    return purchases, products


def test_loyal_members_get_coupons_within_the_30_to_40_budget() -> None:
    for price, expected in (("40.00", "30.00"), ("36.00", "36.00"), ("100.00", "40.00"), ("60.00", "30.00")):
        purchases, products = loyal_history(price)
        lst = build(purchases, value_class="A", products=products)
        assert coupon_total(lst) == Decimal(expected), price
    purchases, products = loyal_history("100.00")
    coupons = [o for o in build(purchases, value_class="A", products=products).offers if o.sku.startswith("x")]
    assert [(o.sku, o.discount_abs) for o in coupons] == [("x5", Decimal("25.00")), ("x4", Decimal("15.00"))]
    assert all(o.active_from == P and o.active_to == P + 14 * DAY for o in coupons)


def test_few_products_give_less_than_the_budget_and_only_loyal_members_get_coupons() -> None:
    purchases, products = loyal_history("10.00", n=2)
    assert coupon_total(build(purchases, value_class="A", products=products)) == Decimal("5.00")
    purchases, products = loyal_history("40.00")
    assert coupon_total(build(purchases, value_class="B", products=products)) == 0
    assert coupon_total(build(purchases, value_class="B", stage="commitment", products=products)) == Decimal(30)


def test_the_top_tier_gets_the_fast_lane_reward() -> None:
    top = build(value_class="A")
    (reward,) = [o for o in top.offers if o.kind == "reward"]
    assert reward.sku == FAST_LANE and reward.discount_abs == 0 and reward.active_to == P + 14 * DAY
    assert all(o.kind == "price" for o in build(value_class="B", stage="commitment").offers)


def test_regenerating_a_list_gives_the_same_ids_and_content() -> None:
    purchases, products = loyal_history("40.00")
    first = build(purchases, value_class="A", products=products, deals=[deal("10")])
    again = build(purchases, value_class="A", products=products, deals=[deal("10")], already=first.offers,
                  contacts=2)  # fmt: skip
    assert again == first and len({o.id for o in first.offers}) == len(first.offers)


def test_each_guard_rail_refuses_with_its_rule() -> None:
    assert [r.rule for r in build(who=member(offers=False)).refusals] == [guards.NO_CONSENT]
    assert [r.rule for r in build(who=member(dispute=True)).refusals] == [guards.OPEN_DISPUTE]
    capped = build(contacts=2)
    assert capped.offers == () and [r.rule for r in capped.refusals] == [guards.FREQUENCY_CAP]
    pads = [buy(PADS, P - 12 * DAY, "p1"), buy(PADS, P - 2 * DAY, "p2")]
    sensitive = build([*history(), *pads])
    assert [o.sku for o in sensitive.offers] == ["milk"]
    assert [(r.sku, r.rule) for r in sensitive.refusals] == [("pads", guards.SENSITIVE)]
    last_time = Offer("m1:m1:20260216:milk", "m1", "milk", "price", Decimal("0.10"), None, P - 9 * DAY, P - DAY, "x")
    assert build(already=[last_time]).offers  # ended as this one starts (due P + 2 days, lead 3)
    still = Offer("m1:m1:20260216:milk", "m1", "milk", "price", Decimal("0.10"), None, P - DAY, P + 13 * DAY, "x")
    twice = build(already=[still])
    assert twice.offers == () and [r.rule for r in twice.refusals] == [guards.NEVER_TWICE]


def test_every_offer_and_refusal_becomes_a_decision_record() -> None:
    pads = [buy(PADS, P - 12 * DAY, "p1"), buy(PADS, P - 2 * DAY, "p2")]
    lst = build([*history(), *pads], value_class="A")
    records = decision_records_for(lst, P)
    assert [(r.kind, r.rule) for r in records] == [
        ("offer", "price_offer"), ("offer", "loyalty_coupon"), ("offer", "reward_offer"),
        ("refusal", guards.SENSITIVE),
    ]  # fmt: skip
    assert records[0].reason == lst.offers[0].reason and records[0].context["list_id"] == "m1:20260302"
    assert records[3].data == {"sku": "pads"}
