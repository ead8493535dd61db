"""Admin writes: store layout, catalog, members and tag bindings. Each bumps the configuration version of
the stores it concerns (``store_config_versions``).

Call inside a transaction (``with engine.begin() as conn``). A store's ingest reloads its catalog when its own
version moves, so a product added in the dashboard is sold at the next visit without a restart, and seeding
or editing one store of a chain reloads no other store.

Which stores a write concerns: a store, zone, product or member edit concerns its store (and the store the row
belonged to before, if it moved); a new tag binding concerns the store of the member, staff member or product
it binds to. Every store's ingest resolves every tag bound when it (re)loaded, so a change to what an already
bound tag means (bound again, its validity cut, unbound) concerns every store: a store that kept the old
binding would take the card or item for its former owner. A return concerns the store of the item's product
and the store that sold it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ingest.db import schema as t
from ingest.db.errors import DatabaseError, NotFound
from ingest.rules.model import ZONE_TYPES, Product, Zone

if TYPE_CHECKING:
    from ingest.storefile import StoreFile

BindingKind = Literal["member", "staff", "item"]
_TAG_RE = re.compile(r"^(EPC:[0-9A-F]{4,124}|UID:[0-9A-F]{4,32})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Person:
    """A member or a staff member as the store file lists them."""

    id: str
    name: str
    tags: tuple[str, ...] = ()
    validity: tuple[tuple[str, datetime | None, datetime | None], ...] = ()
    """(tag, valid_from, valid_to) of the tags that are this person's only for a period."""

    def period(self, tag: str) -> tuple[datetime | None, datetime | None]:
        return next(((start, end) for t_, start, end in self.validity if t_ == tag), (None, None))


@dataclass(frozen=True, slots=True)
class StockItem:
    """A tagged item in stock when the store file was written."""

    tag: str
    sku: str
    zone: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def config_version(conn: Connection, store: str | None = None) -> int:
    """``store``'s catalog/layout version (0 before its first admin write); without ``store``, the sum over
    every store (it moves whenever any store's version does)."""
    v = t.store_config_versions.c
    if store is None:
        found = conn.execute(select(func.sum(v.version))).scalar()
    else:
        found = conn.execute(select(v.version).where(v.store == store)).scalar()
    return int(found or 0)


def _bump(conn: Connection, *stores: str | None) -> None:
    """Move the version of each of ``stores`` (``None`` ignored), in name order so that two writers that
    bump several stores take the rows in the same order."""
    now = _now()
    v = t.store_config_versions
    for store in sorted({s for s in stores if s is not None}):
        increment = update(v).where(v.c.store == store).values(version=v.c.version + 1, updated_at=now)
        if conn.execute(increment).rowcount == 0:
            try:  # the store's first write; an ingest seeding it and a dashboard edit may race for it
                with conn.begin_nested():
                    conn.execute(insert(v).values(store=store, version=1, updated_at=now))
            except IntegrityError:
                conn.execute(increment)


def _bump_all(conn: Connection) -> None:
    """Move every store's version: the change concerns what every store's ingest holds."""
    _bump(conn, *conn.execute(select(t.stores.c.id)).scalars())


def _store_of(conn: Connection, table: Any, key: Any, value: str) -> str | None:
    """The store of the row of ``table`` whose ``key`` is ``value``, if there is one."""
    found = conn.execute(select(table.c.store).where(key == value)).scalar()
    return None if found is None else str(found)


def _upsert(conn: Connection, table: Any, key: dict[str, Any], values: dict[str, Any]) -> bool:
    """Insert or update one row by its key (portable: no dialect-specific ON CONFLICT); True if changed."""
    where = [table.c[k] == v for k, v in key.items()]
    current = conn.execute(select(*(table.c[c] for c in values)).where(*where)).first()
    if current is None:
        conn.execute(insert(table).values(**key, **values))
        return True
    if dict(current._mapping) == values:
        return False
    conn.execute(update(table).where(*where).values(**values))
    return True


def normalise_tag(tag: str) -> str:
    """``epc:3074…`` → ``EPC:3074…``; raises :class:`DatabaseError` for anything that is no tag."""
    text = tag.strip()
    prefix, _, number = text.partition(":")
    canonical = f"{prefix.upper()}:{number.upper()}"
    if not _TAG_RE.match(canonical):
        raise DatabaseError(f"tag {tag!r} is not 'EPC:<hex>' or 'UID:<hex>'")
    return canonical


def _check_name(value: str, what: str) -> str:
    if not _NAME_RE.match(value):
        raise DatabaseError(f"{what} {value!r} is not valid: 1-64 letters, digits, '-', '_', '.', ':' or '/'")
    return value


