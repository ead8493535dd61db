"""The repository: what the dashboard (and the CLI) read from and write to ingest's database.

Every function takes a SQLAlchemy ``Connection`` (``with engine.connect() as conn`` to read,
``with engine.begin() as conn`` to write) and returns frozen dataclasses, never ORM rows. The admin
writes live in :mod:`ingest.db.admin` and are re-exported here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from ingest.db import schema as t
from ingest.db.admin import (
    bind_tag,
    config_version,
    return_item,
    seed_from_store_file,
    unbind_tag,
    upsert_member,
    upsert_product,
    upsert_store,
    upsert_zone,
)
from readers.epc import Sgtin, decode_epc
from readers.errors import ReaderError

__all__ = [
    "AlertRow",
    "Explanation",
    "GatewayHealth",
    "Health",
    "HeldItem",
    "LaneHold",
    "MemberProfile",
    "MissingItem",
    "ProductRow",
    "ProductStock",
    "TagBindingRow",
    "TagIdentityRow",
    "TransactionDetail",
    "TransactionLineRow",
    "TransactionSummary",
    "ZoneRow",
    "bind_tag",
    "clear_alert",
    "config_version",
    "get_alert",
    "get_member",
    "get_transaction",
    "health",
    "identify_tags",
    "inventory",
    "lane_hold",
    "list_alerts",
    "list_missing_items",
    "list_products",
    "list_transactions",
    "list_zones",
    "open_alert_counts",
    "return_item",
    "seed_from_store_file",
    "unbind_tag",
    "upsert_member",
    "upsert_product",
    "upsert_store",
    "upsert_zone",
]


@dataclass(frozen=True, slots=True)
class TransactionLineRow:
    tag: str
    sku: str
    name: str
    unit_price: Decimal
    returned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TransactionSummary:
    id: str
    store: str
    member: str
    member_name: str | None
    lane: str
    total: Decimal
    points: int
    trigger: str
    at: datetime
    line_count: int


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a decision was taken: the rule, its parameters, the zones the tag(s) passed and the reads."""

    rule: str
    params: dict[str, str]
    zone_sequence: tuple[str, ...]
    evidence: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TransactionDetail:
    summary: TransactionSummary
    lines: tuple[TransactionLineRow, ...]
    explanation: Explanation | None = None


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    store: str
    kind: str
    severity: str
    message: str
    zone: str | None
    tag: str | None
    member: str | None
    evidence: list[dict[str, Any]]
    at: datetime
    cleared_at: datetime | None
    rule: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """What the rule recorded beside the reads (e.g. ``product``, ``threshold``, ``verdict``)."""
    source: str | None = None
    """``edge``: the gateway decided (and sounded) it; ``ingest``: ingest decided it."""
    latency_ms: float | None = None
    """Edge alarms: from the first qualifying read at the gateway to the alarm output switching on."""
    params: dict[str, str] = field(default_factory=dict)
    zone_sequence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProductStock:
    sku: str
    name: str
    price: Decimal
    reorder_below: int
    on_shelf: dict[str, int]
    """Items in store per zone they were last seen in (``"?"`` for items never seen yet)."""
    in_store: int
    sold: int
    missing: int
    reorder: bool


@dataclass(frozen=True, slots=True)
class TagBindingRow:
    tag: str
    kind: str
    ref: str
    valid_from: datetime | None
    valid_to: datetime | None


@dataclass(frozen=True, slots=True)
class MemberProfile:
    id: str
    store: str
    name: str
    is_staff: bool
    tags: tuple[TagBindingRow, ...]
    transactions: tuple[TransactionSummary, ...]
    transaction_count: int
    total_spent: Decimal
    points: int
    visits: int
    last_purchase: datetime | None


@dataclass(frozen=True, slots=True)
class ZoneRow:
    name: str
    store: str
    type: str
    display: str | None
    alarm: str | None
    gateway: str | None


