"""Personal lists: each eligible member's due items, joined with current deals, sized to value.

``build_list`` is pure and deterministic: the same inputs give the same list, with the
same offer ids, so regenerating a list for a (member, period) is idempotent. Every offer
carries a reason the member can read; every offer not made is a ``Refusal`` naming its
rule. The thresholds are in ``CrmSettings`` and documented in docs/crm.md.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from crm import guards
from crm.cycles import Cycle
from crm.model import Deal, DecisionRecord, MemberProfile, Offer, PersonalList, ProductInfo, Purchase, Refusal
from crm.settings import CrmSettings

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
FAST_LANE = "FAST-LANE"
# how far along the base → max range a member's value class puts the discount
VALUE_WEIGHT: Mapping[str, Decimal] = {"A": Decimal(1), "B": Decimal("0.5"), "C": Decimal(0)}
LOYAL_CLASS = "A"
LOYAL_STAGE = "commitment"


def list_id(member: str, period_start: datetime) -> str:
    return f"{member}:{period_start:%Y%m%d}"


def offer_id(member: str, lst: str, sku: str) -> str:
    return f"{member}:{lst}:{sku}"


def average_weekly_spend(
    member: str, purchases: Sequence[Purchase], period_start: datetime, settings: CrmSettings
) -> Decimal:
    """Spend in the list period before ``period_start``, per week."""
    since = period_start - timedelta(days=settings.list_every_days)
    spent = sum(
        (p.price for p in purchases if p.member == member and since <= p.at < period_start), Decimal(0)
    )
    return spent * 7 / Decimal(settings.list_every_days)


def is_loyal(value_class: str, stage: str | None) -> bool:
    return value_class == LOYAL_CLASS or stage == LOYAL_STAGE


def discount_pct(value_class: str, heavy: bool, settings: CrmSettings) -> Decimal:
    """The store's discount for a member: base for class C, growing with value, capped at max.

    ``pct = base + (max − base − heavy_bonus) × weight(class)`` (+ heavy bonus), weight
    C = 0, B = 0.5, A = 1; never above ``max_discount_pct``.
    """
    base, top, bonus = settings.base_discount_pct, settings.max_discount_pct, settings.heavy_user_bonus_pct
    room = max(top - base - bonus, Decimal(0))
    pct = base + room * VALUE_WEIGHT.get(value_class, Decimal(0)) + (bonus if heavy else Decimal(0))
    return min(max(pct, Decimal(0)), top)


def deal_for(product: ProductInfo, deals: Sequence[Deal], at: datetime) -> Deal | None:
    """The best deal valid at ``at`` for the product (its sku first, then its category)."""
    valid = [d for d in deals if d.valid_from <= at < d.valid_to]
    for matches in (
        [d for d in valid if d.sku == product.sku],
        [d for d in valid if d.sku is None and d.category == product.category],
    ):
        if matches:
            return max(matches, key=lambda d: (deal_amount(d, product.price), d.id))
    return None


def deal_amount(deal: Deal, price: Decimal) -> Decimal:
    if deal.discount_abs is not None:
        return deal.discount_abs
    if deal.discount_pct is not None:
        return price * deal.discount_pct / HUNDRED
    return Decimal(0)


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _pct_text(discount: Decimal, price: Decimal) -> str:
    return f"{(discount * HUNDRED / price).quantize(Decimal(1), rounding=ROUND_HALF_UP)} %"


def _interval_text(cycle: Cycle) -> str:
    days = round(cycle.mean_interval.total_seconds() / 86400)
    return "every day" if days == 1 else f"every {days} days"


def build_list(
    member: MemberProfile,
    period_start: datetime,
    purchases: Sequence[Purchase],
    cycles: Mapping[tuple[str, str], Cycle],
    value_class: str,
    heavy_categories: Collection[str],
    deals: Sequence[Deal],
    products: Mapping[str, ProductInfo],
    already_offered: Sequence[Offer],
    contacts_this_week: int,
    settings: CrmSettings,
    *,
    stage: str | None = None,
) -> PersonalList:
    """The member's personal list for the period starting at ``period_start``."""
    lst = list_id(member.id, period_start)
    period_end = period_start + timedelta(days=settings.list_every_days)
    weekly = average_weekly_spend(member.id, purchases, period_start, settings)
    if weekly < settings.spend_threshold_per_week:
        refusal = Refusal(
            member.id,
            None,
            guards.SPEND_THRESHOLD,
            f"average spend {_money(weekly)} a week is below {settings.spend_threshold_per_week}",
        )
        return PersonalList(lst, member.id, period_start, (), (refusal,))
    regeneration = any(
        o.member == member.id and o.id.startswith(f"{member.id}:{lst}:") for o in already_offered
    )
    blocked = guards.check_guards(member, contacts_this_week, settings, regeneration=regeneration)
    if blocked is not None:
        return PersonalList(lst, member.id, period_start, (), (blocked,))

    offers: list[Offer] = []
    refusals: list[Refusal] = []
    on_list: set[str] = set()
    lead, valid = timedelta(days=settings.offer_lead_days), timedelta(days=settings.offer_valid_days)
    mine = sorted((c.next_due, sku, c) for (who, sku), c in cycles.items() if who == member.id)
    for _, sku, cycle in mine:
        if not period_start <= cycle.next_due < period_end:
            continue
        product = products.get(sku)
        if product is None or product.price <= 0:
            continue
        oid = offer_id(member.id, lst, product.sku)
        active_from = cycle.next_due - lead
        deal = deal_for(product, deals, active_from)
        deal_id = deal.id if deal is not None else None
        refused = guards.check_offer_guards(
            member, product, deal_id, oid, active_from, already_offered, settings
        )
        if refused is not None:
            refusals.append(refused)
            continue
        pct = discount_pct(value_class, product.category in heavy_categories, settings)
        store_amount = product.price * pct / HUNDRED
        deal_amt = deal_amount(deal, product.price) if deal is not None else Decimal(0)
        cap = product.price * settings.max_discount_pct / HUNDRED
        discount = _money(min(max(store_amount, deal_amt), cap))
        funded = deal.funded_by if deal is not None and deal_amt >= store_amount else "the store"
        reason = (
            f"{_pct_text(discount, product.price)} off {product.name}: you buy it {_interval_text(cycle)}; "
            f"next due {cycle.next_due:%d %b}; funded by {funded}"
        )
        offers.append(
            Offer(
                oid,
                member.id,
                product.sku,
                "price",
                discount,
                deal_id,
                active_from,
                active_from + valid,
                reason,
            )
        )
        on_list.add(product.sku)

    if is_loyal(value_class, stage):
        coupons, coupon_refusals = _loyal_coupons(
            member, lst, period_start, purchases, products, on_list, already_offered, refusals, settings
        )
        offers.extend(coupons)
        refusals.extend(coupon_refusals)
    if value_class == LOYAL_CLASS:
        offers.append(
            Offer(
                offer_id(member.id, lst, FAST_LANE),
                member.id,
                FAST_LANE,
                "reward",
                Decimal("0.00"),
                None,
                period_start,
                period_end,
                "fast checkout lane: thank you for being one of our best customers",
            )
        )
    return PersonalList(lst, member.id, period_start, tuple(offers), tuple(refusals))


