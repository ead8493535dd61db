"""THE price function: one source of prices for the checkout, the receipt and the API.

Each line that matches an active personal price offer (same sku, ``active_from <= at <
active_to``) is discounted once; an offer discounts one item. Among several offers for
the same sku the largest discount is used first (ties: lowest offer id), so the result
never depends on the order the offers arrive in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from crm.model import DecisionRecord, Offer, PricedBasket, PricedLine, ProductInfo

CENT = Decimal("0.01")
LIST_PRICE = "list price"


def is_active(offer: Offer, at: datetime) -> bool:
    return offer.active_from <= at < offer.active_to


def _usable(offers: Sequence[Offer], at: datetime) -> dict[str, list[Offer]]:
    by_sku: dict[str, list[Offer]] = {}
    for offer in offers:
        if offer.kind == "price" and offer.discount_abs > 0 and is_active(offer, at):
            by_sku.setdefault(offer.sku, []).append(offer)
    for candidates in by_sku.values():
        candidates.sort(key=lambda o: (-o.discount_abs, o.id))
    return by_sku


def price_basket(
    lines: Sequence[tuple[str, ProductInfo]], offers: Sequence[Offer], at: datetime
) -> PricedBasket:
    """Price a basket of ``(tag, product)`` lines with the member's offers at ``at``."""
    available = _usable(offers, at)
    priced: list[PricedLine] = []
    for tag, product in lines:
        unit = product.price
        candidates = available.get(product.sku)
        if candidates:
            offer = candidates.pop(0)
            discount = min(offer.discount_abs, unit).quantize(CENT)
            priced.append(PricedLine(tag, product.sku, product.name, unit, discount, offer.id, offer.reason))
        else:
            priced.append(PricedLine(tag, product.sku, product.name, unit, Decimal("0.00"), None, LIST_PRICE))
    total = sum((line.unit_price - line.discount for line in priced), Decimal("0.00"))
    saved = sum((line.discount for line in priced), Decimal("0.00"))
    points = int(total.to_integral_value(rounding=ROUND_FLOOR)) if total > 0 else 0
    return PricedBasket(tuple(priced), total, saved, points)


def charge_records(
    member: str, basket: PricedBasket, at: datetime, context: Mapping[str, str] | None = None
) -> tuple[DecisionRecord, ...]:
    """One "charge" decision per line, with the reason the member sees on the receipt."""
    records: list[DecisionRecord] = []
    for line in basket.lines:
        charged = line.unit_price - line.discount
        if line.offer_id is None:
            reason = f"{line.name}: {charged} at list price"
            rule = "list_price"
        else:
            reason = f"{line.name}: {charged} ({line.discount} off, {line.reason})"
            rule = "personal_offer"
        data = {
            "tag": line.tag,
            "sku": line.sku,
            "unit_price": str(line.unit_price),
            "discount": str(line.discount),
            "charged": str(charged),
            "offer_id": line.offer_id or "",
        }
        records.append(DecisionRecord("charge", member, rule, reason, at, data, dict(context or {})))
    return tuple(records)
