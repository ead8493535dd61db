"""Store figures: what a store manager reads off the KPI panel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm.figures import (
    BasketEvent,
    Campaign,
    PutBack,
    acquisition_rate,
    co_purchase_pairs,
    funnel,
    put_back_candidates,
    retention,
    revenue_pareto,
    unit_acquisition_cost,
)
from crm.model import Consent, MemberProfile, ProductInfo, Purchase, Visit

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def member(id: str, joined: datetime = T0, *, offers: bool = True, reminders: bool = False,
           dispute: bool = False) -> MemberProfile:
    return MemberProfile(id, None, joined, Consent(offers=offers, reminders=reminders), open_dispute=dispute)


def buy(who: str, sku: str, at: datetime, price: str = "1.00", tx: str | None = None) -> Purchase:
    return Purchase(who, sku, "food", "national", Decimal(price), at, tx or f"{who}:{at.isoformat()}")


def test_acquisition_rate_is_new_members_per_distinct_visitor_in_the_period() -> None:
    end = T0 + timedelta(days=7)
    members = [member("old", T0 - timedelta(days=30)), member("new1", T0), member("new2", end - timedelta(seconds=1)),
               member("later", end)]
    visits = [Visit("old", T0, True), Visit("old", T0 + timedelta(days=1), True), Visit("new1", T0, False),
              Visit("new2", end - timedelta(seconds=1), True), Visit("later", end, True)]
    assert acquisition_rate(members, visits, T0, end) == Decimal("0.6667")  # 2 new of 3 visitors
    assert acquisition_rate(members, [], T0, end) is None


def test_unit_acquisition_cost_divides_the_campaign_cost_by_members_who_joined_during_it() -> None:
    campaign = Campaign("flyers", Decimal("300"), T0, T0 + timedelta(days=14))
    members = [member("a", T0), member("b", T0 + timedelta(days=13)), member("c", T0 + timedelta(days=14)),
               member("d", T0 - timedelta(seconds=1))]
    assert unit_acquisition_cost(campaign, members) == Decimal("150.00")
    assert unit_acquisition_cost(campaign, []) is None


def test_retention_counts_members_active_again_in_the_next_period() -> None:
    week = timedelta(days=7)
    purchases = [buy("a", "x", T0), buy("b", "x", T0), buy("c", "x", T0 + timedelta(days=6)),
                 buy("a", "x", T0 + week), buy("c", "x", T0 + week + timedelta(days=6)),
                 buy("a", "x", T0 + 2 * week)]
    periods = retention(purchases, T0, 7, 3)
    assert [(p.active, p.retained, p.rate) for p in periods] == [(3, 2, Decimal("0.6667")), (2, 1, Decimal("0.5"))]
    assert retention([], T0, 7, 3)[0].rate is None
    assert retention(purchases, T0, 7, 1) == ()


def test_funnel_counts_each_visit_once_at_its_furthest_step_and_never_grows() -> None:
    visits = [Visit("a", T0, False), Visit("b", T0, False), Visit("c", T0, False), Visit("d", T0, False),
              Visit("a", T0 + timedelta(days=1), False)]
    events = [BasketEvent("b", "x", "added", T0 + timedelta(minutes=1)),
              BasketEvent("b", "x", "removed", T0 + timedelta(minutes=2)),  # b put it back: picked only
              BasketEvent("c", "x", "added", T0 + timedelta(minutes=1)),  # c kept it but did not pay
              BasketEvent("a", "x", "added", T0 + timedelta(minutes=1)),
              BasketEvent("z", "x", "added", T0)]  # no visit: ignored
    purchases = [buy("a", "x", T0 + timedelta(minutes=3))]  # a's first visit paid
    f = funnel(visits, events, purchases)
    assert (f.entered, f.picked, f.basket, f.paid) == (5, 3, 2, 1)
    assert f.rates() == {"picked": Decimal("0.6"), "basket": Decimal("0.6667"), "paid": Decimal("0.5")}


def test_a_put_back_item_not_bought_since_is_retargeted_with_consent_only() -> None:
    products = {"x": ProductInfo("x", "Coffee", "food", "national", Decimal("4")),
                "p": ProductInfo("p", "Test kit", "pharmacy", "national", Decimal("9"), sensitive=True)}
    members = {"a": member("a"), "b": member("b", offers=False), "c": member("c", dispute=True),
               "d": member("d"), "e": member("e", reminders=True)}
    now = T0 + timedelta(days=3)
    put_backs = [PutBack("a", "x", T0), PutBack("b", "x", T0), PutBack("c", "x", T0), PutBack("d", "x", T0),
                 PutBack("a", "p", T0), PutBack("e", "p", T0), PutBack("e", "x", now - timedelta(days=15))]
    purchases = [buy("d", "x", T0 + timedelta(days=1))]
    got = put_back_candidates(put_backs, purchases, members, products, now)
    assert [(c.member, c.sku) for c in got] == [("a", "x"), ("e", "p")]
    assert "Coffee" in got[0].reason


def test_co_purchase_pairs_report_support_confidence_and_lift() -> None:
    lines = []
    for i in range(10):  # beer in 4 of 10 baskets, diapers in 5, together in 4; bread everywhere
        tx = f"t{i}"
        lines.append(buy("m", "bread", T0, tx=tx))
        if i < 4:
            lines.append(buy("m", "beer", T0, tx=tx))
        if i < 5:
            lines.append(buy("m", "diapers", T0, tx=tx))
    pairs = co_purchase_pairs(lines)
    best = pairs[0]
    assert (best.a, best.b, best.together) == ("beer", "diapers", 4)
    assert best.support == Decimal("0.4") and best.confidence == Decimal("1") and best.lift == Decimal("2")
    bread = [p for p in pairs if "bread" in (p.a, p.b)]
    assert all(p.lift == Decimal("1") for p in bread)
    assert co_purchase_pairs(lines, min_together=5) == tuple(p for p in pairs if p.together >= 5)


def test_revenue_pareto_shares_of_the_top_fifth() -> None:
    purchases = [buy("whale", "a", T0, "80")] + [buy(f"m{i}", "b", T0, "5") for i in range(4)]
    pareto = revenue_pareto(purchases)
    assert (pareto.members, pareto.top_members, pareto.member_share) == (5, 1, Decimal("0.8"))
    assert (pareto.products, pareto.top_products, pareto.product_share) == (2, 1, Decimal("0.8"))
    assert pareto.member_curve[-1] == Decimal("1")
    assert list(pareto.member_curve) == sorted(pareto.member_curve)
    empty = revenue_pareto([])
    assert empty.member_share is None and empty.revenue == 0
