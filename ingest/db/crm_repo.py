"""Members and one-to-one marketing in the database: seeding the CRM parts of the store file, the reads the
member and marketing pages need, and the writes of the member/admin API.

Call inside a transaction (``with engine.begin() as conn``). Consent revocation takes effect at once: the
member's active offers are withdrawn in the same transaction and a decision record tells why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update

from crm.model import Consent, Deal, DecisionRecord, Offer
from crm.settings import CrmSettings
from ingest.db import schema as t
from ingest.db.admin import _bump, _upsert
from ingest.db.errors import DatabaseError, NotFound
from ingest.storefile_crm import CrmSection

if TYPE_CHECKING:
    from ingest.storefile import StoreFile

CONSENT_RULE = "consent-revoked"
"""The rule a withdrawal by consent revocation records."""


def _money(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def consent_of(raw: Any) -> Consent:
    """A member's stored consent; a member who never said anything consents to nothing."""
    if not isinstance(raw, Mapping):
        return Consent()
    return Consent(bool(raw.get("offers", False)), bool(raw.get("reminders", False)),
                   bool(raw.get("data_sharing", False)))


# -- seeding -----------------------------------------------------------------------------------------


def seed_crm(conn: Connection, store_file: StoreFile) -> None:
    """Households, deals, members' household/join date/consent/contact limit and products' brand and
    sensitivity from the store file; idempotent. A member's consent already in the database is kept: what
    the member said through the API wins over the file."""
    store = store_file.store.id
    changed = False
    for household in store_file.households:
        changed |= _upsert(conn, t.households, {"id": household.id}, {"store": store, "name": household.name})
    for deal in store_file.deals:
        values: dict[str, Any] = {"store": store, "sku": deal.sku, "category": deal.category,
                  "discount_pct": None if deal.discount_pct is None else str(deal.discount_pct),
                  "discount_abs": None if deal.discount_abs is None else str(deal.discount_abs),
                  "valid_from": deal.valid_from, "valid_to": deal.valid_to, "funded_by": deal.funded_by}
        changed |= _upsert(conn, t.deals, {"id": deal.id}, values)
    for product in store_file.products:
        changed |= _upsert(conn, t.products, {"sku": product.sku},
                           {"brand": product.brand, "sensitive": product.sensitive})
    for member in store_file.members:
        current = conn.execute(select(t.members.c.consent).where(t.members.c.id == member.id)).scalar()
        consent = current if isinstance(current, Mapping) else {**member.consent.model_dump(), "changed_at": None}
        values = {"household": member.household, "joined_at": member.joined_at, "consent": dict(consent),
                  "max_contacts_per_week": member.max_contacts_per_week}
        changed |= _upsert(conn, t.members, {"id": member.id}, values)
    changed |= _upsert(conn, t.crm_settings, {"store": store}, {"settings": store_file.crm.model_dump(mode="json")})
    if changed:
        _bump(conn, store)


def crm_settings(conn: Connection, store: str) -> CrmSettings:
    """The store file's ``[crm]`` thresholds as ingest seeded them (the documented defaults before it has)."""
    raw = conn.execute(select(t.crm_settings.c.settings).where(t.crm_settings.c.store == store)).scalar()
    return CrmSection.model_validate(raw).settings() if isinstance(raw, Mapping) else CrmSettings()


# -- reads -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberCrmRow:
    """A member as the member pages list them."""

    id: str
    name: str
    household: str | None
    joined_at: datetime | None
    consent: Consent
    consent_changed_at: str | None
    max_contacts_per_week: int
    active_offers: int
    open_disputes: int


def member_rows(conn: Connection, store: str) -> list[MemberCrmRow]:
    """Every (non-staff) member of the store with consent and counts of active offers and open disputes."""
    m, o, d = t.members.c, t.offers.c, t.disputes.c
    offers: dict[str, int] = dict(conn.execute(select(o.member, func.count()).where(o.store == store, o.status == "active")
                               .group_by(o.member)).all())
    disputes: dict[str, int] = dict(conn.execute(select(d.member, func.count()).where(d.store == store, d.status == "open")
                                 .group_by(d.member)).all())
    rows = conn.execute(select(t.members).where(m.store == store, m.is_staff.is_(False)).order_by(m.id)).all()
    return [MemberCrmRow(r.id, r.name, r.household, r.joined_at, consent_of(r.consent),
                         (r.consent or {}).get("changed_at") if isinstance(r.consent, Mapping) else None,
                         r.max_contacts_per_week, int(offers.get(r.id, 0)), int(disputes.get(r.id, 0)))
            for r in rows]


def member_row(conn: Connection, member: str) -> MemberCrmRow | None:
    row = conn.execute(select(t.members.c.store).where(t.members.c.id == member)).first()
    if row is None:
        return None
    return next((r for r in member_rows(conn, row.store) if r.id == member), None)


