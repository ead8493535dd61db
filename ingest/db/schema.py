"""The relational schema of ingest's state: one SQLAlchemy Core metadata for SQLite and PostgreSQL.

Raw reads are not stored here (they go to the time-series database), except the exit gates' reads of the
last minutes (``gate_reads``); these tables hold what a store operator asks about: the catalog, members and
their tags, where each item is, baskets, sales, alerts, commands to gateways and the bookkeeping that makes
the consumer idempotent (``gateway_batches``).

Money is kept as decimal text (``"1.29"``) so that no database turns it into a float; times are stored
in UTC and come back timezone-aware (:class:`UtcDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

NAME = 64
"""Length of store, gateway, zone, sensor and member names (contract.topics.NAME_PATTERN)."""
TAG = 140
"""``EPC:`` plus up to 124 hex digits, or ``UID:`` plus a card number."""
MONEY = 24
BASKET_ID = 200
"""Basket and transaction ids: ``{lane}:{member}:{opened_at}`` (see ``ingest.rules.baskets.basket_id``)."""
OFFER_ID = 300
"""Personal list ids ``{member}:{period_start:%Y%m%d}`` and offer ids ``{member}:{list_id}:{sku}``."""

ITEM_STATUSES = ("in_store", "sold", "missing")
BRANDS = ("national", "store")
OFFER_KINDS = ("price", "reward")
OFFER_STATUSES = ("active", "redeemed", "expired", "withdrawn")
DISPUTE_STATUSES = ("open", "refunded", "kept", "needs_human")
DECISION_KINDS = ("charge", "offer", "refusal", "dispute", "stage")
TAG_KINDS = ("member", "staff", "item")
ZONE_TYPES = ("entrance", "shelf", "lane", "exit", "backroom", "cooler")
BASKET_STATUSES = ("open", "held", "committed")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: ingest stores only timezone-aware times")
        moment = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING)

stores = Table(
    "stores",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("currency", String(3), nullable=False, server_default="EUR"),
)

zones = Table(
    "zones",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("store", String(NAME), ForeignKey("stores.id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("display", String(NAME)),
    Column("alarm", String(NAME)),
    Column("gateway", String(NAME)),
    Column("neighbours", JSON),
    CheckConstraint("type IN ('entrance', 'shelf', 'lane', 'exit', 'backroom', 'cooler')", name="type"),
)

products = Table(
    "products",
    metadata,
    Column("sku", String(NAME), primary_key=True),
    Column("store", String(NAME), ForeignKey("stores.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("price", String(MONEY), nullable=False),
    Column("gtin", String(14), index=True),
    Column("category", String(NAME), nullable=False, server_default=""),
    Column("reorder_below", Integer, nullable=False, server_default="0"),
    Column("home_zones", JSON),
    Column("brand", String(16), nullable=False, server_default="national"),
    Column("sensitive", Boolean, nullable=False, server_default="0"),
    CheckConstraint("brand IN ('national', 'store')", name="brand"),
)

members = Table(
    "members",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("store", String(NAME), ForeignKey("stores.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("is_staff", Boolean, nullable=False, server_default="0"),
    Column("household", String(NAME)),
    Column("joined_at", UtcDateTime),
    # {"offers": bool, "reminders": bool, "data_sharing": bool, "changed_at": iso}; NULL = never asked (no consent)
    Column("consent", JSON),
    Column("max_contacts_per_week", Integer, nullable=False, server_default="2"),
)

tag_bindings = Table(
    "tag_bindings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tag", String(TAG), nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    Column("ref", String(NAME), nullable=False),
    Column("valid_from", UtcDateTime),
    Column("valid_to", UtcDateTime),
    CheckConstraint("kind IN ('member', 'staff', 'item')", name="kind"),
)

items = Table(
    "items",
    metadata,
    Column("tag", String(TAG), primary_key=True),
    Column("sku", String(NAME), ForeignKey("products.sku"), nullable=False, index=True),
    Column("status", String(10), nullable=False, server_default="in_store"),
    Column("last_zone", String(NAME)),
    Column("last_seen", UtcDateTime),
    Column("unseen_cycles", Integer, nullable=False, server_default="0"),
    CheckConstraint("status IN ('in_store', 'sold', 'missing')", name="status"),
)

visits = Table(
    "visits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(NAME), nullable=False),
    Column("member", String(NAME), nullable=False, index=True),
    Column("zone", String(NAME)),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("close_reason", String(16)),
)

baskets = Table(
    "baskets",
    metadata,
    Column("id", String(BASKET_ID), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("member", String(NAME), nullable=False),
    Column("lane", String(NAME), nullable=False),
    Column("status", String(10), nullable=False, server_default="open"),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("status IN ('open', 'held', 'committed')", name="status"),
)

basket_items = Table(
    "basket_items",
    metadata,
    Column("basket_id", String(BASKET_ID), ForeignKey("baskets.id"), primary_key=True),
    Column("tag", String(TAG), primary_key=True),
    Column("sku", String(NAME), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", String(BASKET_ID), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("member", String(NAME), nullable=False, index=True),
    Column("lane", String(NAME), nullable=False),
    Column("total", String(MONEY), nullable=False),
    Column("points", Integer, nullable=False, server_default="0"),
    Column("trigger", String(8), nullable=False),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("explanation", JSON),
    Column("saved", String(MONEY), nullable=False, server_default="0"),
)

transaction_lines = Table(
    "transaction_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", String(BASKET_ID), ForeignKey("transactions.id"), nullable=False, index=True),
    Column("tag", String(TAG), nullable=False),
    Column("sku", String(NAME), nullable=False),
    Column("name", String(200), nullable=False),
    Column("unit_price", String(MONEY), nullable=False),
    Column("returned_at", UtcDateTime),
    Column("discount", String(MONEY), nullable=False, server_default="0"),
    Column("offer_id", String(OFFER_ID)),
    # An item is sold at most once at a time: one unreturned sale line per tag. A returned item's line keeps
    # its tag (history stays true) and the item can be sold again.
    Index("uq_transaction_lines_unreturned_tag", "tag", unique=True,
          sqlite_where=text("returned_at IS NULL"), postgresql_where=text("returned_at IS NULL")),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(NAME), nullable=False),
    Column("kind", String(NAME), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("zone", String(NAME)),
    Column("tag", String(TAG)),
    Column("member", String(NAME)),
    Column("evidence", JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("cleared_at", UtcDateTime),
    Column("rule", String(64)),
    Column("details", JSON),
    Column("source", String(16)),
    Column("latency_ms", Float),
)

commands = Table(
    "commands",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("gateway", String(NAME), nullable=False),
    Column("action", String(16), nullable=False),
    Column("target", String(NAME), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False, index=True),
    Column("ack_ok", Boolean),
    Column("ack_error", String(200)),
    Column("acked_at", UtcDateTime),
    Column("sent_at", UtcDateTime, index=True),  # the broker took it; NULL: ingest.command_outbox sends it
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("payload_size", Integer, nullable=False),
    Column("received_at", UtcDateTime, nullable=False, index=True),
)

gateway_batches = Table(
    "gateway_batches",
    metadata,
    Column("store", String(NAME), primary_key=True),
    Column("gateway", String(NAME), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(8), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)

gateways = Table(
    "gateways",
    metadata,
    Column("store", String(NAME), primary_key=True),
    Column("gateway", String(NAME), primary_key=True),
    Column("state", String(8), nullable=False),
    Column("last_seen", UtcDateTime),
    Column("last_seq", Integer),
    Column("last_batch_at", UtcDateTime),
    Column("config", JSON, nullable=False),
)

sensor_latest = Table(
    "sensor_latest",
    metadata,
    Column("sensor", String(NAME), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("gateway", String(NAME), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", Float, nullable=False),
    Column("unit", String(16), nullable=False, server_default=""),
    Column("zone", String(NAME)),
    Column("at", UtcDateTime, nullable=False),
)

inventory_cycles = Table(
    "inventory_cycles",
    metadata,
    Column("store", String(NAME), primary_key=True),
    Column("zone", String(NAME), primary_key=True),
    Column("cycle", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("current_count", Integer, nullable=False),
    Column("additions", JSON, nullable=False),
    Column("deletions", JSON, nullable=False),
)

store_config_versions = Table(
    "store_config_versions",
    metadata,
    Column("store", String(NAME), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Per store, the version of what its ingest loads (layout, catalog, the tags it resolves): an admin write bumps
the stores it concerns, and each store's ingest reloads when its own version moves."""

