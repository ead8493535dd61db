"""The member and marketing API's models. Money leaves as a decimal string, shares as decimal strings 0–1."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from dashboard.schemas import Flag, Money, Text, _In, _Out

Share = Annotated[str | None, Field(description="A share between 0 and 1 as a decimal string; null if undefined.")]


class ValueOut(_Out):
    historical: Money
    current: Money
    potential: Money
    lifetime: Money
    weekly_spend: Money
    window_days: int


class RfmOut(_Out):
    r: int
    f: int
    m: int


class SegmentOut(_Out):
    category: str
    loyalty: str
    usage: str
    spend: Money


class DecisionOut(_Out):
    kind: str
    rule: str
    reason: str
    at: datetime
    data: dict[str, str]
    context: dict[str, str]


class StageOut(_Out):
    current: str
    since: datetime | None
    transitions: list[DecisionOut]


class CycleOut(_Out):
    sku: str
    name: str
    mean_interval_days: str
    count: int
    last: datetime
    next_due: datetime


class OfferOut(_Out):
    id: str
    sku: str
    name: str
    kind: str
    discount_abs: Money
    deal_id: str | None
    active_from: datetime
    active_to: datetime
    status: str
    reason: str
    redeemed_at: datetime | None
    transaction_id: str | None


class ListOut(_Out):
    id: str
    period_start: datetime
    generated_at: datetime
    offers: int
    refusals: list[dict[str, str | None]]


class PurchaseOut(_Out):
    transaction_id: str
    at: datetime
    items: list[str]
    total: Money
    saved: Money


class DisputeOut(_Out):
    id: int
    transaction_id: str
    tag: str
    opened_at: datetime
    reason: str
    status: str
    rule: str | None
    resolution: str | None
    resolved_at: datetime | None


class HouseholdMemberOut(_Out):
    id: str
    name: str


class HouseholdOut(_Out):
    """The member's household added up: spend, visits and purchases of all its members."""

    id: str
    name: str
    members: list[HouseholdMemberOut]
    historical: Money
    current: Money
    visits: int
    purchases: int


class ConsentOut(_Out):
    offers: bool
    reminders: bool
    data_sharing: bool
    changed_at: datetime | None


class MemberCrmOut(_Out):
    id: str
    name: str
    household: str | None
    household_totals: HouseholdOut | None
    joined_at: datetime | None
    consent: ConsentOut
    max_contacts_per_week: int
    visits: int
    points: int
    transaction_count: int
    total_spent: Money
    last_purchase: datetime | None
    list_eligible: bool
    value: ValueOut
    rfm: RfmOut | None
    abc: str | None
    segments: list[SegmentOut]
    stage: StageOut
    cycles: list[CycleOut]
    offers: list[OfferOut]
    lists: list[ListOut]
    history: list[PurchaseOut]
    disputes: list[DisputeOut]
    decisions: list[DecisionOut]


class ConsentIn(_In):
    offers: Flag
    reminders: Flag
    data_sharing: Flag


class DisputeIn(_In):
    member: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    transaction_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    tag: Annotated[str, StringConstraints(min_length=1, max_length=140, to_upper=True)]
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class DisputeResolveIn(_In):
    status: Literal["refunded", "kept"]
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class DisputeOutcomeOut(_Out):
    id: int
    member: str
    transaction_id: str
    tag: str
    sku: str
    status: str
    rule: str
    reason: str


class CampaignIn(_In):
    name: Text
    cost: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    started_at: AwareDatetime
    ended_at: AwareDatetime
    store: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CampaignIn:
        if self.ended_at <= self.started_at:
            raise ValueError("ended_at must be after started_at")
        return self


class CampaignOut(_Out):
    id: str
    name: str
    cost: Money
    started_at: datetime
    ended_at: datetime
    acquired: int
    unit_cost: Money | None


class FunnelStepOut(_Out):
    step: str
    count: int


class GridCellOut(_Out):
    loyalty: str
    usage: str
    count: int


class CurvePointOut(_Out):
    share: str
    revenue_share: str


class ParetoOut(_Out):
    members: list[CurvePointOut]
    products: list[CurvePointOut]
    top20_members: Share
    top20_products: Share


class AcquisitionOut(_Out):
    rate: Share
    new_members: int
    visitors: int
    unit_cost: Money | None
    campaign_cost: Money
    campaigns: list[CampaignOut]


class RetentionOut(_Out):
    period_start: datetime
    active: int
    retained: int
    rate: Share


class RedemptionWeekOut(_Out):
    week: datetime
    count: int
    saved: Money


class PairOut(_Out):
    a: str
    b: str
    a_name: str
    b_name: str
    support: str
    confidence: str
    lift: str


class MemberRowOut(_Out):
    id: str
    name: str
    abc: str | None
    stage: str
    historical: Money
    current: Money
    weekly_spend: Money


class MarketingOut(_Out):
    period_from: datetime
    period_to: datetime
    member_count: int
    funnel: list[FunnelStepOut]
    segment_grid: list[GridCellOut]
    pareto: ParetoOut
    acquisition: AcquisitionOut
    retention: list[RetentionOut]
    redemptions: list[RedemptionWeekOut]
    pairs: list[PairOut]
    members: list[MemberRowOut]


class LinkIn(_In):
    valid_days: int = Field(default=14, ge=1, le=90, description="How long the link works.")


class LinkOut(_Out):
    """A member's own link: whoever holds it sees that member's records (give it to the member only)."""

    member: str
    url: str
    expires_at: datetime


class MyLineOut(_Out):
    tag: str
    sku: str
    name: str
    unit_price: Money
    discount: Money
    offer_reason: str | None
    dispute: str | None = Field(description="The status of this item's dispute, if the member disputed it.")


class MyPurchaseOut(_Out):
    transaction_id: str
    at: datetime
    total: Money
    saved: Money
    lines: list[MyLineOut]


class MemberViewOut(_Out):
    """What a member sees through their own link: their purchases, the charges, offers, refusals and disputes with
    the reasons, and nothing about anybody else."""

    id: str
    name: str
    points: int
    link_expires_at: datetime
    consent: ConsentOut
    purchases: list[MyPurchaseOut]
    offers: list[OfferOut]
    disputes: list[DisputeOut]
    decisions: list[DecisionOut]


class MyDisputeIn(_In):
    transaction_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    tag: Annotated[str, StringConstraints(min_length=1, max_length=140, to_upper=True)]
    reason: Annotated[str, StringConstraints(max_length=500)] = ""