def _loyal_coupons(
    member: MemberProfile,
    lst: str,
    period_start: datetime,
    purchases: Sequence[Purchase],
    products: Mapping[str, ProductInfo],
    on_list: set[str],
    already_offered: Sequence[Offer],
    refused_before: Sequence[Refusal],
    settings: CrmSettings,
) -> tuple[list[Offer], list[Refusal]]:
    """Coupons on the member's own products, most spent-on first, totalling within the budget.

    Each coupon is at most ``max_discount_pct`` of the price; coupons are added until the
    total reaches the lower bound and trimmed so it never exceeds the upper bound. A member
    with too few distinct products gets less than the lower bound.
    """
    low, high = settings.loyal_coupon_budget
    spend: dict[str, Decimal] = {}
    for p in purchases:
        if p.member == member.id and p.sku not in on_list and p.sku in products:
            spend[p.sku] = spend.get(p.sku, Decimal(0)) + p.price
    active_to = period_start + timedelta(days=settings.offer_valid_days)
    coupons: list[Offer] = []
    refusals: list[Refusal] = []
    total = Decimal(0)
    already_refused = {r.sku for r in refused_before}
    for sku in sorted(spend, key=lambda s: (-spend[s], s)):
        if sku in already_refused:
            continue
        if total >= low:
            break
        product = products[sku]
        oid = offer_id(member.id, lst, sku)
        refused = guards.check_offer_guards(
            member, product, None, oid, period_start, already_offered, settings
        )
        if refused is not None:
            refusals.append(refused)
            continue
        amount = _money(min(product.price * settings.max_discount_pct / HUNDRED, high - total))
        if amount <= 0:
            break
        reason = (
            f"loyalty coupon, {amount} off {product.name}: "
            "thank you for doing most of your everyday shopping here"
        )
        coupons.append(Offer(oid, member.id, sku, "price", amount, None, period_start, active_to, reason))
        total += amount
    return coupons, refusals


def coupon_total(personal_list: PersonalList) -> Decimal:
    return sum(
        (o.discount_abs for o in personal_list.offers if o.reason.startswith("loyalty coupon")), Decimal(0)
    )


def decision_records_for(
    personal_list: PersonalList, at: datetime, context: Mapping[str, str] | None = None
) -> tuple[DecisionRecord, ...]:
    """One "offer" record per offer and one "refusal" record per offer not made."""
    ctx = {
        "list_id": personal_list.id,
        "period_start": personal_list.period_start.isoformat(),
        **(context or {}),
    }
    records: list[DecisionRecord] = []
    for offer in personal_list.offers:
        data = {
            "offer_id": offer.id,
            "sku": offer.sku,
            "kind": offer.kind,
            "discount_abs": str(offer.discount_abs),
            "deal_id": offer.deal_id or "",
            "active_from": offer.active_from.isoformat(),
            "active_to": offer.active_to.isoformat(),
        }
        rule = "loyalty_coupon" if offer.reason.startswith("loyalty coupon") else f"{offer.kind}_offer"
        records.append(DecisionRecord("offer", offer.member, rule, offer.reason, at, data, ctx))
    for refusal in personal_list.refusals:
        data = {"sku": refusal.sku or ""}
        records.append(DecisionRecord("refusal", refusal.member, refusal.rule, refusal.reason, at, data, ctx))
    return tuple(records)