@dataclass(frozen=True, slots=True)
class ProductRow:
    sku: str
    store: str
    name: str
    price: Decimal
    gtin: str | None
    category: str
    reorder_below: int


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    store: str
    gateway: str
    state: str
    last_seen: datetime | None
    last_seq: int | None
    last_batch_at: datetime | None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Health:
    gateways: tuple[GatewayHealth, ...]
    dead_letters: int
    last_batch_at: datetime | None
    open_alerts: int
    config_version: int
    """Every store's configuration version added up (it moves whenever any store's does)."""


# -- transactions ---------------------------------------------------------------------------------


def _summaries(conn: Connection, where: Any, limit: int) -> list[TransactionSummary]:
    line_count = (
        select(func.count())
        .where(t.transaction_lines.c.transaction_id == t.transactions.c.id)
        .scalar_subquery()
    )
    query = (
        select(t.transactions, t.members.c.name.label("member_name"), line_count.label("line_count"))
        .select_from(t.transactions.outerjoin(t.members, t.members.c.id == t.transactions.c.member))
        .order_by(t.transactions.c.at.desc(), t.transactions.c.id.desc())
        .limit(limit)
    )
    if where is not None:
        query = query.where(where)
    return [
        TransactionSummary(
            id=row.id, store=row.store, member=row.member, member_name=row.member_name, lane=row.lane,
            total=Decimal(row.total), points=row.points, trigger=row.trigger, at=row.at,
            line_count=row.line_count,
        )
        for row in conn.execute(query)
    ]


def list_transactions(conn: Connection, limit: int = 50, store: str | None = None) -> list[TransactionSummary]:
    """The latest transactions, newest first."""
    return _summaries(conn, None if store is None else t.transactions.c.store == store, limit)


def get_transaction(conn: Connection, transaction_id: str) -> TransactionDetail | None:
    """One transaction with its lines, or None."""
    found = _summaries(conn, t.transactions.c.id == transaction_id, 1)
    if not found:
        return None
    lines = conn.execute(
        select(t.transaction_lines)
        .where(t.transaction_lines.c.transaction_id == transaction_id)
        .order_by(t.transaction_lines.c.id)
    )
    explained = conn.execute(
        select(t.transactions.c.explanation).where(t.transactions.c.id == transaction_id)
    ).scalar()
    return TransactionDetail(
        found[0],
        tuple(TransactionLineRow(r.tag, r.sku, r.name, Decimal(r.unit_price), r.returned_at) for r in lines),
        _explanation(explained),
    )


