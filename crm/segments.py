"""Per member x category segments: brand loyalty x usage (the 3 x 3 grid).

Cut-offs are documented in docs/crm.md ("Segments").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from crm.model import Brand, ProductInfo, Purchase
from crm.value import midrank

Loyalty = Literal["national", "store", "swinger"]
Usage = Literal["low", "medium", "high"]

LOYALTIES: tuple[Loyalty, ...] = ("national", "store", "swinger")
USAGES: tuple[Usage, ...] = ("low", "medium", "high")

#: National-brand share of the member's lines in the category at or above which they are "national".
NATIONAL_SHARE = Fraction(7, 10)
#: National-brand share at or below which they are "store".
STORE_SHARE = Fraction(3, 10)
#: Mid-rank cut-offs of category spend for usage: below 1/3 low, below 2/3 medium, else high.
USAGE_LOW_BELOW = Fraction(1, 3)
USAGE_MEDIUM_BELOW = Fraction(2, 3)


@dataclass(frozen=True, slots=True)
class Segment:
    loyalty: Loyalty
    usage: Usage


def loyalty_of(national_share: Fraction) -> Loyalty:
    if national_share >= NATIONAL_SHARE:
        return "national"
    if national_share <= STORE_SHARE:
        return "store"
    return "swinger"


def usage_of(percentile: Fraction) -> Usage:
    if percentile < USAGE_LOW_BELOW:
        return "low"
    if percentile < USAGE_MEDIUM_BELOW:
        return "medium"
    return "high"


def _facts(p: Purchase, products: Mapping[str, ProductInfo]) -> tuple[str, Brand]:
    """Category and brand: the catalogue's when it knows the sku, else the purchase's."""
    info = products.get(p.sku)
    return (info.category, info.brand) if info is not None else (p.category, p.brand)


def segments(
    purchases_by_member: Mapping[str, Sequence[Purchase]],
    products: Mapping[str, ProductInfo],
) -> dict[tuple[str, str], Segment]:
    """Segment of every (member, category) the member bought in.

    Loyalty is the national-brand share of the member's lines in the category;
    usage is the mid-rank of the member's spend in the category among every
    member who bought in it. The caller chooses the window (pass the current
    window's purchases for "usage per 90 days").
    """
    lines: dict[tuple[str, str], list[int]] = {}  # [national lines, all lines]
    spend: dict[tuple[str, str], Decimal] = {}
    for member, ps in purchases_by_member.items():
        for p in ps:
            category, brand = _facts(p, products)
            key = (member, category)
            counts = lines.setdefault(key, [0, 0])
            counts[0] += brand == "national"
            counts[1] += 1
            spend[key] = spend.get(key, Decimal(0)) + p.price
    by_category: dict[str, list[Fraction]] = {}
    for (_, category), amount in spend.items():
        by_category.setdefault(category, []).append(Fraction(amount))
    out: dict[tuple[str, str], Segment] = {}
    for key in sorted(lines):
        national, total = lines[key]
        rank = midrank(Fraction(spend[key]), by_category[key[1]])
        out[key] = Segment(loyalty=loyalty_of(Fraction(national, total)), usage=usage_of(rank))
    return out


def segment_grid(
    segs: Mapping[tuple[str, str], Segment], category: str | None = None
) -> dict[tuple[Loyalty, Usage], int]:
    """Members per cell of the 3 x 3 grid (all nine cells, zeros included).

    With ``category`` only that category counts; without, every
    (member, category) pair counts once.
    """
    grid: dict[tuple[Loyalty, Usage], int] = {(lo, us): 0 for lo in LOYALTIES for us in USAGES}
    for (_, cat), seg in segs.items():
        if category is None or cat == category:
            grid[(seg.loyalty, seg.usage)] += 1
    return grid
