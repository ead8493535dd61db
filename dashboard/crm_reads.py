"""Store-wide reads for the member and marketing pages: the store's history as the pure ``crm`` rules take it.

Read-only; one query per table, so a page costs a handful of queries whatever the number of members.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from crm.figures import BasketEvent, Campaign
from crm.model import MemberProfile, ProductInfo, Purchase, Visit
from dashboard.crm_view import Redeemed, StoreHistory
from ingest.db import crm_repo
from ingest.db import schema as t

UNKNOWN_JOIN = datetime(2024, 1, 1, tzinfo=UTC)
"""A member without a recorded join date counts as joined long ago (never as a new member)."""
VISIT_WITHOUT_CLOSE = timedelta(hours=2)
"""A visit never closed ends this long after it opened when deciding whether it ended in a sale."""


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal("0")


def store_of(conn: Connection, wanted: str | None) -> str | None:
    """The store the pages show: the dashboard's own, or the database's first store when it follows all."""
    if wanted is not None:
        return wanted
    found: str | None = conn.execute(select(t.stores.c.id).order_by(t.stores.c.id).limit(1)).scalar()
    return found


def load_history(conn: Connection, store: str, now: datetime) -> StoreHistory:
    """The store's members, catalog, purchases, visits, basket changes, campaigns and redemptions up to ``now``,
    measured with the store file's ``[crm]`` thresholds as ingest seeded them."""
    rows = crm_repo.member_rows(conn, store)
    profiles = {
        r.id: MemberProfile(id=r.id, household=r.household, joined_at=r.joined_at or UNKNOWN_JOIN,
                            consent=r.consent, max_contacts_per_week=r.max_contacts_per_week,
                            open_dispute=r.open_disputes > 0)
        for r in rows
    }
    p = t.products.c
    products = {
        r.sku: ProductInfo(sku=r.sku, name=r.name, category=r.category or "", price=_money(r.price),
                           brand="store" if r.brand == "store" else "national", sensitive=bool(r.sensitive))
        for r in conn.execute(select(t.products).where(p.store == store))
    }
    tx, ln = t.transactions.c, t.transaction_lines.c
    lq = (select(ln.sku, ln.unit_price, ln.discount, ln.transaction_id, tx.member, tx.at)
          .select_from(t.transaction_lines.join(t.transactions, ln.transaction_id == tx.id))
          .where(tx.store == store, ln.returned_at.is_(None), tx.at <= now).order_by(tx.at, ln.id))
    purchases = []
    for r in conn.execute(lq):
        if r.member not in profiles:
            continue
        product = products.get(r.sku)
        purchases.append(Purchase(
            member=r.member, sku=r.sku, category=product.category if product else "",
            brand=product.brand if product else "national", price=_money(r.unit_price) - _money(r.discount),
            at=r.at, transaction_id=r.transaction_id, household=profiles[r.member].household,
        ))
    return StoreHistory(
        now=now, settings=crm_repo.crm_settings(conn, store), profiles=profiles, names={r.id: r.name for r in rows},
        products=products, purchases=purchases, visits=_visits(conn, store, now, purchases),
        basket_events=_basket_events(conn, store, now), campaigns=[Campaign(c.name, c.cost, c.started_at, c.ended_at or now)
                   for c in crm_repo.campaigns(conn, store)],
        redemptions=_redemptions(conn, store, now),
    )


def _visits(conn: Connection, store: str, now: datetime, purchases: list[Purchase]) -> list[Visit]:
    v = t.visits.c
    query = select(v.member, v.opened_at, v.closed_at).where(v.store == store, v.opened_at <= now).order_by(v.opened_at)
    bought: dict[str, list[datetime]] = defaultdict(list)
    for p in purchases:
        bought[p.member].append(p.at)
    out = []
    for r in conn.execute(query):
        end = r.closed_at or r.opened_at + VISIT_WITHOUT_CLOSE
        out.append(Visit(member=r.member, at=r.opened_at, bought=any(r.opened_at <= at <= end for at in bought[r.member])))
    return out


def _basket_events(conn: Connection, store: str, now: datetime) -> list[BasketEvent]:
    b, bi, pb = t.baskets.c, t.basket_items.c, t.put_backs.c
    held = (select(b.member, bi.sku, bi.added_at).select_from(t.basket_items.join(t.baskets, bi.basket_id == b.id))
            .where(b.store == store))
    back = select(pb.member, pb.sku, pb.at).where(pb.store == store, pb.at <= now)
    events = [BasketEvent(r.member, r.sku, "added", r.added_at) for r in conn.execute(held) if r.added_at <= now]
    for r in conn.execute(back):  # an item put back was picked first
        events += [BasketEvent(r.member, r.sku, "added", r.at), BasketEvent(r.member, r.sku, "removed", r.at)]
    return sorted(events, key=lambda e: (e.at, e.change))


def _redemptions(conn: Connection, store: str, now: datetime) -> list[Redeemed]:
    o = t.offers.c
    query = select(o.redeemed_at, o.discount_abs).where(o.store == store, o.status == "redeemed",
                                                         o.redeemed_at.is_not(None), o.redeemed_at <= now)
    return [Redeemed(r.redeemed_at, _money(r.discount_abs)) for r in conn.execute(query)]


def household_name(conn: Connection, household: str) -> str:
    """The household's name from the store file, or its id when it has none."""
    name: str | None = conn.execute(select(t.households.c.name).where(t.households.c.id == household)).scalar()
    return name or household


# -- one member's records -------------------------------------------------------------------------------


def member_lists(conn: Connection, member: str, limit: int = 10) -> list[Any]:
    pl = t.personal_lists.c
    return list(conn.execute(
        select(t.personal_lists).where(pl.member == member).order_by(pl.period_start.desc()).limit(limit)))


def member_transactions(conn: Connection, member: str, limit: int = 20) -> list[tuple[Any, list[Any]]]:
    """The member's latest transactions, newest first, each with its unreturned lines (tag, sku, name, unit price,
    discount, offer id)."""
    tx, ln = t.transactions.c, t.transaction_lines.c
    heads = list(conn.execute(select(t.transactions).where(tx.member == member).order_by(tx.at.desc()).limit(limit)))
    lines: dict[str, list[Any]] = defaultdict(list)
    if heads:
        for r in conn.execute(select(ln.transaction_id, ln.tag, ln.sku, ln.name, ln.unit_price, ln.discount,
                                     ln.offer_id).where(ln.transaction_id.in_([h.id for h in heads]),
                                                        ln.returned_at.is_(None)).order_by(ln.id)):
            lines[r.transaction_id].append(r)
    return [(h, lines[h.id]) for h in heads]
