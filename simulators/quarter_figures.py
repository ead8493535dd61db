"""The store figures of a stored period, read from ingest's database and computed by :mod:`crm.figures`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, select

from crm.figures import (
    BasketEvent,
    Campaign,
    Funnel,
    Pareto,
    RetentionPeriod,
    acquisition_rate,
    funnel,
    retention,
    revenue_pareto,
    unit_acquisition_cost,
)
from crm.model import Consent, MemberProfile, Purchase, Visit
from ingest import crm_store
from ingest.db import schema as t

__all__ = ["StoreFigures", "store_figures"]


@dataclass(frozen=True, slots=True)
class StoreFigures:
    acquisition_rate: Decimal | None
    unit_acquisition_cost: Decimal | None
    """Of the latest campaign in the period (None without one)."""
    retention: tuple[RetentionPeriod, ...]
    """Week over week."""
    funnel: Funnel
    pareto: Pareto


def _visits(conn: Connection, store: str, start: datetime, end: datetime) -> list[Visit]:
    v = t.visits.c
    rows = conn.execute(select(v.member, v.opened_at, v.close_reason).where(
        v.store == store, v.opened_at >= start, v.opened_at < end).order_by(v.opened_at, v.id)).all()
    return [Visit(r.member, r.opened_at, r.close_reason == "transaction") for r in rows]


def _basket_events(conn: Connection, store: str, start: datetime, end: datetime) -> list[BasketEvent]:
    """Items still in baskets were added; put-back items were added, then removed."""
    b, bi, pb = t.baskets.c, t.basket_items.c, t.put_backs.c
    kept = conn.execute(select(b.member, bi.sku, bi.added_at).select_from(
        t.basket_items.join(t.baskets, bi.basket_id == b.id)).where(
        b.store == store, bi.added_at >= start, bi.added_at < end)).all()
    back = conn.execute(select(pb.member, pb.sku, pb.at).where(pb.store == store, pb.at >= start, pb.at < end)).all()
    events = [BasketEvent(r.member, r.sku, "added", r.added_at) for r in kept]
    for r in back:
        events.append(BasketEvent(r.member, r.sku, "added", r.at - timedelta(seconds=1)))
        events.append(BasketEvent(r.member, r.sku, "removed", r.at))
    return events


def _members(conn: Connection, store: str) -> list[MemberProfile]:
    m = t.members.c
    rows = conn.execute(select(m.id, m.household, m.joined_at).where(
        m.store == store, m.is_staff.is_(False), m.joined_at.is_not(None))).all()
    return [MemberProfile(r.id, r.household, r.joined_at, Consent()) for r in rows]


def store_figures(conn: Connection, store: str, start: datetime, end: datetime) -> StoreFigures:
    """Acquisition, the latest campaign's unit cost, weekly retention, the funnel and the Pareto shares."""
    purchases: list[Purchase] = [p for ps in crm_store.store_purchases(conn, store, since=start).values()
                                 for p in ps if p.at < end]
    visits = _visits(conn, store, start, end)
    members = _members(conn, store)
    c = t.campaigns.c
    row = conn.execute(select(t.campaigns).where(c.store == store, c.started_at < end, c.started_at >= start)
                       .order_by(c.started_at.desc())).first()
    cost = None
    if row is not None:
        campaign = Campaign(row.name, Decimal(row.cost), row.started_at, row.ended_at or end)
        cost = unit_acquisition_cost(campaign, members)
    return StoreFigures(
        acquisition_rate=acquisition_rate(members, visits, start, end), unit_acquisition_cost=cost,
        retention=retention(purchases, start, 7, max(0, (end - start).days // 7)),
        funnel=funnel(visits, _basket_events(conn, store, start, end), purchases),
        pareto=revenue_pareto(purchases))
