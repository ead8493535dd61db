"""Member value: historical, current, potential and lifetime; RFM scores; ABC classes.

All formulas and cut-offs are documented in docs/crm.md ("Value").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Literal

from crm.model import Purchase
from crm.settings import CrmSettings

CENT = Decimal("0.01")
ZERO = Decimal("0")

#: Share of a sale that is gross margin, used for lifetime value.
GROSS_MARGIN_RATE = Decimal("0.25")
#: How far ahead lifetime value looks for a fully active member, in weeks.
LIFETIME_HORIZON_WEEKS = 104
#: Largest growth factor applied to current value for potential value.
MAX_GROWTH_FACTOR = Decimal("2")
#: ABC cut-offs on the cumulative share of historical value (before the member).
ABC_A_SHARE = Fraction(80, 100)
ABC_B_SHARE = Fraction(95, 100)

AbcClass = Literal["A", "B", "C"]


def money(amount: Decimal) -> Decimal:
    """Round to cents, half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class MemberValue:
    historical: Decimal  # all spend up to now
    current: Decimal  # spend in the trailing current window
    potential: Decimal  # current x growth factor from category breadth
    lifetime: Decimal  # average weekly margin x expected remaining weeks
    weekly_spend: Decimal  # average weekly spend over the current window


@dataclass(frozen=True, slots=True)
class Rfm:
    r: int  # recency, 5 = bought most recently
    f: int  # frequency (distinct transactions), 5 = most
    m: int  # monetary (historical spend), 5 = most


def days_between(earlier: datetime, later: datetime) -> Decimal:
    """Exact number of days from ``earlier`` to ``later`` (no float)."""
    delta = later - earlier
    micro = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micro) / Decimal(86_400_000_000)


def _past(purchases: Iterable[Purchase], now: datetime) -> list[Purchase]:
    return [p for p in purchases if p.at <= now]


def in_current_window(at: datetime, now: datetime, settings: CrmSettings) -> bool:
    """True when ``at`` lies in the trailing window: ``now - window <= at <= now``."""
    return now - timedelta(days=settings.current_window_days) <= at <= now


def category_breadth(purchases: Iterable[Purchase]) -> int:
    """How many distinct categories the member bought in."""
    return len({p.category for p in purchases})


def growth_factor(breadth: int, store_average_breadth: Decimal | None) -> Decimal:
    """1 + the share of the store's average category breadth the member does not yet buy.

    A member buying in as many categories as the average member (or more) has
    factor 1; one buying in none of them has ``MAX_GROWTH_FACTOR``.
    """
    if store_average_breadth is None or store_average_breadth <= 0:
        return Decimal(1)
    gap = (store_average_breadth - Decimal(breadth)) / store_average_breadth
    return min(MAX_GROWTH_FACTOR, Decimal(1) + max(ZERO, gap))


def weekly_spend(purchases: Sequence[Purchase], now: datetime, settings: CrmSettings) -> Decimal:
    """Current-window spend per week over the observed part of the window.

    The observed span runs from the member's first purchase (or the window start,
    whichever is later) to ``now``, and is at least one week.
    """
    past = _past(purchases, now)
    if not past:
        return ZERO.quantize(CENT)
    current = sum((p.price for p in past if in_current_window(p.at, now, settings)), ZERO)
    first = min(p.at for p in past)
    span_days = days_between(first, now)
    observed = min(Decimal(settings.current_window_days), max(Decimal(7), span_days))
    return money(current * Decimal(7) / observed)


def expected_remaining_weeks(days_idle: Decimal, settings: CrmSettings) -> Decimal:
    """``LIFETIME_HORIZON_WEEKS x (1 - days_idle / dissolution_after_days_idle)``, at least 0."""
    limit = Decimal(settings.dissolution_after_days_idle)
    remaining = Decimal(1) - days_idle / limit
    return Decimal(LIFETIME_HORIZON_WEEKS) * max(ZERO, remaining)


