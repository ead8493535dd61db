"""Thresholds of the member rules; every one is documented in docs/crm.md."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class FastLane:
    """The gate of the fast checkout lane: a member holding the ``FAST-LANE`` reward seen in ``zone`` gets the
    gate opened, an ``open`` command for ``actuator`` on ``gateway`` that holds it open ``open_s`` seconds."""

    zone: str
    gateway: str
    actuator: str
    open_s: float = 5.0


@dataclass(frozen=True, slots=True)
class CrmSettings:
    list_every_days: int = 14
    spend_threshold_per_week: Decimal = Decimal("25")
    current_window_days: int = 90
    offer_lead_days: int = 3  # an offer becomes active this long before the member's next due date
    offer_valid_days: int = 14
    base_discount_pct: Decimal = Decimal("5")
    max_discount_pct: Decimal = Decimal("25")
    heavy_user_bonus_pct: Decimal = Decimal("5")
    loyal_coupon_budget: tuple[Decimal, Decimal] = (Decimal("30"), Decimal("40"))
    sensitive_categories: frozenset[str] = frozenset()  # no reminders/offers by default
    max_contacts_per_week: int = 2
    # stage thresholds (documented in docs/crm.md)
    exploration_after_visits: int = 1
    expansion_after_purchases: int = 3
    commitment_after_weeks_active: int = 8
    dissolution_after_days_idle: int = 60
    fast_lane: FastLane | None = None  # no fast-lane gate unless the store file names one
