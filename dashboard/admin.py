"""The write side of the REST API (admins only): catalog, members, tag bindings and store layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from dashboard.api import TagPath, member_out
from dashboard.auth import Admin
from dashboard.deps import DbEngine, Hub, Settings
from dashboard.schemas import (
    MemberIn,
    MemberOut,
    ProductIn,
    ProductOut,
    TagBindingOut,
    TagIn,
    ZoneIn,
    ZoneOut,
    money,
)
from dashboard.settings import DashboardSettings
from ingest.db import repo
from ingest.db.errors import DatabaseError, NotFound
from ingest.rules.model import Product, Zone

router = APIRouter(prefix="/api", tags=["admin"])
T = TypeVar("T")
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No login, or a wrong one"},
    403: {"description": "An operator login: changes need an admin"},
    400: {"description": "The store is not known for this request"},
    404: {"description": "A referenced member or product does not exist"},
    409: {"description": "The database refused the change"},
    422: {"description": "The request body or path is not valid"},
}
Sku = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="Product SKU")]
MemberId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="Member or staff id")]
ZoneName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="Zone name")]


def _store(settings: DashboardSettings, given: str | None) -> str:
    store = given or settings.store
    if store is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "this dashboard follows every store: say which one in the body's 'store' field",
        )
    return store


def _write(engine: Engine, change: Callable[[Connection], T]) -> T:
    """Run one admin change in its own transaction, turning repository errors into clear 4xx answers."""
    try:
        with engine.begin() as conn:
            return change(conn)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except DatabaseError as exc:
        raise HTTPException(422, str(exc)) from None
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the database refused the change: {exc.orig}") from None


@router.put("/products/{sku}", response_model=ProductOut, responses=_ERRORS, summary="Create or change a product")
def put_product(sku: Sku, body: ProductIn, _: Admin, engine: DbEngine, settings: Settings) -> ProductOut:
    store = _store(settings, body.store)
    product = Product(sku, body.name, body.price, body.gtin, body.category, body.reorder_below)

    def change(conn: Connection) -> ProductOut:
        repo.upsert_product(conn, product, store)
        row = next(p for p in repo.list_products(conn, store=store) if p.sku == sku)
        return ProductOut(
            sku=row.sku, store=row.store, name=row.name, price=money(row.price), gtin=row.gtin,
            category=row.category, reorder_below=row.reorder_below,
        )

    return _write(engine, change)


@router.put("/members/{member_id}", response_model=MemberOut, responses=_ERRORS, summary="Create or change a member")
def put_member(member_id: MemberId, body: MemberIn, _: Admin, engine: DbEngine, settings: Settings) -> MemberOut:
    store = _store(settings, body.store)

    def change(conn: Connection) -> MemberOut:
        repo.upsert_member(conn, member_id, body.name, store, is_staff=body.is_staff)
        found = repo.get_member(conn, member_id)
        assert found is not None
        return member_out(found)

    return _write(engine, change)


@router.put("/tags/{tag}", response_model=TagBindingOut, responses=_ERRORS, summary="Bind a tag to a member or product")
def put_tag(tag: TagPath, body: TagIn, _: Admin, engine: DbEngine, hub: Hub) -> TagBindingOut:
    canonical = _write(engine, lambda conn: repo.bind_tag(conn, tag, body.kind, body.ref))
    hub.tags.forget(canonical)
    return TagBindingOut(tag=canonical, kind=body.kind, ref=body.ref, valid_from=None, valid_to=None)


@router.put("/zones/{name}", response_model=ZoneOut, responses=_ERRORS, summary="Create or change a zone")
def put_zone(name: ZoneName, body: ZoneIn, _: Admin, engine: DbEngine, settings: Settings, hub: Hub) -> ZoneOut:
    store = _store(settings, body.store)
    zone = Zone(name, body.type, body.display, body.alarm, body.gateway)

    def change(conn: Connection) -> ZoneOut:
        repo.upsert_zone(conn, zone, store)
        row = next(z for z in repo.list_zones(conn, store=store) if z.name == name)
        return ZoneOut.model_validate(row, from_attributes=True)

    out = _write(engine, change)
    hub.state.know_zones([name])
    return out
