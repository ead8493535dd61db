"""Shared value objects for the member and one-to-one marketing rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

Brand = Literal["national", "store"]


@dataclass(frozen=True, slots=True)
class Purchase:
    """One sold line, as purchase history."""

    member: str
    sku: str
    category: str
    brand: Brand
    price: Decimal
    at: datetime
    transaction_id: str
    household: str | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """A member's visit to the store; ``bought`` when it ended in a purchase."""

    member: str
    at: datetime
    bought: bool


@dataclass(frozen=True, slots=True)
class Consent:
    """What the member agreed to; everything is off unless opted in."""

    offers: bool = False
    reminders: bool = False
    data_sharing: bool = False


@dataclass(frozen=True, slots=True)
class MemberProfile:
    """What the rules need to know about a member."""

    id: str
    household: str | None
    joined_at: datetime
    consent: Consent
    max_contacts_per_week: int = 2
    open_dispute: bool = False


@dataclass(frozen=True, slots=True)
class ProductInfo:
    sku: str
    name: str
    category: str
    brand: Brand
    price: Decimal
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class Deal:
    """A manufacturer's current deal."""

    id: str
    sku: str | None
    category: str | None
    discount_pct: Decimal | None
    discount_abs: Decimal | None
    valid_from: datetime
    valid_to: datetime
    funded_by: str


@dataclass(frozen=True, slots=True)
class Offer:
    """A personal offer on a member's list.

    ``id`` is deterministic, ``f"{member}:{list_id}:{sku}"``, so regenerating a
    list for the same member and period is idempotent.
    """

    id: str
    member: str
    sku: str
    kind: Literal["price", "reward"]
    discount_abs: Decimal
    deal_id: str | None
    active_from: datetime
    active_to: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """An offer NOT made, and why."""

    member: str
    sku: str | None
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class PersonalList:
    """A member's personal list; ``id`` is ``f"{member}:{period_start:%Y%m%d}"``."""

    id: str
    member: str
    period_start: datetime
    offers: tuple[Offer, ...]
    refusals: tuple[Refusal, ...]


@dataclass(frozen=True, slots=True)
class PricedLine:
    tag: str
    sku: str
    name: str
    unit_price: Decimal
    discount: Decimal
    offer_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class PricedBasket:
    lines: tuple[PricedLine, ...]
    total: Decimal
    saved: Decimal
    points: int


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """Every automatic decision: data + rule + context + a human-readable reason."""

    kind: Literal["charge", "offer", "refusal", "dispute", "stage"]
    member: str
    rule: str
    reason: str
    at: datetime
    data: Mapping[str, str]
    context: Mapping[str, str]
