"""Bookkeeping rows of the consumer: batches seen, gateway status, sensor values, acks, dead letters;
and the state ingest loads at start (layout, catalog, bindings, sold items, last locations)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from contract.payloads import Ack, SensorsBatch, Status
from ingest.db import schema as t
from ingest.db.admin import config_version
from ingest.rules.model import CommittedBasket, OpenBasket, OpenVisit, Product, StoredLine, Zone
from ingest.rules.tagtable import TagTable

MAX_DEAD_LETTER_BYTES = 16_384


def seen_batch(conn: Connection, store: str, gateway: str, seq: int) -> bool:
    """True if this (store, gateway, seq) was processed before (a redelivery or a replay)."""
    key = (t.gateway_batches.c.store == store, t.gateway_batches.c.gateway == gateway, t.gateway_batches.c.seq == seq)
    return conn.execute(select(t.gateway_batches.c.seq).where(*key)).first() is not None


@dataclass(frozen=True, slots=True)
class GatewaySeqs:
    """One gateway's highest stored seq and the seqs stored in the window below it."""

    store: str
    gateway: str
    last: int | None
    recent: tuple[int, ...]


def load_sequences(conn: Connection, store: str, window: int) -> list[GatewaySeqs]:
    """What the in-memory sequence book starts from: per gateway of ``store``, its last seq and the seqs
    stored within ``window`` below it (the primary key's index answers each range)."""
    out = []
    b = t.gateway_batches
    for row in conn.execute(select(t.gateways.c.gateway, t.gateways.c.last_seq).where(t.gateways.c.store == store)):
        recent: tuple[int, ...] = ()
        if row.last_seq is not None:
            recent = tuple(conn.execute(select(b.c.seq).where(
                b.c.store == store, b.c.gateway == row.gateway, b.c.seq > row.last_seq - window)).scalars())
        out.append(GatewaySeqs(store, row.gateway, row.last_seq, recent))
    return out


@dataclass(frozen=True, slots=True)
class BatchKey:
    """A stored batch: ``(store, gateway, seq)`` and its kind (``reads``, ``sensors``, ``alarms``)."""

    store: str
    gateway: str
    seq: int
    kind: str


def record_batches(conn: Connection, batches: Sequence[BatchKey], at: datetime) -> None:
    """Remember the batches in one statement, and each gateway's newest seq (the primary key makes a
    duplicate, e.g. stored by a second ingest process, fail the whole transaction)."""
    if not batches:
        return
    conn.execute(insert(t.gateway_batches), [
        {"store": b.store, "gateway": b.gateway, "seq": b.seq, "kind": b.kind, "received_at": at} for b in batches])
    newest: dict[tuple[str, str], int] = {}
    for b in batches:
        newest[(b.store, b.gateway)] = max(b.seq, newest.get((b.store, b.gateway), 0))
    for (store, gateway), seq in newest.items():
        key = (t.gateways.c.store == store, t.gateways.c.gateway == gateway)
        current = conn.execute(select(t.gateways.c.last_seq).where(*key)).first()
        if current is None:
            conn.execute(insert(t.gateways).values(store=store, gateway=gateway, state="online", last_seen=at,
                                                   last_seq=seq, last_batch_at=at, config={}))
        else:
            conn.execute(update(t.gateways).where(*key).values(
                last_seen=at, last_batch_at=at, last_seq=max(seq, current.last_seq or 0)))


def record_status(conn: Connection, status: Status) -> None:
    key = (t.gateways.c.store == status.store, t.gateways.c.gateway == status.gateway)
    summary = {"version": status.version, "devices": [d.model_dump(mode="json") for d in status.devices]}
    values = {"state": status.state, "last_seen": status.at, "config": summary}
    if conn.execute(update(t.gateways).where(*key).values(**values)).rowcount == 0:
        conn.execute(insert(t.gateways).values(store=status.store, gateway=status.gateway, **values))


def record_sensors(conn: Connection, batch: SensorsBatch) -> None:
    """Keep the latest value of each sensor (the history goes to the time series)."""
    latest: dict[str, Any] = {}
    for sample in batch.samples:
        if sample.sensor not in latest or latest[sample.sensor].at <= sample.at:
            latest[sample.sensor] = sample
    for sample in latest.values():
        values = {"store": batch.store, "gateway": batch.gateway, "kind": sample.kind, "value": sample.value,
                  "unit": sample.unit, "zone": sample.zone, "at": sample.at}
        where = (t.sensor_latest.c.sensor == sample.sensor,)
        row = conn.execute(select(t.sensor_latest.c.at).where(*where)).first()
        if row is None:
            conn.execute(insert(t.sensor_latest).values(sensor=sample.sensor, **values))
        elif row.at <= sample.at:
            conn.execute(update(t.sensor_latest).where(*where).values(**values))


def record_ack(conn: Connection, ack: Ack) -> bool:
    """Store a gateway's answer to a command; False if no such command was sent to that gateway."""
    done = conn.execute(
        update(t.commands)
        .where(t.commands.c.id == ack.id, t.commands.c.gateway == ack.gateway, t.commands.c.store == ack.store)
        .values(ack_ok=ack.ok, ack_error=ack.error or None, acked_at=ack.at)
    )
    return bool(done.rowcount)


def record_dead_letter(conn: Connection, topic: str, reason: str, payload: bytes, at: datetime) -> None:
    conn.execute(insert(t.dead_letters).values(
        topic=topic[:300], reason=reason, payload=payload[:MAX_DEAD_LETTER_BYTES], payload_size=len(payload),
        received_at=at))


