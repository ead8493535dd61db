"""Purchase cycles: per member x sku, how often they buy it and when it is next due.

Documented in docs/crm.md ("Purchase cycles").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.model import Purchase


@dataclass(frozen=True, slots=True)
class Cycle:
    mean_interval: timedelta  # (last - first) / (count - 1)
    last: datetime  # the latest purchase occasion
    next_due: datetime  # last + mean_interval
    count: int  # purchase occasions (distinct transactions)


def purchase_cycles(purchases: Iterable[Purchase]) -> dict[tuple[str, str], Cycle]:
    """Cycles for every (member, sku) bought on at least two occasions.

    An occasion is a transaction: several units of the sku in one basket count
    once, at the transaction's earliest line time. Occasions at the same instant
    give no interval, so a pair whose occasions all share one time has no cycle.
    """
    occasions: dict[tuple[str, str], dict[str, datetime]] = {}
    for p in purchases:
        seen = occasions.setdefault((p.member, p.sku), {})
        at = seen.get(p.transaction_id)
        seen[p.transaction_id] = p.at if at is None else min(at, p.at)
    out: dict[tuple[str, str], Cycle] = {}
    for key in sorted(occasions):
        times = sorted(occasions[key].values())
        if len(times) < 2 or times[-1] == times[0]:
            continue
        mean = (times[-1] - times[0]) / (len(times) - 1)
        out[key] = Cycle(mean_interval=mean, last=times[-1], next_due=times[-1] + mean, count=len(times))
    return out


def due_between(
    cycles: dict[tuple[str, str], Cycle], start: datetime, end: datetime
) -> dict[tuple[str, str], Cycle]:
    """The cycles whose next due date falls in ``[start, end)``."""
    return {key: c for key, c in cycles.items() if start <= c.next_due < end}