def deals(conn: Connection, store: str, at: datetime | None = None) -> list[Deal]:
    """The store's deals; only those valid at ``at`` when given."""
    c = t.deals.c
    query = select(t.deals).where(c.store == store).order_by(c.id)
    if at is not None:
        query = query.where(c.valid_from <= at, c.valid_to > at)
    return [Deal(r.id, r.sku, r.category, _money(r.discount_pct), _money(r.discount_abs), r.valid_from,
                 r.valid_to, r.funded_by) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class OfferRow:
    offer: Offer
    list_id: str
    status: str
    sent_at: datetime | None
    redeemed_at: datetime | None
    transaction_id: str | None


def member_offers(conn: Connection, member: str, *, status: str | None = None) -> list[OfferRow]:
    """A member's offers, newest window first; only those of ``status`` when given."""
    c = t.offers.c
    query = select(t.offers).where(c.member == member).order_by(c.active_from.desc(), c.id)
    if status is not None:
        query = query.where(c.status == status)
    return [OfferRow(Offer(r.id, r.member, r.sku, r.kind, Decimal(r.discount_abs), r.deal_id, r.active_from,
                           r.active_to, r.reason), r.list_id, r.status, r.sent_at, r.redeemed_at, r.transaction_id)
            for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class DisputeRow:
    id: int
    store: str
    member: str
    transaction_id: str
    tag: str
    opened_at: datetime
    reason: str
    status: str
    rule: str | None
    resolution: str | None
    resolved_at: datetime | None


def disputes(conn: Connection, store: str, *, member: str | None = None, status: str | None = None) -> list[DisputeRow]:
    c = t.disputes.c
    query = select(t.disputes).where(c.store == store).order_by(c.opened_at.desc(), c.id.desc())
    if member is not None:
        query = query.where(c.member == member)
    if status is not None:
        query = query.where(c.status == status)
    return [DisputeRow(r.id, r.store, r.member, r.transaction_id, r.tag, r.opened_at, r.reason, r.status, r.rule,
                       r.resolution, r.resolved_at) for r in conn.execute(query)]


def member_decisions(conn: Connection, member: str, *, limit: int = 100) -> list[DecisionRecord]:
    """The automatic decisions about a member, newest first."""
    c = t.crm_decisions.c
    rows = conn.execute(select(t.crm_decisions).where(c.member == member).order_by(c.at.desc(), c.id.desc())
                        .limit(limit))
    return [DecisionRecord(r.kind, r.member, r.rule, r.reason, r.at, dict(r.data or {}), dict(r.context or {}))
            for r in rows]


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: str
    name: str
    cost: Decimal
    started_at: datetime
    ended_at: datetime | None


def campaigns(conn: Connection, store: str) -> list[CampaignRow]:
    c = t.campaigns.c
    return [CampaignRow(r.id, r.name, Decimal(r.cost), r.started_at, r.ended_at)
            for r in conn.execute(select(t.campaigns).where(c.store == store).order_by(c.started_at, c.id))]


# -- writes ------------------------------------------------------------------------------------------


def record_decision(conn: Connection, store: str, record: DecisionRecord) -> None:
    conn.execute(insert(t.crm_decisions).values(
        store=store, member=record.member, kind=record.kind, rule=record.rule, reason=record.reason,
        data=dict(record.data), context=dict(record.context), at=record.at))


def set_consent(conn: Connection, member: str, consent: Consent, at: datetime) -> int:
    """Store the member's consent. Revoking ``offers`` withdraws every active offer of the member in this same
    transaction (checkout no longer applies them) and records why; returns how many were withdrawn."""
    row = conn.execute(select(t.members.c.store, t.members.c.consent).where(t.members.c.id == member)).first()
    if row is None:
        raise NotFound(f"no member {member!r}")
    if at.tzinfo is None:
        raise DatabaseError("consent time must be timezone-aware")
    before = consent_of(row.consent)
    conn.execute(update(t.members).where(t.members.c.id == member).values(consent={
        "offers": consent.offers, "reminders": consent.reminders, "data_sharing": consent.data_sharing,
        "changed_at": at.astimezone(UTC).isoformat()}))
    withdrawn = 0
    if not consent.offers:
        c = t.offers.c
        withdrawn = conn.execute(update(t.offers).where(c.member == member, c.status == "active")
                                 .values(status="withdrawn")).rowcount or 0
    if before.offers and not consent.offers:
        record_decision(conn, row.store, DecisionRecord(
            kind="offer", member=member, rule=CONSENT_RULE, at=at,
            reason=f"the member withdrew consent to offers; {withdrawn} active offer(s) withdrawn at once",
            data={"withdrawn": str(withdrawn)},
            context={"offers": str(consent.offers).lower(), "reminders": str(consent.reminders).lower(),
                     "data_sharing": str(consent.data_sharing).lower()}))
    return withdrawn


def open_dispute(conn: Connection, member: str, transaction_id: str, tag: str, reason: str, at: datetime) -> int:
    """A member disputes a charged item; returns the dispute id. The item must be on the member's sale."""
    sale = conn.execute(select(t.transactions.c.store, t.transactions.c.member)
                        .where(t.transactions.c.id == transaction_id)).first()
    if sale is None or sale.member != member:
        raise NotFound(f"member {member!r} has no transaction {transaction_id!r}")
    lines = t.transaction_lines.c
    if conn.execute(select(lines.id).where(lines.transaction_id == transaction_id, lines.tag == tag)).first() is None:
        raise NotFound(f"transaction {transaction_id!r} has no item {tag}")
    d = t.disputes.c
    if conn.execute(select(d.id).where(d.transaction_id == transaction_id, d.tag == tag, d.status == "open")).first():
        raise DatabaseError(f"item {tag} of transaction {transaction_id!r} is already disputed")
    done = conn.execute(insert(t.disputes).values(store=sale.store, member=member, transaction_id=transaction_id,
                                                  tag=tag, opened_at=at, reason=reason, status="open"))
    key = done.inserted_primary_key
    assert key is not None
    return int(key[0])


def resolve_dispute(conn: Connection, dispute_id: int, status: str, rule: str, resolution: str, at: datetime) -> None:
    """Record a dispute's outcome (``refunded``, ``kept`` or ``needs_human``) with the rule that decided it."""
    if status not in ("refunded", "kept", "needs_human"):
        raise DatabaseError(f"dispute outcome {status!r} is not refunded, kept or needs_human")
    row = conn.execute(select(t.disputes).where(t.disputes.c.id == dispute_id)).first()
    if row is None:
        raise NotFound(f"no dispute {dispute_id}")
    conn.execute(update(t.disputes).where(t.disputes.c.id == dispute_id).values(
        status=status, rule=rule, resolution=resolution, resolved_at=at))
    record_decision(conn, row.store, DecisionRecord(
        kind="dispute", member=row.member, rule=rule, reason=resolution, at=at,
        data={"dispute": str(dispute_id), "transaction_id": row.transaction_id, "tag": row.tag, "status": status},
        context={"opened_at": row.opened_at.isoformat(), "reason": row.reason}))


def queue_event(conn: Connection, store: str, kind: str, at: datetime, data: Mapping[str, Any]) -> None:
    """A business event decided outside ingest; ingest publishes it (:func:`take_events`) after this commits."""
    conn.execute(insert(t.event_outbox).values(store=store, type=kind, at=at, data=dict(data)))


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    store: str
    type: str
    at: datetime
    data: dict[str, Any]


def take_events(conn: Connection, store: str, now: datetime, limit: int = 100) -> list[QueuedEvent]:
    """The store's unpublished events, oldest first, marked published at ``now`` in the caller's transaction."""
    c = t.event_outbox.c
    rows = conn.execute(select(t.event_outbox).where(c.published_at.is_(None), c.store == store)
                        .order_by(c.id).limit(limit)).all()
    if rows:
        conn.execute(update(t.event_outbox).where(c.id.in_([r.id for r in rows])).values(published_at=now))
    return [QueuedEvent(r.store, r.type, r.at, dict(r.data)) for r in rows]


def add_campaign(conn: Connection, store: str, campaign_id: str, name: str, cost: Decimal,
                 started_at: datetime, ended_at: datetime | None = None) -> None:
    if cost < 0 or not cost.is_finite():
        raise DatabaseError(f"campaign {campaign_id!r}: cost {cost} must be a finite amount of at least 0")
    if ended_at is not None and ended_at <= started_at:
        raise DatabaseError(f"campaign {campaign_id!r}: ended_at is not after started_at")
    _upsert(conn, t.campaigns, {"id": campaign_id},
            {"store": store, "name": name, "cost": str(cost), "started_at": started_at, "ended_at": ended_at})


def record_put_back(conn: Connection, store: str, member: str, tag: str, sku: str, at: datetime) -> bool:
    """An item the member put back (for retargeting); False if this very put-back is already recorded."""
    c = t.put_backs.c
    if conn.execute(select(c.sku).where(c.store == store, c.member == member, c.tag == tag, c.at == at)).first():
        return False
    conn.execute(insert(t.put_backs).values(store=store, member=member, tag=tag, sku=sku, at=at))
    return True


__all__ = [
    "CONSENT_RULE",
    "CampaignRow",
    "DisputeRow",
    "MemberCrmRow",
    "OfferRow",
    "QueuedEvent",
    "add_campaign",
    "campaigns",
    "consent_of",
    "crm_settings",
    "deals",
    "disputes",
    "member_decisions",
    "member_offers",
    "member_row",
    "member_rows",
    "open_dispute",
    "queue_event",
    "record_decision",
    "record_put_back",
    "resolve_dispute",
    "seed_crm",
    "set_consent",
    "take_events",
]
