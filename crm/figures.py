"""Store figures: acquisition, retention, the in-store funnel, retargeting, co-purchases and Pareto shares.

Pure: every function takes its history as arguments (and ``now`` or a period when it needs time) and
returns frozen values. Ratios are ``Decimal`` rounded to four places (:data:`PLACES`); a ratio whose
denominator is zero is ``None`` (no visitors, no campaign members…), never a made-up zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Literal

from crm.model import MemberProfile, ProductInfo, Purchase, Visit

PLACES = Decimal("0.0001")
ZERO = Decimal(0)

__all__ = [
    "BasketEvent",
    "Campaign",
    "CoPurchase",
    "Funnel",
    "Pareto",
    "PutBack",
    "RetargetCandidate",
    "RetentionPeriod",
    "acquisition_rate",
    "co_purchase_pairs",
    "funnel",
    "put_back_candidates",
    "retention",
    "revenue_pareto",
    "unit_acquisition_cost",
]


def ratio(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    """``numerator / denominator`` to four places, or ``None`` when there is nothing to divide by."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(PLACES)


# -- acquisition -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Campaign:
    """A paid acquisition campaign: its cost and the window its new members joined in."""

    name: str
    cost: Decimal
    started_at: datetime
    ended_at: datetime


def _joined(members: Iterable[MemberProfile], start: datetime, end: datetime) -> set[str]:
    return {m.id for m in members if start <= m.joined_at < end}


def acquisition_rate(members: Iterable[MemberProfile], visits: Iterable[Visit], start: datetime,
                     end: datetime) -> Decimal | None:
    """New members who joined in ``[start, end)`` per distinct visitor in that period.

    A visitor is anybody whose card was read in the store in the period (new members included), so the
    rate is at most 1 when every new member also visited.
    """
    visitors = {v.member for v in visits if start <= v.at < end}
    return ratio(len(_joined(members, start, end)), len(visitors))


def unit_acquisition_cost(campaign: Campaign, members: Iterable[MemberProfile]) -> Decimal | None:
    """The campaign's cost per member who joined during it (money, two places); ``None`` if nobody did."""
    joined = len(_joined(members, campaign.started_at, campaign.ended_at))
    if not joined:
        return None
    return (campaign.cost / joined).quantize(Decimal("0.01"))


# -- retention -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionPeriod:
    """Members active (bought something) in ``[start, end)`` and how many of them bought in the next period."""

    start: datetime
    end: datetime
    active: int
    retained: int
    rate: Decimal | None


def retention(purchases: Iterable[Purchase], start: datetime, period_days: int, periods: int
              ) -> tuple[RetentionPeriod, ...]:
    """Retention per period: members active in period t who are active again in t + 1.

    ``periods`` periods of ``period_days`` days from ``start``; the last period has no successor, so
    one fewer rate than periods is returned.
    """
    if period_days <= 0 or periods < 2:
        return ()
    length = timedelta(days=period_days)
    active: list[set[str]] = [set() for _ in range(periods)]
    for p in purchases:
        index = (p.at - start) // length
        if 0 <= index < periods:
            active[index].add(p.member)
    return tuple(
        RetentionPeriod(start + i * length, start + (i + 1) * length, len(active[i]),
                        len(active[i] & active[i + 1]), ratio(len(active[i] & active[i + 1]), len(active[i])))
        for i in range(periods - 1))


# -- the in-store funnel ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BasketEvent:
    """A basket change as the funnel sees it (from ingest's ``BasketChanged``)."""

    member: str
    sku: str
    change: Literal["added", "removed"]
    at: datetime


@dataclass(frozen=True, slots=True)
class Funnel:
    """Visits that reached each step: entered ≥ picked ≥ basket ≥ paid."""

    entered: int
    picked: int
    basket: int
    paid: int

    def rates(self) -> dict[str, Decimal | None]:
        """Each step as a share of the step before (what drops off where)."""
        return {"picked": ratio(self.picked, self.entered), "basket": ratio(self.basket, self.picked),
                "paid": ratio(self.paid, self.basket)}


def _visit_index(visits: Sequence[Visit]) -> dict[str, list[tuple[datetime, int]]]:
    by_member: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for i, v in enumerate(visits):
        by_member[v.member].append((v.at, i))
    for entries in by_member.values():
        entries.sort()
    return by_member


def _owning_visit(index: Mapping[str, list[tuple[datetime, int]]], member: str, at: datetime) -> int | None:
    """The member's latest visit that started at or before ``at``."""
    owner = None
    for started, i in index.get(member, ()):
        if started > at:
            break
        owner = i
    return owner


def funnel(visits: Sequence[Visit], basket_events: Iterable[BasketEvent], purchases: Iterable[Purchase]
           ) -> Funnel:
    """The in-store funnel over ``visits``: entered → picked → basket → paid.

    Each basket event and purchase belongs to the member's latest visit that began at or before it.
    *picked*: something went into a basket; *basket*: something was still in it at the end (not all put
    back); *paid*: the visit ended in a sale (a purchase, or the visit's own ``bought``). Each step counts
    the visits that reached it or a later one, so the funnel never grows.
    """
    index = _visit_index(visits)
    reached = [0] * len(visits)  # 1 picked, 2 basket, 3 paid
    held: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in sorted(basket_events, key=lambda e: e.at):
        owner = _owning_visit(index, e.member, e.at)
        if owner is None:
            continue
        held[owner][e.sku] += 1 if e.change == "added" else -1
        if e.change == "added":
            reached[owner] = max(reached[owner], 1)
    for owner, skus in held.items():
        if any(n > 0 for n in skus.values()):
            reached[owner] = max(reached[owner], 2)
    for p in purchases:
        owner = _owning_visit(index, p.member, p.at)
        if owner is not None:
            reached[owner] = 3
    for i, v in enumerate(visits):
        if v.bought:
            reached[i] = 3
    return Funnel(len(visits), sum(1 for r in reached if r >= 1), sum(1 for r in reached if r >= 2),
                  sum(1 for r in reached if r >= 3))


