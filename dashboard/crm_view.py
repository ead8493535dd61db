"""What the member and marketing pages show, computed from the store's history with the pure ``crm`` rules.

No I/O here: :class:`StoreHistory` is what the repository read; every figure comes from ``crm``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from crm.cycles import purchase_cycles
from crm.figures import (
    BasketEvent,
    Campaign,
    acquisition_rate,
    co_purchase_pairs,
    funnel,
    retention,
    revenue_pareto,
    unit_acquisition_cost,
)
from crm.model import DecisionRecord, MemberProfile, ProductInfo, Purchase, Visit
from crm.segments import segment_grid, segments
from crm.settings import CrmSettings
from crm.stages import stage_of, stage_transitions
from crm.value import MemberValue, Rfm, abc_classes, rfm_scores, store_values

ZERO = Decimal("0")
RETENTION_PERIODS = 6
"""The marketing page's retention table: this many list periods back from now."""
PARETO_POINTS = 20


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A redeemed offer as the redemptions chart needs it."""

    at: datetime
    saved: Decimal


@dataclass(frozen=True, slots=True)
class StoreHistory:
    """Everything the pages compute from, as read from the repository at ``now``."""

    now: datetime
    settings: CrmSettings
    profiles: Mapping[str, MemberProfile]
    names: Mapping[str, str]
    products: Mapping[str, ProductInfo]
    purchases: Sequence[Purchase]
    visits: Sequence[Visit] = ()
    basket_events: Sequence[BasketEvent] = ()
    campaigns: Sequence[Campaign] = ()
    redemptions: Sequence[Redeemed] = ()
    by_member: dict[str, list[Purchase]] = field(init=False)
    visits_by_member: dict[str, list[Visit]] = field(init=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Purchase]] = {m: [] for m in self.profiles}
        for p in self.purchases:
            grouped.setdefault(p.member, []).append(p)
        object.__setattr__(self, "by_member", grouped)
        visits: dict[str, list[Visit]] = defaultdict(list)
        for v in self.visits:
            visits[v.member].append(v)
        object.__setattr__(self, "visits_by_member", visits)


@dataclass(frozen=True, slots=True)
class MemberFigures:
    """One member's value, scores, class, segments, stage and cycles."""

    value: MemberValue
    rfm: Rfm | None
    abc: str | None
    stage: str
    segments: tuple[tuple[str, str, str, Decimal], ...]  # category, loyalty, usage, spend
    cycles: tuple[tuple[str, Decimal, int, datetime, datetime], ...]  # sku, mean days, count, last, next due
    transitions: tuple[DecisionRecord, ...]


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """The store-wide views every member is measured against."""

    values: Mapping[str, MemberValue]
    rfm: Mapping[str, Rfm]
    abc: Mapping[str, str]
    stages: Mapping[str, str]


def store_figures(h: StoreHistory) -> StoreFigures:
    values = store_values(h.by_member, h.now, h.settings)
    return StoreFigures(
        values=values,
        rfm=rfm_scores(h.by_member, h.now),
        abc=dict(abc_classes({m: v.historical for m, v in values.items()})),
        stages={m: stage_name(h, m) for m in h.by_member},
    )


def stage_name(h: StoreHistory, member: str) -> str:
    return str(stage_of(h.visits_by_member.get(member, []), h.by_member.get(member, []), h.now, h.settings))


def member_figures(h: StoreHistory, store: StoreFigures, member: str) -> MemberFigures:
    own = h.by_member.get(member, [])
    visits = h.visits_by_member.get(member, [])
    spend: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in own:
        spend[p.category] += p.price
    segs = segments(h.by_member, h.products)
    cycles = purchase_cycles(own)
    day = Decimal(86400)
    return MemberFigures(
        value=store.values.get(member) or store_values({member: own}, h.now, h.settings)[member],
        rfm=store.rfm.get(member),
        abc=store.abc.get(member),
        stage=store.stages.get(member) or stage_name(h, member),
        segments=tuple(
            (cat, s.loyalty, s.usage, spend[cat]) for (m, cat), s in sorted(segs.items()) if m == member
        ),
        cycles=tuple(
            sorted(
                ((sku, Decimal(c.mean_interval.total_seconds()) / day, c.count, c.last, c.next_due)
                 for (_, sku), c in cycles.items()),
                key=lambda row: row[4],
            )
        ),
        transitions=tuple(stage_transitions(member, visits, own, h.now, h.settings)),
    )


@dataclass(frozen=True, slots=True)
class HouseholdTotals:
    """A household's members and what they add up to: spend (historical and current value), visits, purchases."""

    id: str
    members: tuple[str, ...]
    historical: Decimal
    current: Decimal
    visits: int
    purchases: int


