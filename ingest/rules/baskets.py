"""The engine's mutable state of pay lanes: who is present, which items were read there, open baskets.

These are internal working objects of :class:`ingest.rules.engine.StoreEngine` (plain, mutable
dataclasses); everything that leaves the engine is a frozen value object of :mod:`ingest.rules.model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from ingest.rules.model import Evidence, Product, TransactionLine, Zone

BasketStatus = Literal["open", "settling"]


def basket_id(lane: str, member: str, opened_at: datetime) -> str:
    """Deterministic id of a member's basket in a lane: a replay of the same reads gives the same id.

    ``opened_at`` is the ``first_seen`` of the member's card in the lane, so every report of that
    card session names the same basket.
    """
    if opened_at.tzinfo is not None:
        opened_at = opened_at.astimezone(UTC)
    return f"{lane}:{member}:{opened_at:%Y%m%dT%H%M%S.%f}"


@dataclass(slots=True)
class Presence:
    """A member's card present in a lane: from its ``seen`` until its ``left``."""

    member: str
    since: datetime
    """``first_seen`` of the card session: names the basket."""
    last_at: datetime
    evidence: Evidence
    paid: bool = False
    """Its basket committed while the card stayed (at the exit): no item joins a basket of it again, however
    long the card stays (the engine forgets committed ids after ``committed_memory_s``)."""


@dataclass(slots=True)
class LaneState:
    name: str
    present: dict[str, Presence] = field(default_factory=dict)
    held: bool = False
    left_at: dict[str, datetime] = field(default_factory=dict)
    """member -> when their card last left this lane (older reports of that card are stale)."""


@dataclass(slots=True)
class LaneReads:
    """How often one item has been read strongly in one lane since it last left it."""

    count: int = 0
    counted: dict[tuple[str, int], datetime] = field(default_factory=dict)
    """(reader, antenna) -> ``at`` of the newest report already counted (a redelivery counts once)."""
    left_at: datetime | None = None


@dataclass(slots=True)
class BasketLine:
    tag: str
    product: Product
    """The product when the item joined; the catalog at commit time wins if it still has the SKU."""
    evidence: Evidence


@dataclass(slots=True)
class Basket:
    basket_id: str
    member: str
    lane: Zone
    gateway: str
    """The gateway that reported the member's card in the lane."""
    opened_at: datetime
    status: BasketStatus = "open"
    settles_at: datetime | None = None
    lines: dict[str, BasketLine] = field(default_factory=dict)
    put_back: dict[str, tuple[BasketLine, datetime]] = field(default_factory=dict)
    """Items removed while the member was present, with their ``left`` time (see ``leave_together_s``)."""
    evidence: list[Evidence] = field(default_factory=list)
    """Reads about the member's card in the lane (seen, left, return)."""

    def line_evidence(self) -> tuple[Evidence, ...]:
        return (*self.evidence, *(line.evidence for line in self.lines.values()))


def price_lines(basket: Basket, products: Mapping[str, Product]) -> tuple[TransactionLine, ...]:
    """The basket's lines at today's catalog prices (the product as it joined, if the SKU is gone)."""
    lines = []
    for line in basket.lines.values():
        product = products.get(line.product.sku, line.product)
        lines.append(TransactionLine(line.tag, product.sku, product.name, product.price))
    return tuple(lines)


def total_of(lines: tuple[TransactionLine, ...]) -> Decimal:
    return sum((line.unit_price for line in lines), Decimal(0))