def member_value(
    purchases: Sequence[Purchase],
    now: datetime,
    settings: CrmSettings,
    *,
    store_average_breadth: Decimal | None = None,
    margin_rate: Decimal = GROSS_MARGIN_RATE,
) -> MemberValue:
    """The member's value views; purchases after ``now`` are ignored."""
    past = _past(purchases, now)
    historical = sum((p.price for p in past), ZERO)
    current_lines = [p for p in past if in_current_window(p.at, now, settings)]
    current = sum((p.price for p in current_lines), ZERO)
    weekly = weekly_spend(past, now, settings)
    potential = current * growth_factor(category_breadth(past), store_average_breadth)
    if past:
        days_idle = days_between(max(p.at for p in past), now)
        lifetime = weekly * margin_rate * expected_remaining_weeks(days_idle, settings)
    else:
        lifetime = ZERO
    return MemberValue(
        historical=money(historical),
        current=money(current),
        potential=money(potential),
        lifetime=money(lifetime),
        weekly_spend=weekly,
    )


def store_values(
    purchases_by_member: Mapping[str, Sequence[Purchase]],
    now: datetime,
    settings: CrmSettings,
) -> dict[str, MemberValue]:
    """Every member's value, with potential measured against the store's average breadth."""
    breadths = [category_breadth(_past(ps, now)) for ps in purchases_by_member.values()]
    average = Decimal(sum(breadths)) / Decimal(len(breadths)) if breadths else None
    return {
        member: member_value(ps, now, settings, store_average_breadth=average)
        for member, ps in purchases_by_member.items()
    }


def midrank(value: Fraction, population: Sequence[Fraction]) -> Fraction:
    """Mid-rank percentile of ``value`` in ``population``: (below + equal / 2) / n, in [0, 1)."""
    below = sum(1 for v in population if v < value)
    equal = sum(1 for v in population if v == value)
    return (Fraction(below) + Fraction(equal, 2)) / len(population)


def quintile(value: Fraction, population: Sequence[Fraction]) -> int:
    """Score 1-5 by quintile of the mid-rank: 5 for the top fifth."""
    return min(5, 1 + int(midrank(value, population) * 5))


def rfm_scores(purchases_by_member: Mapping[str, Sequence[Purchase]], now: datetime) -> dict[str, Rfm]:
    """Recency, frequency and monetary quintile scores over the given members.

    A member with no purchases has the lowest recency of all.
    """
    recency: dict[str, Fraction] = {}
    frequency: dict[str, Fraction] = {}
    monetary: dict[str, Fraction] = {}
    for member, ps in purchases_by_member.items():
        past = _past(ps, now)
        if past:
            recency[member] = -Fraction(days_between(max(p.at for p in past), now))
        else:
            recency[member] = Fraction(-(10**12))
        frequency[member] = Fraction(len({p.transaction_id for p in past}))
        monetary[member] = Fraction(sum((p.price for p in past), ZERO))
    rs, fs, ms = list(recency.values()), list(frequency.values()), list(monetary.values())
    return {
        member: Rfm(
            r=quintile(recency[member], rs),
            f=quintile(frequency[member], fs),
            m=quintile(monetary[member], ms),
        )
        for member in purchases_by_member
    }


def abc_classes(values: Mapping[str, Decimal]) -> dict[str, AbcClass]:
    """A/B/C by cumulative share of value, biggest first (ties by member id).

    A member is A when the members ranked above it hold less than 80 % of the
    total, B when less than 95 %, otherwise C. Members with no value are C.
    """
    total = sum((v for v in values.values() if v > 0), ZERO)
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    out: dict[str, AbcClass] = {}
    before = ZERO
    for member, value in ranked:
        if value <= 0 or total <= 0:
            out[member] = "C"
            continue
        share = Fraction(before) / Fraction(total)
        out[member] = "A" if share < ABC_A_SHARE else "B" if share < ABC_B_SHARE else "C"
        before += value
    return out
