"""The store file's member and marketing sections: ``[crm]``, ``[[deals]]``, ``[[households]]``, members'
consent and tag validity periods (see :mod:`ingest.storefile`, which reads them as strictly as the rest).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crm.settings import CrmSettings, FastLane

Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=64)]

_CRM = CrmSettings()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_strip_whitespace=True)


def _decimal(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a decimal amount as a string (\"1.29\") or a number")
    return str(value) if isinstance(value, float) else value


Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]


class FastLaneSection(_Section):
    """``[crm.fast_lane]``: where the fast lane's gate is and how long it stays open (:class:`crm.settings.FastLane`)."""

    zone: Ident
    gateway: Ident
    actuator: Ident
    open_s: float = Field(default=5.0, gt=0, le=60)


class CrmSection(_Section):
    """``[crm]``: the thresholds of the member rules (:class:`crm.settings.CrmSettings`, docs/crm.md)."""

    list_every_days: int = Field(default=_CRM.list_every_days, ge=1, le=366)
    spend_threshold_per_week: Money = _CRM.spend_threshold_per_week
    current_window_days: int = Field(default=_CRM.current_window_days, ge=1, le=3660)
    offer_lead_days: int = Field(default=_CRM.offer_lead_days, ge=0, le=366)
    offer_valid_days: int = Field(default=_CRM.offer_valid_days, ge=1, le=366)
    base_discount_pct: Percent = _CRM.base_discount_pct
    max_discount_pct: Percent = _CRM.max_discount_pct
    heavy_user_bonus_pct: Percent = _CRM.heavy_user_bonus_pct
    loyal_coupon_budget: tuple[Money, Money] = _CRM.loyal_coupon_budget
    sensitive_categories: list[Category] = Field(default_factory=list)
    max_contacts_per_week: int = Field(default=_CRM.max_contacts_per_week, ge=0, le=100)
    exploration_after_visits: int = Field(default=_CRM.exploration_after_visits, ge=1, le=10000)
    expansion_after_purchases: int = Field(default=_CRM.expansion_after_purchases, ge=1, le=10000)
    commitment_after_weeks_active: int = Field(default=_CRM.commitment_after_weeks_active, ge=1, le=520)
    dissolution_after_days_idle: int = Field(default=_CRM.dissolution_after_days_idle, ge=1, le=3660)
    fast_lane: FastLaneSection | None = None

    @field_validator("spend_threshold_per_week", "base_discount_pct", "max_discount_pct", "heavy_user_bonus_pct",
                     mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        return _decimal(value)

    @field_validator("loyal_coupon_budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError("expected two amounts [low, high], e.g. [\"30\", \"40\"]")
        return tuple(_decimal(v) for v in value)

    def problems(self) -> list[str]:
        problems: list[str] = []
        if self.base_discount_pct > self.max_discount_pct:
            problems.append(f"crm.base_discount_pct: expected at most max_discount_pct ({self.max_discount_pct}), "
                            f"got {self.base_discount_pct}")
        low, high = self.loyal_coupon_budget
        if low > high:
            problems.append(f"crm.loyal_coupon_budget: expected [low, high] with low <= high, got [{low}, {high}]")
        return problems

    def settings(self) -> CrmSettings:
        lane = self.fast_lane
        return CrmSettings(**{**self.model_dump(), "sensitive_categories": frozenset(self.sensitive_categories),
                              "loyal_coupon_budget": tuple(self.loyal_coupon_budget),
                              "fast_lane": None if lane is None else FastLane(**lane.model_dump())})


class HouseholdEntry(_Section):
    """``[[households]]``: members living together (a household's member may take another's item)."""

    id: Ident
    name: Text


class ConsentEntry(_Section):
    """A member's ``consent``: nothing is assumed; a member who never agreed gets no offers."""

    offers: bool = False
    reminders: bool = False
    data_sharing: bool = False


class DealEntry(_Section):
    """``[[deals]]``: a manufacturer's current deal on a product (``sku``) or a whole ``category``."""

    id: Ident
    sku: Ident | None = None
    category: Category | None = None
    discount_pct: Percent | None = None
    discount_abs: Money | None = None
    valid_from: AwareDatetime
    valid_to: AwareDatetime
    funded_by: Text

    @field_validator("discount_pct", "discount_abs", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        return _decimal(value)

    def problems(self, where: str) -> list[str]:
        problems: list[str] = []
        if (self.sku is None) == (self.category is None):
            problems.append(f"{where}.sku: give exactly one of sku and category")
        if (self.discount_pct is None) == (self.discount_abs is None):
            problems.append(f"{where}.discount_pct: give exactly one of discount_pct and discount_abs")
        if self.valid_to <= self.valid_from:
            problems.append(f"{where}.valid_to: expected after valid_from ({self.valid_from.isoformat()}), "
                            f"got {self.valid_to.isoformat()}")
        return problems


class TagPeriod(_Section):
    """A member's tag valid for a period: ``{tag = "UID:…", valid_from = …, valid_to = …}``. Outside it the
    tag is not this member's (a reissued card, a returned tote)."""

    tag: str
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None

    def overlaps(self, other: TagPeriod) -> bool:
        return _before(self.valid_from, other.valid_to) and _before(other.valid_from, self.valid_to)


def _before(start: datetime | None, end: datetime | None) -> bool:
    return start is None or end is None or start < end


__all__ = ["ConsentEntry", "CrmSection", "DealEntry", "HouseholdEntry", "TagPeriod"]