# -- put-back retargeting --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutBack:
    """An item a member took and put back (``BasketChanged`` with change ``removed``)."""

    member: str
    sku: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RetargetCandidate:
    """An item put back and not bought since: an offer for it on the member's next visit."""

    member: str
    sku: str
    put_back_at: datetime
    reason: str


def put_back_candidates(put_backs: Iterable[PutBack], purchases: Iterable[Purchase],
                        members: Mapping[str, MemberProfile], products: Mapping[str, ProductInfo],
                        now: datetime, within_days: int = 14) -> tuple[RetargetCandidate, ...]:
    """Put-backs of the last ``within_days`` that the member has not bought since.

    Only members who consented to offers, with no open dispute; a sensitive product only if the member
    opted into reminders. One candidate per member and SKU (the latest put-back), sorted.
    """
    since = now - timedelta(days=within_days)
    bought: dict[tuple[str, str], datetime] = {}
    for p in purchases:
        key = (p.member, p.sku)
        if p.at > bought.get(key, datetime.min.replace(tzinfo=p.at.tzinfo)):
            bought[key] = p.at
    latest: dict[tuple[str, str], datetime] = {}
    for b in put_backs:
        if since <= b.at <= now and b.at > latest.get((b.member, b.sku), since - timedelta(seconds=1)):
            latest[(b.member, b.sku)] = b.at
    out: list[RetargetCandidate] = []
    for (member, sku), at in sorted(latest.items()):
        profile, product = members.get(member), products.get(sku)
        if profile is None or product is None or not profile.consent.offers or profile.open_dispute:
            continue
        if product.sensitive and not profile.consent.reminders:
            continue
        last_bought = bought.get((member, sku))
        if last_bought is not None and last_bought >= at:
            continue
        out.append(RetargetCandidate(member, sku, at, f"put {product.name} back at {at:%Y-%m-%d %H:%M} "
                                                      "and have not bought it since"))
    return tuple(out)


# -- co-purchase pairs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoPurchase:
    """Two SKUs bought in the same transaction: support, confidence (a → b) and lift."""

    a: str
    b: str
    together: int
    support: Decimal
    confidence: Decimal
    lift: Decimal


def co_purchase_pairs(purchases: Iterable[Purchase], min_together: int = 2, limit: int = 20
                      ) -> tuple[CoPurchase, ...]:
    """Pairs of SKUs bought together in at least ``min_together`` transactions, best lift first.

    support = transactions with both / all transactions; confidence = with both / with ``a``;
    lift = confidence / (transactions with ``b`` / all). Each unordered pair appears once, oriented so
    that ``a`` is the rarer SKU (the higher confidence).
    """
    baskets: dict[str, set[str]] = defaultdict(set)
    for p in purchases:
        baskets[p.transaction_id].add(p.sku)
    n = len(baskets)
    single: dict[str, int] = defaultdict(int)
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for skus in baskets.values():
        for sku in skus:
            single[sku] += 1
        for a, b in combinations(sorted(skus), 2):
            pairs[(a, b)] += 1
    out: list[CoPurchase] = []
    for (x, y), together in pairs.items():
        if together < min_together:
            continue
        a, b = (x, y) if (single[x], x) <= (single[y], y) else (y, x)
        confidence = Decimal(together) / single[a]
        lift = confidence / (Decimal(single[b]) / n)
        out.append(CoPurchase(a, b, together, (Decimal(together) / n).quantize(PLACES), confidence.quantize(PLACES),
                              lift.quantize(PLACES)))
    out.sort(key=lambda c: (-c.lift, -c.together, c.a, c.b))
    return tuple(out[:limit])


# -- revenue Pareto --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pareto:
    """Share of revenue from the top ``top`` fraction of members and of products."""

    top: Decimal
    revenue: Decimal
    members: int
    top_members: int
    member_share: Decimal | None
    products: int
    top_products: int
    product_share: Decimal | None
    member_curve: tuple[Decimal, ...]
    """Cumulative revenue share by member rank (best first), one point per member."""


def _top_share(revenue_by: Mapping[str, Decimal], top: Decimal, total: Decimal) -> tuple[int, Decimal | None]:
    ranked = sorted(revenue_by.values(), reverse=True)
    count = math.ceil(len(ranked) * top) if ranked else 0
    return count, ratio(sum(ranked[:count], ZERO), total)


def revenue_pareto(purchases: Iterable[Purchase], top: Decimal = Decimal("0.2")) -> Pareto:
    """Share of revenue from the top ``top`` (default 20 %) of members and of products.

    The top group is ``ceil(count × top)`` members (or products) ranked by revenue, so with 80/20 the
    member share is about 0.8; both shares are ``None`` when there is no revenue.
    """
    by_member: dict[str, Decimal] = defaultdict(lambda: ZERO)
    by_product: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in purchases:
        by_member[p.member] += p.price
        by_product[p.sku] += p.price
    total = sum(by_member.values(), ZERO)
    top_members, member_share = _top_share(by_member, top, total)
    top_products, product_share = _top_share(by_product, top, total)
    curve: list[Decimal] = []
    running = ZERO
    for value in sorted(by_member.values(), reverse=True):
        running += value
        share = ratio(running, total)
        curve.append(share if share is not None else ZERO)
    return Pareto(top, total, len(by_member), top_members, member_share, len(by_product), top_products,
                  product_share, tuple(curve))