def household_totals(h: StoreHistory, values: Mapping[str, MemberValue], household: str) -> HouseholdTotals:
    """Sum the household's members' values, visits and purchases (transactions, not lines)."""
    members = tuple(sorted(m for m, p in h.profiles.items() if p.household == household))
    own = [values[m] for m in members if m in values]
    return HouseholdTotals(
        id=household, members=members,
        historical=sum((v.historical for v in own), ZERO), current=sum((v.current for v in own), ZERO),
        visits=sum(len(h.visits_by_member.get(m, [])) for m in members),
        purchases=len({p.transaction_id for m in members for p in h.by_member.get(m, [])}),
    )


@dataclass(frozen=True, slots=True)
class Marketing:
    period_from: datetime
    period_to: datetime
    funnel: tuple[tuple[str, int], ...]
    grid: tuple[tuple[str, str, int], ...]
    pareto_members: tuple[tuple[Decimal, Decimal], ...]
    pareto_products: tuple[tuple[Decimal, Decimal], ...]
    top20_members: Decimal | None
    top20_products: Decimal | None
    new_members: int
    visitors: int
    acquisition_rate: Decimal | None
    campaigns: tuple[tuple[Campaign, int, Decimal | None], ...]  # campaign, members acquired, unit cost
    retention: tuple[tuple[datetime, int, int, Decimal | None], ...]
    redemptions: tuple[tuple[datetime, int, Decimal], ...]
    pairs: tuple[tuple[str, str, Decimal, Decimal, Decimal], ...]


def _curve(shares_by_rank: Sequence[Decimal]) -> tuple[tuple[Decimal, Decimal], ...]:
    """Thin a cumulative-share curve to at most ``PARETO_POINTS`` points: (share of population, share of revenue)."""
    n = len(shares_by_rank)
    if not n:
        return ()
    step = max(1, n // PARETO_POINTS)
    picks = sorted({*range(step - 1, n, step), n - 1})
    return tuple((Decimal(i + 1) / n, shares_by_rank[i]) for i in picks)


def _product_curve(purchases: Sequence[Purchase]) -> tuple[tuple[Decimal, Decimal], ...]:
    by_sku: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in purchases:
        by_sku[p.sku] += p.price
    total = sum(by_sku.values(), ZERO)
    if total <= 0:
        return ()
    running, shares = ZERO, []
    for amount in sorted(by_sku.values(), reverse=True):
        running += amount
        shares.append(running / total)
    return _curve(shares)


def week_start(at: datetime) -> datetime:
    start = at - timedelta(days=at.weekday())
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def marketing(h: StoreHistory) -> Marketing:
    """The marketing page's figures over the last ``RETENTION_PERIODS`` list periods."""
    period = timedelta(days=h.settings.list_every_days)
    start = h.now - period * RETENTION_PERIODS
    visits = [v for v in h.visits if start <= v.at <= h.now]
    purchases = [p for p in h.purchases if p.at <= h.now]
    recent = [p for p in purchases if p.at >= start]
    f = funnel(visits, [e for e in h.basket_events if start <= e.at <= h.now], recent)
    segs = segments({m: [p for p in ps if p.at >= start] for m, ps in h.by_member.items()}, h.products)
    pareto = revenue_pareto(purchases)
    profiles = list(h.profiles.values())
    joined = sum(1 for m in profiles if start <= m.joined_at < h.now)
    weekly: dict[datetime, list[Decimal]] = defaultdict(list)
    for r in h.redemptions:
        weekly[week_start(r.at)].append(r.saved)
    pairs = co_purchase_pairs(purchases, min_together=2, limit=10)
    return Marketing(
        period_from=start,
        period_to=h.now,
        funnel=(("entered", f.entered), ("picked", f.picked), ("basket", f.basket), ("paid", f.paid)),
        grid=tuple((lo, us, n) for (lo, us), n in segment_grid(segs).items()),
        pareto_members=_curve(pareto.member_curve),
        pareto_products=_product_curve(purchases),
        top20_members=pareto.member_share,
        top20_products=pareto.product_share,
        new_members=joined,
        visitors=len({v.member for v in visits}),
        acquisition_rate=acquisition_rate(profiles, visits, start, h.now),
        campaigns=tuple(
            (c, sum(1 for m in profiles if c.started_at <= m.joined_at < c.ended_at), unit_acquisition_cost(c, profiles))
            for c in h.campaigns
        ),
        retention=tuple(
            (r.start, r.active, r.retained, r.rate)
            for r in retention(purchases, start, h.settings.list_every_days, RETENTION_PERIODS)
        ),
        redemptions=tuple((week, len(s), sum(s, ZERO)) for week, s in sorted(weekly.items())),
        pairs=tuple((c.a, c.b, c.support, c.confidence, c.lift) for c in pairs),
    )
