"""Read-only snapshots of a lane, for the dashboard and the lane display."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from ingest.rules.model import TransactionLine


@dataclass(frozen=True, slots=True)
class BasketView:
    basket_id: str
    member: str
    status: Literal["open", "settling"]
    """``open`` while the member is in the lane; ``settling`` after their card left (commits at ``settles_at``)."""
    lines: tuple[TransactionLine, ...]
    total: Decimal
    settles_at: datetime | None


@dataclass(frozen=True, slots=True)
class LaneView:
    lane: str
    members: tuple[str, ...]
    """Members whose cards are present, in order of arrival."""
    held: bool
    """More than one member present: nothing joins or is charged until one leaves."""
    baskets: tuple[BasketView, ...]
