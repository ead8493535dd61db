"""The read side of the REST API: every answer comes from ``ingest.db.repo`` through a typed model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy.exc import SQLAlchemyError

from dashboard.auth import Operator
from dashboard.deps import DbEngine, Hub, Settings
from dashboard.schemas import (
    AlertOut,
    GatewayHealthOut,
    HealthOut,
    LiveHealthOut,
    MemberOut,
    ProductOut,
    StockOut,
    TagBindingOut,
    TransactionDetailOut,
    TransactionLineOut,
    TransactionOut,
    ZoneOut,
    money,
)
from ingest.db import repo

router = APIRouter(prefix="/api", tags=["store"], responses={401: {"description": "No login, or a wrong one"}})
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many rows, newest first.")]


def _transaction(row: repo.TransactionSummary) -> TransactionOut:
    return TransactionOut(
        id=row.id, store=row.store, member=row.member, member_name=row.member_name, lane=row.lane,
        total=money(row.total), points=row.points, trigger=row.trigger, at=row.at, line_count=row.line_count,
    )


@router.get("/health", response_model=HealthOut, summary="Database, broker link and gateways")
def get_health(_: Operator, engine: DbEngine, hub: Hub) -> HealthOut:
    live = LiveHealthOut(
        connected=hub.connected, clients=hub.client_count, received=hub.stats.received,
        rejected=hub.stats.rejected, last_rejection=hub.stats.last_rejection,
    )
    try:
        with engine.connect() as conn:
            found = repo.health(conn)
    except SQLAlchemyError:
        return HealthOut(
            status="degraded", database=False, live=live, gateways=[], dead_letters=0, open_alerts=0,
            last_batch_at=None, config_version=0,
        )
    return HealthOut(
        status="ok" if hub.connected else "degraded",
        database=True,
        live=live,
        gateways=[
            GatewayHealthOut(
                store=g.store, gateway=g.gateway, state=g.state, last_seen=g.last_seen, last_seq=g.last_seq,
                last_batch_at=g.last_batch_at,
            )
            for g in found.gateways
        ],
        dead_letters=found.dead_letters,
        open_alerts=found.open_alerts,
        last_batch_at=found.last_batch_at,
        config_version=found.config_version,
    )


@router.get("/transactions", response_model=list[TransactionOut], summary="Latest transactions")
def get_transactions(_: Operator, engine: DbEngine, settings: Settings, limit: Limit = 50) -> list[TransactionOut]:
    with engine.connect() as conn:
        return [_transaction(row) for row in repo.list_transactions(conn, limit, store=settings.store)]


@router.get(
    "/transactions/{transaction_id}",
    response_model=TransactionDetailOut,
    summary="One transaction with its lines",
    responses={404: {"description": "No such transaction"}},
)
def get_transaction(_: Operator, engine: DbEngine, transaction_id: str) -> TransactionDetailOut:
    with engine.connect() as conn:
        found = repo.get_transaction(conn, transaction_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no transaction {transaction_id!r}")
    return TransactionDetailOut(
        **dict(_transaction(found.summary)),
        lines=[
            TransactionLineOut(tag=x.tag, sku=x.sku, name=x.name, unit_price=money(x.unit_price))
            for x in found.lines
        ],
    )


@router.get("/alerts", response_model=list[AlertOut], summary="Latest alerts")
def get_alerts(
    _: Operator,
    engine: DbEngine,
    settings: Settings,
    limit: Limit = 50,
    open_only: Annotated[bool, Query(description="Only alerts not cleared yet.")] = False,
) -> list[AlertOut]:
    with engine.connect() as conn:
        rows = repo.list_alerts(conn, limit, store=settings.store, open_only=open_only)
    return [AlertOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/inventory", response_model=list[StockOut], summary="Stock per product and zone")
def get_inventory(_: Operator, engine: DbEngine, settings: Settings) -> list[StockOut]:
    with engine.connect() as conn:
        rows = repo.inventory(conn, store=settings.store)
    return [
        StockOut(
            sku=r.sku, name=r.name, price=money(r.price), reorder_below=r.reorder_below, on_shelf=r.on_shelf,
            in_store=r.in_store, sold=r.sold, missing=r.missing, reorder=r.reorder,
        )
        for r in rows
    ]


@router.get(
    "/members/{member_id}",
    response_model=MemberOut,
    summary="A member's profile and purchases",
    responses={404: {"description": "No such member"}},
)
def get_member(_: Operator, engine: DbEngine, member_id: str) -> MemberOut:
    with engine.connect() as conn:
        found = repo.get_member(conn, member_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no member {member_id!r}")
    return member_out(found)


def member_out(found: repo.MemberProfile) -> MemberOut:
    return MemberOut(
        id=found.id, store=found.store, name=found.name, is_staff=found.is_staff,
        tags=[TagBindingOut.model_validate(b, from_attributes=True) for b in found.tags],
        transactions=[_transaction(x) for x in found.transactions],
        transaction_count=found.transaction_count, total_spent=money(found.total_spent), points=found.points,
        visits=found.visits, last_purchase=found.last_purchase,
    )


@router.get("/zones", response_model=list[ZoneOut], summary="The store layout")
def get_zones(_: Operator, engine: DbEngine, settings: Settings) -> list[ZoneOut]:
    with engine.connect() as conn:
        rows = repo.list_zones(conn, store=settings.store)
    return [ZoneOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/products", response_model=list[ProductOut], summary="The catalog")
def get_products(_: Operator, engine: DbEngine, settings: Settings) -> list[ProductOut]:
    with engine.connect() as conn:
        rows = repo.list_products(conn, store=settings.store)
    return [
        ProductOut(
            sku=r.sku, store=r.store, name=r.name, price=money(r.price), gtin=r.gtin, category=r.category,
            reorder_below=r.reorder_below,
        )
        for r in rows
    ]