def _params(raw: Any) -> dict[str, str]:
    """A rule's parameters as text, stored either as an object or as ``[name, value]`` pairs."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        return {str(p[0]): str(p[1]) for p in raw if isinstance(p, list | tuple) and len(p) == 2}
    return {}


def _zones(raw: Any) -> tuple[str, ...]:
    return tuple(str(z) for z in raw) if isinstance(raw, list | tuple) else ()


def _explanation(raw: Any) -> Explanation | None:
    if not isinstance(raw, dict):
        return None
    evidence = raw.get("evidence")
    return Explanation(
        rule=str(raw.get("rule") or ""),
        params=_params(raw.get("params")),
        zone_sequence=_zones(raw.get("zone_sequence")),
        evidence=[e for e in evidence if isinstance(e, dict)] if isinstance(evidence, list) else [],
    )


# -- alerts ---------------------------------------------------------------------------------------


def list_alerts(
    conn: Connection, limit: int = 50, *, store: str | None = None, open_only: bool = False
) -> list[AlertRow]:
    """The latest alerts, newest first (``open_only``: those not cleared)."""
    query = select(t.alerts).order_by(t.alerts.c.at.desc(), t.alerts.c.id.desc()).limit(limit)
    if store is not None:
        query = query.where(t.alerts.c.store == store)
    if open_only:
        query = query.where(t.alerts.c.cleared_at.is_(None))
    return [_alert(r) for r in conn.execute(query)]


def _alert(r: Any) -> AlertRow:
    details = dict(r.details) if isinstance(r.details, dict) else {}
    return AlertRow(
        id=r.id, store=r.store, kind=r.kind, severity=r.severity, message=r.message, zone=r.zone,
        tag=r.tag, member=r.member, evidence=list(r.evidence or []), at=r.at, cleared_at=r.cleared_at,
        rule=r.rule, details=details, source=r.source, latency_ms=r.latency_ms,
        params=_params(details.get("params")), zone_sequence=_zones(details.get("zone_sequence")),
    )


def open_alert_counts(conn: Connection, store: str | None = None) -> dict[str, int]:
    """Alerts not cleared yet, counted by kind."""
    query = select(t.alerts.c.kind, func.count().label("n")).where(t.alerts.c.cleared_at.is_(None))
    if store is not None:
        query = query.where(t.alerts.c.store == store)
    return {r.kind: r.n for r in conn.execute(query.group_by(t.alerts.c.kind))}


def get_alert(conn: Connection, alert_id: int) -> AlertRow | None:
    """One alert with its evidence, or None."""
    row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
    return None if row is None else _alert(row)


def clear_alert(conn: Connection, alert_id: int, at: datetime, *, by: str | None = None) -> AlertRow | None:
    """An operator acknowledged the alert: set its ``cleared_at`` (kept if it was cleared before) and, with
    ``by``, note who did in its details. None if there is no such alert."""
    row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
    if row is None:
        return None
    if row.cleared_at is None:
        details = dict(row.details) if isinstance(row.details, dict) else {}
        if by is not None:
            details["cleared_by"] = by
        conn.execute(update(t.alerts).where(t.alerts.c.id == alert_id).values(cleared_at=at, details=details))
    return get_alert(conn, alert_id)


@dataclass(frozen=True, slots=True)
class HeldItem:
    tag: str
    sku: str
    name: str
    member: str
    """Whose basket the item had joined before the lane was held."""


@dataclass(frozen=True, slots=True)
class LaneHold:
    """A lane whose basket is held: the members present and the items in their baskets."""

    lane: str
    members: tuple[tuple[str, str | None], ...]
    """(member id, name) of each member named by the conflict or owning a held basket."""
    items: tuple[HeldItem, ...]
    held: bool
    """A basket of the lane is still held (False once the conflict cleared)."""


def lane_hold(conn: Connection, lane: str, members: list[str], *, store: str | None = None) -> LaneHold:
    """The lane's held baskets with their items, and the names of the members of a lane conflict."""
    query = select(t.baskets.c.id, t.baskets.c.member).where(t.baskets.c.lane == lane, t.baskets.c.status == "held")
    if store is not None:
        query = query.where(t.baskets.c.store == store)
    baskets = {r.id: r.member for r in conn.execute(query)}
    items: list[HeldItem] = []
    if baskets:
        rows = conn.execute(
            select(t.basket_items.c.basket_id, t.basket_items.c.tag, t.basket_items.c.sku, t.products.c.name)
            .outerjoin(t.products, t.products.c.sku == t.basket_items.c.sku)
            .where(t.basket_items.c.basket_id.in_(list(baskets)))
            .order_by(t.basket_items.c.added_at, t.basket_items.c.tag)
        )
        items = [HeldItem(r.tag, r.sku, r.name or r.sku, baskets[r.basket_id]) for r in rows]
    ids = list(dict.fromkeys([*members, *baskets.values()]))
    names = dict(conn.execute(select(t.members.c.id, t.members.c.name).where(t.members.c.id.in_(ids))).all())
    return LaneHold(lane, tuple((m, names.get(m)) for m in ids), tuple(items), bool(baskets))


# -- inventory ------------------------------------------------------------------------------------


