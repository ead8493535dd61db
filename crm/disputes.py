"""The decision table for a disputed silent charge ("I never bought that").

| member's earlier purchases of the sku | other household member in the visit | outcome       |
|---------------------------------------|-------------------------------------|---------------|
| none                                  | no                                  | refunded      |
| 2 or more (a regular buyer)           | either                              | kept          |
| anything else                         |                                     | needs_human   |

The outcome is always published and explained, whichever way it goes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from crm.model import DecisionRecord, MemberProfile, Purchase

REGULAR_BUYER_PURCHASES = 2

DisputeStatus = Literal["refunded", "kept", "needs_human"]


@dataclass(frozen=True, slots=True)
class DisputeOutcome:
    status: DisputeStatus
    rule: str
    reason: str


def decide_dispute(
    member: MemberProfile | str,
    sku: str,
    purchases: Sequence[Purchase],
    household_members_in_visit: Collection[str],
    *,
    transaction_id: str | None = None,
) -> DisputeOutcome:
    """Decide a dispute of ``sku`` by ``member``.

    ``purchases`` is history; lines of the disputed ``transaction_id`` are not counted as
    earlier purchases. ``household_members_in_visit`` are the member ids identified in the
    same visit from the member's household (the member themself is ignored).
    """
    member_id = member if isinstance(member, str) else member.id
    earlier = sum(
        1
        for p in purchases
        if p.member == member_id
        and p.sku == sku
        and (transaction_id is None or p.transaction_id != transaction_id)
    )
    others = sorted(m for m in household_members_in_visit if m != member_id)
    if earlier >= REGULAR_BUYER_PURCHASES:
        return DisputeOutcome(
            "kept",
            "regular_buyer",
            f"the charge stands: you have bought this product {earlier} times before",
        )
    if earlier == 0 and not others:
        return DisputeOutcome(
            "refunded",
            "never_bought_alone",
            "refunded: you have never bought this product and nobody else from your household was in the store",
        )
    if others:
        why = f"{len(others)} other member(s) of your household were in the store during the visit"
    else:
        why = "you have bought this product once before"
    return DisputeOutcome("needs_human", "ambiguous", f"a member of staff will look into it: {why}")


def dispute_record(
    member: str,
    sku: str,
    transaction_id: str,
    outcome: DisputeOutcome,
    at: datetime,
    context: Mapping[str, str] | None = None,
) -> DecisionRecord:
    data = {"sku": sku, "transaction_id": transaction_id, "status": outcome.status}
    return DecisionRecord("dispute", member, outcome.rule, outcome.reason, at, data, dict(context or {}))