def _price(value: Decimal | str) -> str:
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise DatabaseError(f"price {value!r} is not a decimal number") from None
    if not price.is_finite() or price < 0:
        raise DatabaseError(f"price {value!r} must be a finite amount of at least 0")
    return str(price)


def upsert_store(conn: Connection, store: str, name: str = "", currency: str = "EUR") -> None:
    if _upsert(conn, t.stores, {"id": _check_name(store, "store")}, {"name": name, "currency": currency}):
        _bump(conn, store)


def _ensure_store(conn: Connection, store: str) -> None:
    if conn.execute(select(t.stores.c.id).where(t.stores.c.id == store)).first() is None:
        upsert_store(conn, store)


def upsert_zone(conn: Connection, zone: Zone, store: str) -> None:
    if zone.type not in ZONE_TYPES:
        raise DatabaseError(f"zone {zone.name!r}: type {zone.type!r} is not one of {', '.join(ZONE_TYPES)}")
    _ensure_store(conn, store)
    values = {"store": store, "type": zone.type, "display": zone.display, "alarm": zone.alarm,
              "gateway": zone.gateway}
    before = _store_of(conn, t.zones, t.zones.c.name, zone.name)
    if _upsert(conn, t.zones, {"name": _check_name(zone.name, "zone")}, values):
        _bump(conn, store, before)


def upsert_product(conn: Connection, product: Product, store: str) -> None:
    if product.gtin is not None and not re.fullmatch(r"\d{14}", product.gtin):
        raise DatabaseError(f"product {product.sku!r}: GTIN {product.gtin!r} is not 14 digits")
    if product.reorder_below < 0:
        raise DatabaseError(f"product {product.sku!r}: reorder_below must be at least 0")
    _ensure_store(conn, store)
    values = {"store": store, "name": product.name, "price": _price(product.price), "gtin": product.gtin,
              "category": product.category, "reorder_below": product.reorder_below,
              "home_zones": list(product.home_zones) or None}
    before = _store_of(conn, t.products, t.products.c.sku, product.sku)
    if _upsert(conn, t.products, {"sku": _check_name(product.sku, "SKU")}, values):
        _bump(conn, store, before)


def upsert_member(conn: Connection, member_id: str, name: str, store: str, *, is_staff: bool = False) -> None:
    _ensure_store(conn, store)
    values = {"store": store, "name": name, "is_staff": is_staff}
    before = _store_of(conn, t.members, t.members.c.id, member_id)
    if _upsert(conn, t.members, {"id": _check_name(member_id, "member id")}, values):
        _bump(conn, store, before)