def inventory(conn: Connection, store: str | None = None) -> list[ProductStock]:
    """Per product: items in store per zone, in store in total, sold, missing, and whether to reorder."""
    counts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    grouped = select(t.items.c.sku, t.items.c.status, t.items.c.last_zone, func.count().label("n")).group_by(
        t.items.c.sku, t.items.c.status, t.items.c.last_zone
    )
    for row in conn.execute(grouped):
        counts[row.sku][row.status][row.last_zone or "?"] = row.n
    query = select(t.products).order_by(t.products.c.sku)
    if store is not None:
        query = query.where(t.products.c.store == store)
    result = []
    for p in conn.execute(query):
        by_status = counts.get(p.sku, {})
        on_shelf = dict(sorted(by_status.get("in_store", {}).items()))
        in_store = sum(on_shelf.values())
        result.append(
            ProductStock(
                sku=p.sku, name=p.name, price=Decimal(p.price), reorder_below=p.reorder_below,
                on_shelf=on_shelf, in_store=in_store, sold=sum(by_status.get("sold", {}).values()),
                missing=sum(by_status.get("missing", {}).values()), reorder=in_store < p.reorder_below,
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class MissingItem:
    tag: str
    sku: str
    name: str
    last_zone: str | None
    last_seen: datetime | None


def list_missing_items(conn: Connection, store: str | None = None, limit: int = 200) -> list[MissingItem]:
    """Items marked missing (unseen for several inventory cycles), the longest unseen first."""
    query = (
        select(t.items.c.tag, t.items.c.sku, t.items.c.last_zone, t.items.c.last_seen, t.products.c.name)
        .join(t.products, t.products.c.sku == t.items.c.sku)
        .where(t.items.c.status == "missing")
        .order_by(t.items.c.last_seen, t.items.c.tag)
        .limit(limit)
    )
    if store is not None:
        query = query.where(t.products.c.store == store)
    return [MissingItem(r.tag, r.sku, r.name, r.last_zone, r.last_seen) for r in conn.execute(query)]


# -- members --------------------------------------------------------------------------------------


def get_member(conn: Connection, member_id: str, *, recent: int = 20) -> MemberProfile | None:
    """A member's profile: tags, latest transactions and totals over all of them; None if unknown."""
    row = conn.execute(select(t.members).where(t.members.c.id == member_id)).first()
    if row is None:
        return None
    tags = conn.execute(
        select(t.tag_bindings)
        .where(t.tag_bindings.c.ref == member_id, t.tag_bindings.c.kind.in_(("member", "staff")))
        .order_by(t.tag_bindings.c.id)
    )
    totals = conn.execute(
        select(t.transactions.c.total, t.transactions.c.points, t.transactions.c.at).where(
            t.transactions.c.member == member_id
        )
    ).all()
    visits = conn.execute(select(func.count()).where(t.visits.c.member == member_id)).scalar_one()
    return MemberProfile(
        id=row.id, store=row.store, name=row.name, is_staff=row.is_staff,
        tags=tuple(TagBindingRow(b.tag, b.kind, b.ref, b.valid_from, b.valid_to) for b in tags),
        transactions=tuple(_summaries(conn, t.transactions.c.member == member_id, recent)),
        transaction_count=len(totals),
        total_spent=sum((Decimal(x.total) for x in totals), Decimal("0")),
        points=sum(x.points for x in totals),
        visits=visits,
        last_purchase=max((x.at for x in totals), default=None),
    )


# -- layout and catalog ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreRow:
    id: str
    name: str
    currency: str


def list_stores(conn: Connection) -> list[StoreRow]:
    """Every store in the database (a chain's dashboard offers them to choose from)."""
    return [StoreRow(r.id, r.name, r.currency) for r in conn.execute(select(t.stores).order_by(t.stores.c.id))]


def list_zones(conn: Connection, store: str | None = None) -> list[ZoneRow]:
    query = select(t.zones).order_by(t.zones.c.name)
    if store is not None:
        query = query.where(t.zones.c.store == store)
    return [ZoneRow(r.name, r.store, r.type, r.display, r.alarm, r.gateway) for r in conn.execute(query)]


def list_products(conn: Connection, store: str | None = None) -> list[ProductRow]:
    query = select(t.products).order_by(t.products.c.sku)
    if store is not None:
        query = query.where(t.products.c.store == store)
    return [
        ProductRow(r.sku, r.store, r.name, Decimal(r.price), r.gtin, r.category, r.reorder_below)
        for r in conn.execute(query)
    ]


# -- health ---------------------------------------------------------------------------------------


def health(conn: Connection) -> Health:
    """Gateways with their state and last contact, dead letters, last batch time, open alerts."""
    gws = tuple(
        GatewayHealth(r.store, r.gateway, r.state, r.last_seen, r.last_seq, r.last_batch_at, dict(r.config or {}))
        for r in conn.execute(select(t.gateways).order_by(t.gateways.c.store, t.gateways.c.gateway))
    )
    return Health(
        gateways=gws,
        dead_letters=conn.execute(select(func.count()).select_from(t.dead_letters)).scalar_one(),
        last_batch_at=conn.execute(select(func.max(t.gateway_batches.c.received_at))).scalar_one(),
        open_alerts=conn.execute(
            select(func.count()).select_from(t.alerts).where(t.alerts.c.cleared_at.is_(None))
        ).scalar_one(),
        config_version=config_version(conn),
    )


# -- tag look-up (the dashboard's live presence view) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class TagIdentityRow:
    tag: str
    kind: str
    """``member``, ``staff`` or ``item``."""
    ref: str
    """Member or staff id; the SKU of an item."""
    name: str


def identify_tags(conn: Connection, tags: list[str]) -> dict[str, TagIdentityRow]:
    """What each known tag is: a member's or staff card with the person's name, or an item with its
    product's name. Unknown tags are left out."""
    found: dict[str, TagIdentityRow] = {}
    wanted = list(dict.fromkeys(tags))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        people = (
            select(t.tag_bindings.c.tag, t.tag_bindings.c.kind, t.tag_bindings.c.ref, t.members.c.name)
            .join(t.members, t.members.c.id == t.tag_bindings.c.ref)
            .where(t.tag_bindings.c.tag.in_(chunk), t.tag_bindings.c.kind.in_(("member", "staff")))
        )
        for r in conn.execute(people):
            found[r.tag] = TagIdentityRow(r.tag, r.kind, r.ref, r.name)
        stock = (
            select(t.items.c.tag, t.items.c.sku, t.products.c.name)
            .join(t.products, t.products.c.sku == t.items.c.sku)
            .where(t.items.c.tag.in_(chunk))
        )
        for item in conn.execute(stock):
            found[item.tag] = TagIdentityRow(item.tag, "item", item.sku, item.name)
    _identify_by_gtin(conn, [tag for tag in wanted if tag not in found], found)
    return found


def _identify_by_gtin(conn: Connection, tags: list[str], found: dict[str, TagIdentityRow]) -> None:
    """SGTIN-96 EPCs not in stock yet: an item of the catalog product with the EPC's GTIN."""
    gtins: dict[str, str] = {}
    for tag in tags:
        if not tag.startswith("EPC:"):
            continue
        try:
            decoded = decode_epc(tag[4:])
        except ReaderError:
            continue
        if isinstance(decoded, Sgtin):
            gtins[tag] = decoded.gtin
    if not gtins:
        return
    query = select(t.products.c.sku, t.products.c.name, t.products.c.gtin).where(
        t.products.c.gtin.in_(sorted(set(gtins.values())))
    )
    by_gtin = {r.gtin: (r.sku, r.name) for r in conn.execute(query)}
    for tag, gtin in gtins.items():
        if gtin in by_gtin:
            sku, name = by_gtin[gtin]
            found[tag] = TagIdentityRow(tag, "item", sku, name)