# --- members and one-to-one marketing (CRM) -------------------------------------------------------------

households = Table(
    "households",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
)

deals = Table(
    "deals",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("sku", String(NAME)),
    Column("category", String(NAME)),
    Column("discount_pct", String(MONEY)),
    Column("discount_abs", String(MONEY)),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_to", UtcDateTime, nullable=False),
    Column("funded_by", String(200), nullable=False, server_default=""),
)

personal_lists = Table(
    "personal_lists",
    metadata,
    Column("id", String(OFFER_ID), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("member", String(NAME), nullable=False, index=True),
    Column("period_start", UtcDateTime, nullable=False),
    Column("generated_at", UtcDateTime, nullable=False),
    Column("content", JSON, nullable=False),
)

offers = Table(
    "offers",
    metadata,
    Column("id", String(OFFER_ID), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("member", String(NAME), nullable=False, index=True),
    Column("list_id", String(OFFER_ID), nullable=False),
    Column("sku", String(NAME), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("discount_abs", String(MONEY), nullable=False, server_default="0"),
    Column("deal_id", String(NAME)),
    Column("active_from", UtcDateTime, nullable=False),
    Column("active_to", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False, server_default="active"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("sent_at", UtcDateTime),
    Column("redeemed_at", UtcDateTime),
    Column("transaction_id", String(BASKET_ID)),
    CheckConstraint("kind IN ('price', 'reward')", name="kind"),
    CheckConstraint("status IN ('active', 'redeemed', 'expired', 'withdrawn')", name="status"),
)

disputes = Table(
    "disputes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(NAME), nullable=False),
    Column("member", String(NAME), nullable=False, index=True),
    Column("transaction_id", String(BASKET_ID), nullable=False),
    Column("tag", String(TAG), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("status", String(12), nullable=False, server_default="open"),
    Column("rule", String(64)),
    Column("resolution", Text),
    Column("resolved_at", UtcDateTime),
    CheckConstraint("status IN ('open', 'refunded', 'kept', 'needs_human')", name="status"),
)

crm_decisions = Table(
    "crm_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(NAME), nullable=False),
    Column("member", String(NAME), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("context", JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("store", String(NAME), nullable=False),
    Column("name", String(200), nullable=False),
    Column("cost", String(MONEY), nullable=False, server_default="0"),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
)

put_backs = Table(
    "put_backs",
    metadata,
    Column("store", String(NAME), primary_key=True),
    Column("member", String(NAME), primary_key=True),
    Column("tag", String(TAG), primary_key=True),
    Column("at", UtcDateTime, primary_key=True),
    Column("sku", String(NAME), nullable=False),
)

crm_settings = Table(
    "crm_settings",
    metadata,
    Column("store", String(NAME), primary_key=True),
    Column("settings", JSON, nullable=False),
)
"""The store file's ``[crm]`` section as ingest seeded it, so the dashboard measures with the store's thresholds."""

event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(NAME), nullable=False),
    Column("type", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Column("published_at", UtcDateTime),
)
"""Business events decided outside ingest (a dispute decided on the dashboard): ingest publishes them."""

Index("ix_items_sku_status_zone", items.c.sku, items.c.status, items.c.last_zone)
Index("ix_alerts_open", alerts.c.cleared_at, alerts.c.kind)
Index("ix_event_outbox_pending", event_outbox.c.published_at, event_outbox.c.id)

ingest_workers = Table(
    "ingest_workers",
    metadata,
    Column("worker", String(NAME), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
)
"""Ingest worker processes and their heartbeat: a worker seen within the lease time counts for the fair share."""

ingest_leases = Table(
    "ingest_leases",
    metadata,
    Column("store", String(NAME), primary_key=True),
    Column("worker", String(NAME)),
    Column("epoch", Integer, nullable=False, server_default="0"),
    Column("expires_at", UtcDateTime, nullable=False),
    # Makes ``epoch`` a key column for PostgreSQL's row locks: a claim (which changes it) then conflicts with the
    # fence's FOR KEY SHARE, while a renewal (which changes only ``expires_at``) does not wait for the owner's
    # open transactions.
    UniqueConstraint("store", "epoch"),
)
"""Which worker owns a store's in-memory state until ``expires_at``; every claim bumps ``epoch``, and each of
the owner's transactions checks that the epoch is still its own (the fence)."""

ingest_handoff = Table(
    "ingest_handoff",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(NAME), nullable=False),
    Column("topic", String(300), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,  # never reuse a deleted row's id: the owner tracks the rows in flight by id
)
"""Gateway messages a worker received for a store it does not own: the owner takes them from here and deletes
each row in the transaction that stores the message's effects."""

Index("ix_ingest_handoff_store_id", ingest_handoff.c.store, ingest_handoff.c.id)

gate_reads = Table(
    "gate_reads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(NAME), nullable=False),
    Column("zone", String(NAME), nullable=False),
    Column("tag", String(TAG), nullable=False),
    Column("reader", String(NAME), nullable=False),
    Column("antenna", Integer, nullable=False),
    Column("rssi", Float),
    Column("count", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
"""The reads ingest fed to an exit gate's detector (its inner and outer zones only), stored with the batch's
effects: a store's next owner replays the passes under way. Kept for the gates' memory, then pruned."""

Index("ix_gate_reads_store_at", gate_reads.c.store, gate_reads.c.at)