STREAM_ROWS = 10_000
"""Rows fetched at a time when loading the tags: a million items are never held as rows at once."""


@dataclass(frozen=True, slots=True)
class StoreState:
    """What the engine and the resolver start from. ``bindings`` holds every tag's binding and item row
    once; ``sold``, ``locations``, ``stock`` and ``missing`` are views of it (see :mod:`ingest.rules.tagtable`)."""

    zones: dict[str, Zone]
    products: dict[str, Product]
    bindings: TagTable
    sold: AbstractSet[str]
    locations: Mapping[str, str]
    config_version: int
    stock: Mapping[str, str] = field(default_factory=dict)
    """Tag -> SKU of every item not sold (in the store, or missing)."""
    missing: AbstractSet[str] = frozenset()
    """Items whose status is ``missing``."""
    visits: tuple[OpenVisit, ...] = ()
    """Open visits, the newest per member."""
    baskets: tuple[OpenBasket, ...] = ()
    """Uncommitted baskets (open or held) with their lines."""
    committed: tuple[CommittedBasket, ...] = ()
    """Baskets committed since the ``committed_since`` given to :func:`load_state`."""


def load_state(conn: Connection, store: str, tags: TagTable | None = None, *,
               committed_since: datetime | None = None) -> StoreState:
    """The state at start; or, given the ``tags`` loaded then, at a reload: the tags are bound afresh in place
    and ``sold`` is read again, while ``stock``, ``locations`` and ``missing`` stay those of the start (the
    rules take them only at the start). The baskets committed since ``committed_since`` come with it if given."""
    zones = {
        r.name: Zone(r.name, r.type, r.display, r.alarm, r.gateway)
        for r in conn.execute(select(t.zones).where(t.zones.c.store == store))
    }
    products = {
        r.sku: Product(r.sku, r.name, Decimal(r.price), r.gtin, r.category, r.reorder_below,
                       tuple(r.home_zones or ()))
        for r in conn.execute(select(t.products).where(t.products.c.store == store))
    }
    sold: AbstractSet[str]
    if tags is None:
        tags = load_tags(conn)
        sold = tags.sold
    else:
        tags.unbind_all()
        _bind(conn, tags)
        sold = frozenset(conn.execute(select(t.items.c.tag).where(t.items.c.status == "sold")
                                      .execution_options(yield_per=STREAM_ROWS)).scalars())
    return StoreState(zones, products, tags, sold, tags.locations, config_version(conn, store), tags.stock, tags.missing,
                      load_open_visits(conn, store), load_open_baskets(conn, store),
                      () if committed_since is None else load_committed_baskets(conn, store, committed_since))


def load_tags(conn: Connection) -> TagTable:
    """Every item row and tag binding, streamed into one :class:`TagTable` (never a list of a million rows)."""
    table = TagTable()
    i = t.items.c
    for tag, sku, status, zone in conn.execute(
            select(i.tag, i.sku, i.status, i.last_zone).execution_options(yield_per=STREAM_ROWS)):
        table.add_item(tag, sku, status, zone)
    _bind(conn, table)
    return table


def _bind(conn: Connection, table: TagTable) -> None:
    b = t.tag_bindings.c
    for tag, kind, ref, valid_from, valid_to in conn.execute(
            select(b.tag, b.kind, b.ref, b.valid_from, b.valid_to).order_by(b.id)
            .execution_options(yield_per=STREAM_ROWS)):
        table.bind(tag, kind, ref, valid_from, valid_to)


def load_open_visits(conn: Connection, store: str) -> tuple[OpenVisit, ...]:
    """The newest open visit of each member (what the engine forgets on a restart)."""
    v = t.visits
    newest: dict[str, OpenVisit] = {}
    for r in conn.execute(select(v.c.member, v.c.zone, v.c.opened_at).where(
            v.c.store == store, v.c.closed_at.is_(None)).order_by(v.c.opened_at)):
        newest[r.member] = OpenVisit(r.member, r.zone, r.opened_at)
    return tuple(newest.values())


def load_open_baskets(conn: Connection, store: str) -> tuple[OpenBasket, ...]:
    """The uncommitted baskets with their lines, oldest first (what the engine forgets on a restart)."""
    b, i = t.baskets, t.basket_items
    rows = conn.execute(select(b).where(b.c.store == store, b.c.status != "committed").order_by(b.c.opened_at)).all()
    lines: dict[str, list[StoredLine]] = {r.id: [] for r in rows}
    if lines:
        for r in conn.execute(select(i).where(i.c.basket_id.in_(lines)).order_by(i.c.added_at, i.c.tag)):
            lines[r.basket_id].append(StoredLine(r.tag, r.sku, r.added_at))
    return tuple(OpenBasket(r.id, r.member, r.lane, r.opened_at, r.updated_at, tuple(lines[r.id]),
                            held=r.status == "held") for r in rows)


def load_committed_baskets(conn: Connection, store: str, since: datetime) -> tuple[CommittedBasket, ...]:
    """The baskets committed since ``since``, oldest first: their transactions (what the engine forgets on a
    restart; ``transactions.at`` is indexed)."""
    x = t.transactions.c
    rows = conn.execute(select(x.id, x.member, x.lane, x.at, x.trigger)
                        .where(x.store == store, x.at >= since).order_by(x.at, x.id))
    return tuple(CommittedBasket(r.id, r.member, r.lane, r.at, r.trigger) for r in rows)
