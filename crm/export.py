"""The manufacturer export: sales per SKU, week and deal with no way back to a person.

What manufacturers fund (most of the discounts) they get back as aggregates: per SKU, ISO week and deal,
units, revenue, redemptions and how many distinct buyers fell into each segment. No member id, name, tag,
household or transaction id leaves the store; cells with fewer distinct buyers than ``min_buyers`` are
dropped whole, so a rare purchase cannot single out one shopper.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from crm.model import Purchase

SEGMENTS: tuple[str, ...] = tuple(f"{loyalty}/{usage}" for loyalty in ("national", "swinger", "store")
                                  for usage in ("low", "medium", "high"))
"""The 3 × 3 grid: brand loyalty × usage, as ``"national/high"``; ``"none"`` counts buyers without one."""

__all__ = ["SEGMENTS", "ExportRow", "Redemption", "export_csv", "manufacturer_export"]


@dataclass(frozen=True, slots=True)
class Redemption:
    """A sold line that redeemed an offer (from ``transaction_lines.offer_id`` joined to the offer)."""

    transaction_id: str
    sku: str
    deal_id: str | None
    discount: Decimal


@dataclass(frozen=True, slots=True)
class ExportRow:
    sku: str
    category: str
    week: date
    """Monday of the ISO week (UTC) the sales happened in."""
    deal: str
    """The deal id, or ``""`` for sales outside any deal."""
    units: int
    revenue: Decimal
    """What was paid: price less offer discounts."""
    discount: Decimal
    redemptions: int
    buyers: int
    segments: Mapping[str, int] = field(default_factory=dict)
    """Distinct buyers per segment (every key of :data:`SEGMENTS` plus ``"none"``)."""


def _monday(at: datetime) -> date:
    day = at.date()
    return day - timedelta(days=day.weekday())


def manufacturer_export(purchases: Iterable[Purchase], redemptions: Iterable[Redemption],
                        segments: Mapping[tuple[str, str], str], *, funded_by: str | None = None,
                        deal_funders: Mapping[str, str] | None = None, min_buyers: int = 1
                        ) -> tuple[ExportRow, ...]:
    """Rows per (SKU, week, deal), sorted; only aggregates and segment counts.

    ``segments`` maps (member, category) to a segment label (see :data:`SEGMENTS`). With ``funded_by``
    (and ``deal_funders``: deal id → funder) only the rows of that funder's deals are kept. A line that
    redeemed an offer belongs to the offer's deal; each redemption is matched to one line of its
    transaction and SKU.
    """
    open_redemptions: dict[tuple[str, str], list[Redemption]] = defaultdict(list)
    for redemption in redemptions:
        open_redemptions[(redemption.transaction_id, redemption.sku)].append(redemption)
    units: dict[tuple[str, date, str], int] = defaultdict(int)
    revenue: dict[tuple[str, date, str], Decimal] = defaultdict(Decimal)
    discount: dict[tuple[str, date, str], Decimal] = defaultdict(Decimal)
    redeemed: dict[tuple[str, date, str], int] = defaultdict(int)
    buyers: dict[tuple[str, date, str], dict[str, str]] = defaultdict(dict)
    category: dict[str, str] = {}
    for p in sorted(purchases, key=lambda p: (p.at, p.transaction_id, p.sku)):
        pending = open_redemptions.get((p.transaction_id, p.sku))
        r = pending.pop(0) if pending else None
        key = (p.sku, _monday(p.at), (r.deal_id or "") if r else "")
        category[p.sku] = p.category
        units[key] += 1
        off = r.discount if r else Decimal(0)
        revenue[key] += p.price - off
        discount[key] += off
        redeemed[key] += 1 if r else 0
        buyers[key][p.member] = segments.get((p.member, p.category), "none")
    rows: list[ExportRow] = []
    for key in sorted(units):
        sku, week, deal = key
        if funded_by is not None and (not deal or (deal_funders or {}).get(deal) != funded_by):
            continue
        if len(buyers[key]) < min_buyers:
            continue
        counts = dict.fromkeys((*SEGMENTS, "none"), 0)
        for label in buyers[key].values():
            counts[label if label in counts else "none"] += 1
        rows.append(ExportRow(sku, category[sku], week, deal, units[key], revenue[key], discount[key], redeemed[key],
                              len(buyers[key]), counts))
    return tuple(rows)


def export_csv(rows: Sequence[ExportRow]) -> str:
    """The rows as CSV text, one column per segment."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    labels = (*SEGMENTS, "none")
    writer.writerow(["sku", "category", "week", "deal", "units", "revenue", "discount", "redemptions", "buyers",
                     *labels])
    for r in rows:
        writer.writerow([r.sku, r.category, r.week.isoformat(), r.deal, r.units, r.revenue, r.discount,
                         r.redemptions, r.buyers, *(r.segments.get(label, 0) for label in labels)])
    return out.getvalue()