def bind_tag(
    conn: Connection,
    tag: str,
    kind: BindingKind,
    ref: str,
    *,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> str:
    """Bind ``tag`` to a member, staff member or product SKU (an item); returns the normalised tag.

    A tag has one binding at a time: binding it again replaces the earlier ones whose validity overlaps
    the new one's; an earlier binding that started before the new one ends where the new one starts (a
    reissued card keeps its history but never again stands for its old owner). An item binding also puts
    the item in stock (status ``in_store``) unless it is already known.
    """
    canonical = normalise_tag(tag)
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise DatabaseError(f"tag {canonical}: valid_to {valid_to} is not after valid_from {valid_from}")
    if kind in ("member", "staff"):
        if (owner := _store_of(conn, t.members, t.members.c.id, ref)) is None:
            raise NotFound(f"tag {canonical}: no member or staff member {ref!r}")
    elif kind == "item":
        if (owner := _store_of(conn, t.products, t.products.c.sku, ref)) is None:
            raise NotFound(f"tag {canonical}: no product with SKU {ref!r}")
    else:
        raise DatabaseError(f"tag {canonical}: binding kind {kind!r} is not member, staff or item")
    wanted = {"kind": kind, "ref": ref, "valid_from": valid_from, "valid_to": valid_to}
    existing = conn.execute(
        select(t.tag_bindings.c.id, t.tag_bindings.c.kind, t.tag_bindings.c.ref, t.tag_bindings.c.valid_from,
               t.tag_bindings.c.valid_to).where(t.tag_bindings.c.tag == canonical)
    ).all()
    overlapping = [r for r in existing if _overlap(r.valid_from, r.valid_to, valid_from, valid_to)]
    if [{k: v for k, v in r._mapping.items() if k != "id"} for r in overlapping] == [wanted]:
        return canonical
    for old in overlapping:
        if valid_from is not None and (old.valid_from is None or old.valid_from < valid_from):
            conn.execute(update(t.tag_bindings).where(t.tag_bindings.c.id == old.id).values(valid_to=valid_from))
        else:
            conn.execute(delete(t.tag_bindings).where(t.tag_bindings.c.id == old.id))
    conn.execute(insert(t.tag_bindings).values(tag=canonical, **wanted))
    concerned: set[str | None] = {owner}
    if kind == "item":
        current = conn.execute(select(t.items.c.sku).where(t.items.c.tag == canonical)).first()
        if current is None:
            conn.execute(insert(t.items).values(tag=canonical, sku=ref, status="in_store"))
        elif current.sku != ref:
            concerned.add(_store_of(conn, t.products, t.products.c.sku, current.sku))
            conn.execute(update(t.items).where(t.items.c.tag == canonical).values(sku=ref))
    if overlapping:
        _bump_all(conn)  # the tag meant something else until now, in every store that loaded it
    else:
        _bump(conn, *concerned)
    return canonical


def _overlap(a_from: datetime | None, a_to: datetime | None, b_from: datetime | None, b_to: datetime | None) -> bool:
    return (a_from is None or b_to is None or a_from < b_to) and (b_from is None or a_to is None or b_from < a_to)


def unbind_tag(conn: Connection, tag: str) -> bool:
    """Remove a tag's binding; True if there was one."""
    done = conn.execute(delete(t.tag_bindings).where(t.tag_bindings.c.tag == normalise_tag(tag)))
    if done.rowcount:
        _bump_all(conn)  # every store that loaded the binding resolves the tag by it
    return bool(done.rowcount)


def return_item(conn: Connection, tag: str, at: datetime | None = None) -> str:
    """A sold item brought back: its sale line is marked returned and the item is in store (sellable) again.

    Returns the id of the sale it came from; raises :class:`NotFound` if the item is not currently sold.
    Bumps the version of the item's store and of the store that sold it, so their ingest reloads, tells its
    rules and disallows the tag at the exit gates.
    """
    tag = normalise_tag(tag)
    at = at or _now()
    lines = t.transaction_lines
    sale = conn.execute(select(lines.c.transaction_id).where(lines.c.tag == tag, lines.c.returned_at.is_(None))).scalar()
    if sale is None:
        raise NotFound(f"item {tag} is not sold, so it cannot be returned")
    conn.execute(update(lines).where(lines.c.tag == tag, lines.c.returned_at.is_(None)).values(returned_at=at))
    conn.execute(update(t.items).where(t.items.c.tag == tag).values(status="in_store", last_seen=at))
    sku = conn.execute(select(t.items.c.sku).where(t.items.c.tag == tag)).scalar()
    _bump(conn, _store_of(conn, t.transactions, t.transactions.c.id, sale),
          None if sku is None else _store_of(conn, t.products, t.products.c.sku, sku))
    return str(sale)


def seed(
    conn: Connection,
    *,
    store: str,
    name: str = "",
    currency: str = "EUR",
    zones: Iterable[Zone] = (),
    products: Iterable[Product] = (),
    members: Iterable[Person] = (),
    staff: Iterable[Person] = (),
    items: Iterable[StockItem] = (),
) -> int:
    """Make the database hold at least this layout, catalog, people and stock; idempotent.

    Existing rows are updated to match; items already known keep their status and location (a sold
    item is not put back on the shelf by a restart). Returns the store's config version afterwards.
    """
    upsert_store(conn, store, name, currency)
    for zone in zones:
        upsert_zone(conn, zone, store)
    for product in products:
        upsert_product(conn, product, store)
    for kind, people in (("member", members), ("staff", staff)):
        for person in people:
            upsert_member(conn, person.id, person.name, store, is_staff=kind == "staff")
            for tag in person.tags:
                start, end = person.period(tag)
                bind_tag(conn, tag, "staff" if kind == "staff" else "member", person.id, valid_from=start,
                         valid_to=end)
    for item in items:
        canonical = normalise_tag(item.tag)
        if conn.execute(select(t.items.c.tag).where(t.items.c.tag == canonical)).first() is None:
            bind_tag(conn, canonical, "item", item.sku)
            if item.zone is not None:
                conn.execute(update(t.items).where(t.items.c.tag == canonical).values(last_zone=item.zone))
    return config_version(conn, store)


def seed_from_store_file(conn: Connection, store_file: StoreFile) -> int:
    """Seed from a loaded store file (:func:`ingest.storefile.load_store_file`); idempotent."""
    from ingest.db.crm_repo import seed_crm
    from ingest.db.storefile_adapter import seed_arguments

    seed(conn, **seed_arguments(store_file))
    seed_crm(conn, store_file)
    return config_version(conn, store_file.store.id)
