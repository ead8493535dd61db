"""The read side of the REST API: every answer comes from ``ingest.db.repo`` through a typed model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from dashboard.auth import Auth, Operator
from dashboard.deps import DbEngine, Hub, Settings, StoreScope
from dashboard.schemas import (
    ROW_ID_MAX,
    AlertOut,
    ExplanationOut,
    GatewayHealthOut,
    HealthOut,
    HeldItemOut,
    LaneHoldOut,
    LaneMemberOut,
    LiveHealthOut,
    MemberOut,
    MissingItemOut,
    ProductOut,
    ReturnOut,
    StockOut,
    StockPanelOut,
    StoreOut,
    TagBindingOut,
    TransactionDetailOut,
    TransactionLineOut,
    TransactionOut,
    ZoneOut,
    money,
)
from dashboard.settings import DashboardSettings
from ingest.db import admin, repo
from ingest.db.errors import DatabaseError, NotFound

router = APIRouter(prefix="/api", tags=["store"], responses={
    401: {"description": "No login, or a wrong one"},
    404: {"description": "Not found, or a store this dashboard does not show (?store=)"},
})
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many rows, newest first.")]
AlertId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="The alert's id.")]
TagPath = Annotated[
    str,
    Path(pattern=r"^([Ee][Pp][Cc]:[0-9A-Fa-f]{4,124}|[Uu][Ii][Dd]:[0-9A-Fa-f]{4,32})$", description="EPC:… or UID:…"),
]
LANE_CONFLICT = "lane_conflict"
STOCK_ALERTS = ("missing", "misplaced", "low_stock")


def _transaction(row: repo.TransactionSummary) -> TransactionOut:
    return TransactionOut(
        id=row.id, store=row.store, member=row.member, member_name=row.member_name, lane=row.lane,
        total=money(row.total), points=row.points, trigger=row.trigger, at=row.at, line_count=row.line_count,
    )


@router.get("/health", response_model=HealthOut, summary="Database, broker link and gateways")
def get_health(_: Operator, engine: DbEngine, hub: Hub, auth: Auth) -> HealthOut:
    logins = {"failed_logins": auth.throttle.failed, "refused_logins": auth.throttle.refused}
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
            last_batch_at=None, config_version=0, **logins,
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
        **logins,
    )


@router.get("/transactions", response_model=list[TransactionOut], summary="Latest transactions")
def get_transactions(_: Operator, engine: DbEngine, store: StoreScope, limit: Limit = 50) -> list[TransactionOut]:
    with engine.connect() as conn:
        return [_transaction(row) for row in repo.list_transactions(conn, limit, store=store)]


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
    why = found.explanation
    return TransactionDetailOut(
        **dict(_transaction(found.summary)),
        lines=[
            TransactionLineOut(tag=x.tag, sku=x.sku, name=x.name, unit_price=money(x.unit_price),
                               returned_at=x.returned_at)
            for x in found.lines
        ],
        explanation=None if why is None else ExplanationOut(
            rule=why.rule, params=why.params, zone_sequence=list(why.zone_sequence), evidence=why.evidence,
        ),
    )


def _in_scope(store: str, settings: DashboardSettings) -> bool:
    """A dashboard started for one store shows nothing of another; one that follows every store shows all."""
    return settings.store is None or store == settings.store


def _conflict_members(row: repo.AlertRow) -> list[str]:
    """The members a lane conflict named: in its details (a list or comma-separated text) or its evidence."""
    named = row.details.get("members")
    if isinstance(named, str):
        return [m for m in named.split(",") if m]
    if isinstance(named, list):
        return [str(m) for m in named]
    return [str(e["tag"]) for e in row.evidence if isinstance(e.get("tag"), str) and e["tag"].startswith("UID:")]


def _alert_out(conn: Connection, row: repo.AlertRow) -> AlertOut:
    hold = None
    if row.kind == LANE_CONFLICT and row.zone is not None:
        found = repo.lane_hold(conn, row.zone, _conflict_members(row), store=row.store)
        hold = LaneHoldOut(
            lane=found.lane, held=found.held,
            members=[LaneMemberOut(id=m, name=name) for m, name in found.members],
            items=[HeldItemOut(tag=x.tag, sku=x.sku, name=x.name, member=x.member) for x in found.items],
        )
    return AlertOut(
        id=row.id, store=row.store, kind=row.kind, severity=row.severity, message=row.message, zone=row.zone,
        tag=row.tag, member=row.member, evidence=row.evidence, at=row.at, cleared_at=row.cleared_at, rule=row.rule,
        params=row.params, zone_sequence=list(row.zone_sequence), details=row.details, source=row.source,
        latency_ms=row.latency_ms, hold=hold,
    )


@router.get("/alerts", response_model=list[AlertOut], summary="Latest alerts")
def get_alerts(
    _: Operator,
    engine: DbEngine,
    store: StoreScope,
    limit: Limit = 50,
    open_only: Annotated[bool, Query(description="Only alerts not cleared yet.")] = False,
) -> list[AlertOut]:
    with engine.connect() as conn:
        rows = repo.list_alerts(conn, limit, store=store, open_only=open_only)
        return [_alert_out(conn, row) for row in rows]


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertOut,
    summary="One alert with its evidence",
    responses={404: {"description": "No such alert"}},
)
def get_alert(_: Operator, engine: DbEngine, settings: Settings, alert_id: AlertId) -> AlertOut:
    with engine.connect() as conn:
        row = repo.get_alert(conn, alert_id)
        if row is None or not _in_scope(row.store, settings):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
        return _alert_out(conn, row)


@router.post(
    "/alerts/{alert_id}/clear",
    response_model=AlertOut,
    summary="Acknowledge an alert: it is shown as cleared from now on",
    responses={404: {"description": "No such alert"}},
)
def clear_alert(who: Operator, engine: DbEngine, settings: Settings, alert_id: AlertId) -> AlertOut:
    with engine.begin() as conn:
        found = repo.get_alert(conn, alert_id)
        row = None if found is None or not _in_scope(found.store, settings) else repo.clear_alert(
            conn, alert_id, datetime.now(UTC), by=who.login
        )
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
        return _alert_out(conn, row)


@router.post(
    "/items/{tag}/return",
    response_model=ReturnOut,
    summary="Take a sold item back: it becomes sellable again and the exit gates stop letting it pass",
    responses={404: {"description": "The item is not currently sold"},
               400: {"description": "The store cannot take this item back"}},
)
def return_item(_: Operator, engine: DbEngine, tag: TagPath) -> ReturnOut:
    at = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            sale = repo.return_item(conn, tag, at)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except DatabaseError as exc:  # 422 is the schema's answer for a malformed request only
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return ReturnOut(tag=admin.normalise_tag(tag), transaction_id=sale, returned_at=at)


@router.get("/inventory", response_model=list[StockOut], summary="Stock per product and zone")
def get_inventory(_: Operator, engine: DbEngine, store: StoreScope) -> list[StockOut]:
    with engine.connect() as conn:
        rows = repo.inventory(conn, store=store)
    return [_stock(r) for r in rows]


def _stock(r: repo.ProductStock) -> StockOut:
    return StockOut(
        sku=r.sku, name=r.name, price=money(r.price), reorder_below=r.reorder_below, on_shelf=r.on_shelf,
        in_store=r.in_store, sold=r.sold, missing=r.missing, reorder=r.reorder,
    )


@router.get("/stock", response_model=StockPanelOut, summary="What to restock and what is missing")
def get_stock(_: Operator, engine: DbEngine, store: StoreScope) -> StockPanelOut:
    with engine.connect() as conn:
        low = [_stock(r) for r in repo.inventory(conn, store=store) if r.reorder]
        missing = repo.list_missing_items(conn, store=store)
        counts = repo.open_alert_counts(conn, store=store)
    return StockPanelOut(
        low=sorted(low, key=lambda s: (s.in_store - s.reorder_below, s.sku)),
        missing=[MissingItemOut.model_validate(m, from_attributes=True) for m in missing],
        open_alerts={kind: counts.get(kind, 0) for kind in STOCK_ALERTS},
    )


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


@router.get("/stores", response_model=list[StoreOut], summary="The stores this dashboard shows")
def get_stores(_: Operator, engine: DbEngine, settings: Settings) -> list[StoreOut]:
    with engine.connect() as conn:
        rows = repo.list_stores(conn)
    return [StoreOut(id=r.id, name=r.name, currency=r.currency) for r in rows if _in_scope(r.id, settings)]


@router.get("/zones", response_model=list[ZoneOut], summary="The store layout")
def get_zones(_: Operator, engine: DbEngine, store: StoreScope) -> list[ZoneOut]:
    with engine.connect() as conn:
        rows = repo.list_zones(conn, store=store)
    return [ZoneOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/products", response_model=list[ProductOut], summary="The catalog")
def get_products(_: Operator, engine: DbEngine, store: StoreScope) -> list[ProductOut]:
    with engine.connect() as conn:
        rows = repo.list_products(conn, store=store)
    return [
        ProductOut(
            sku=r.sku, store=r.store, name=r.name, price=money(r.price), gtin=r.gtin, category=r.category,
            reorder_below=r.reorder_below,
        )
        for r in rows
    ]
