"""Members' offers in the running store: the glue between ingest's database and the pure rules in ``crm``.

Checkout (:func:`price_sale`, :func:`record_sale`): a sale is priced by THE price function
(:func:`crm.pricing.price_basket`) with the member's active personal offers, loaded once per commit. An offer
applies only while the member consents to offers; a redeemed offer is marked ``redeemed`` with the
transaction in the same database transaction as the sale, by a conditional update, so a replayed batch or a
second commit can never redeem it twice. Every charge leaves a :class:`crm.model.DecisionRecord` (kind
``charge``) in ``crm_decisions`` with its rule, data, context and a readable reason.

After a commit (:func:`after_commit`) the member's history is read again and the list of the current period is
regenerated; regeneration is idempotent (offer ids are deterministic, an offer already stored is left alone).
On the tick (:func:`tick`) offers past their window expire and members whose period is due get their list.
Put-backs (``BasketChanged`` "removed") are recorded for retargeting (:func:`record_put_back`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from contract.payloads import utc_rfc3339
from crm import guards
from crm.cycles import purchase_cycles
from crm.figures import PutBack, put_back_candidates
from crm.guards import never_twice_guard
from crm.model import (
    Consent,
    Deal,
    DecisionRecord,
    MemberProfile,
    Offer,
    PersonalList,
    PricedBasket,
    ProductInfo,
    Purchase,
    Visit,
)
from crm.offers import build_list, decision_records_for
from crm.pricing import price_basket
from crm.segments import segments
from crm.settings import CrmSettings
from crm.stages import stage_of
from crm.value import abc_classes
from ingest.db import crm_repo
from ingest.db import schema as t
from ingest.rules.model import BasketChanged, TransactionLine

log = logging.getLogger(__name__)

CHARGE_RULE = "checkout-price"
"""The rule name a charge's decision record carries: the sale priced by the one price function."""
PERIOD_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)
"""Periods of ``list_every_days`` count from this Monday (UTC), so every service agrees on a period's start."""


@dataclass(frozen=True, slots=True)
class Redemption:
    """An offer a sale used: what the ``offer_redeemed`` event and the receipt tell."""

    offer_id: str
    sku: str
    tag: str
    discount: Decimal
    reason: str


def _money(value: Any, default: str = "0") -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(default)


def member_consent(conn: Connection, member: str) -> Consent:
    """The member's consent as stored; a member who never said anything consents to nothing."""
    return crm_repo.consent_of(conn.execute(select(t.members.c.consent).where(t.members.c.id == member)).scalar())


def active_offers(conn: Connection, store: str, member: str, at: datetime) -> list[Offer]:
    """The member's price offers that are ``active`` and whose window holds ``at`` (one query)."""
    o = t.offers.c
    rows = conn.execute(select(t.offers).where(
        o.store == store, o.member == member, o.status == "active", o.kind == "price",
        o.active_from <= at, o.active_to > at,
    ).order_by(o.id)).all()
    return [_offer(r) for r in rows]


def _offer(r: Any) -> Offer:
    return Offer(id=r.id, member=r.member, sku=r.sku, kind=r.kind, discount_abs=_money(r.discount_abs),
                 deal_id=r.deal_id, active_from=r.active_from, active_to=r.active_to, reason=r.reason or "")


def _products(conn: Connection, skus: Iterable[str]) -> dict[str, Any]:
    p = t.products.c
    return {r.sku: r for r in conn.execute(select(t.products).where(p.sku.in_(sorted(set(skus))))).all()}


def price_sale(conn: Connection, store: str, member: str, lines: Sequence[TransactionLine],
               at: datetime) -> tuple[PricedBasket, list[Offer], Consent]:
    """Price the sale's lines with the member's active offers (none without consent to offers).

    Returns the priced basket, the offers that were on the table and the consent that decided it.
    """
    consent = member_consent(conn, member)
    offers = active_offers(conn, store, member, at) if consent.offers else []
    products = _products(conn, (line.sku for line in lines))
    priced_lines: list[tuple[str, ProductInfo]] = []
    for line in lines:
        row = products.get(line.sku)
        brand = getattr(row, "brand", None) if row is not None else None
        priced_lines.append((line.tag, ProductInfo(
            sku=line.sku, name=line.name, category=(row.category if row is not None else "") or "",
            brand="store" if brand == "store" else "national", price=line.unit_price,
            sensitive=bool(getattr(row, "sensitive", False)) if row is not None else False,
        )))
    return price_basket(priced_lines, offers, at), offers, consent


def redeem(conn: Connection, store: str, transaction_id: str, priced: PricedBasket, at: datetime) -> list[Redemption]:
    """Mark each offer the priced basket used as redeemed by this transaction; an offer redeems once."""
    done: list[Redemption] = []
    for line in priced.lines:
        if line.offer_id is None or line.discount <= 0:
            continue
        changed = conn.execute(update(t.offers).where(
            t.offers.c.id == line.offer_id, t.offers.c.store == store, t.offers.c.status == "active",
        ).values(status="redeemed", redeemed_at=at, transaction_id=transaction_id))
        if changed.rowcount:
            done.append(Redemption(line.offer_id, line.sku, line.tag, line.discount, line.reason))
        else:
            log.warning("offer %s was redeemed before: transaction %s keeps the price", line.offer_id, transaction_id)
    return done


record_decision = crm_repo.record_decision


def charge_record(member: str, transaction_id: str, lane: str, priced: PricedBasket, redeemed: list[Redemption],
                  offers: list[Offer], consent: Consent, at: datetime) -> DecisionRecord:
    """The charge as a decision: what was charged, by which rule, with which offers, in words."""
    items = len(priced.lines)
    reason = f"charged {priced.total} for {items} item{'s' if items != 1 else ''} on leaving through {lane}"
    if redeemed:
        why = "; ".join(f"{r.sku} -{r.discount} ({r.reason})" if r.reason else f"{r.sku} -{r.discount}"
                        for r in redeemed)
        reason += f"; saved {priced.saved} with personal offers: {why}"
    elif not consent.offers:
        reason += "; no personal offers applied: the member has not consented to offers"
    else:
        reason += "; no active personal offer matched"
    data = {"transaction_id": transaction_id, "total": str(priced.total), "saved": str(priced.saved),
            "points": str(priced.points), "items": str(items),
            "offers_redeemed": ",".join(r.offer_id for r in redeemed)}
    context = {"lane": lane, "consent_offers": str(consent.offers).lower(), "offers_active": str(len(offers)),
               "at": utc_rfc3339(at)}
    return DecisionRecord(kind="charge", member=member, rule=CHARGE_RULE, reason=reason, at=at, data=data,
                          context=context)


def record_put_back(conn: Connection, store: str, d: BasketChanged) -> None:
    """An item put back from the basket: remembered (once) so the next list may offer it, with consent."""
    if d.change != "removed":
        return
    crm_repo.record_put_back(conn, store, d.member, d.tag, d.sku, d.at)


# -- history, lists and the tick ---------------------------------------------------------------------------


def period_start(now: datetime, settings: CrmSettings) -> datetime:
    """The start of the list period holding ``now`` (periods of ``list_every_days`` from the anchor)."""
    days = max(1, settings.list_every_days)
    return PERIOD_ANCHOR + timedelta(days=days * ((now - PERIOD_ANCHOR).days // days))


def member_history(conn: Connection, store: str, member: str) -> list[Purchase]:
    """The member's unreturned sale lines, oldest first, as purchase history."""
    tx, ln, p = t.transactions.c, t.transaction_lines.c, t.products.c
    household = conn.execute(select(t.members.c.household).where(t.members.c.id == member)).scalar()
    rows = conn.execute(
        select(ln.sku, ln.unit_price, ln.transaction_id, tx.at, p.category, p.brand)
        .select_from(t.transaction_lines.join(t.transactions, ln.transaction_id == tx.id)
                     .outerjoin(t.products, p.sku == ln.sku))
        .where(tx.store == store, tx.member == member, ln.returned_at.is_(None))
        .order_by(tx.at, ln.id)
    ).all()
    return [Purchase(member=member, sku=r.sku, category=r.category or "",
                     brand="store" if r.brand == "store" else "national", price=_money(r.unit_price), at=r.at,
                     transaction_id=r.transaction_id, household=household) for r in rows]


def member_profile(conn: Connection, store: str, member: str) -> MemberProfile | None:
    row = conn.execute(select(t.members).where(t.members.c.id == member, t.members.c.store == store)).first()
    if row is None:
        return None
    open_dispute = conn.execute(select(t.disputes.c.id).where(
        t.disputes.c.member == member, t.disputes.c.status == "open")).first() is not None
    return MemberProfile(id=row.id, household=row.household, joined_at=row.joined_at or PERIOD_ANCHOR,
                         consent=crm_repo.consent_of(row.consent),
                         max_contacts_per_week=row.max_contacts_per_week if row.max_contacts_per_week is not None
                         else 2, open_dispute=open_dispute)


def store_list(conn: Connection, store: str, plist: PersonalList, now: datetime) -> tuple[bool, set[str]]:
    """Store a generated list and its new offers; an offer id already stored is left as it is. Returns whether
    the list is new and the ids of its offers that were stored before."""
    content = {"offers": [{"id": o.id, "sku": o.sku, "kind": o.kind, "discount_abs": str(o.discount_abs),
                           "deal_id": o.deal_id, "active_from": utc_rfc3339(o.active_from),
                           "active_to": utc_rfc3339(o.active_to), "reason": o.reason} for o in plist.offers],
               "refusals": [{"sku": r.sku, "rule": r.rule, "reason": r.reason} for r in plist.refusals]}
    pl = t.personal_lists.c
    first = conn.execute(select(pl.id).where(pl.id == plist.id)).first() is None
    if first:
        conn.execute(insert(t.personal_lists).values(id=plist.id, store=store, member=plist.member,
                                                     period_start=plist.period_start, generated_at=now,
                                                     content=content))
    else:
        conn.execute(update(t.personal_lists).where(pl.id == plist.id).values(content=content))
    known = set(conn.execute(select(t.offers.c.id).where(
        t.offers.c.id.in_([o.id for o in plist.offers]))).scalars()) if plist.offers else set()
    fresh = [o for o in plist.offers if o.id not in known]
    if fresh:
        conn.execute(insert(t.offers), [
            {"id": o.id, "store": store, "member": o.member, "list_id": plist.id, "sku": o.sku, "kind": o.kind,
             "discount_abs": str(o.discount_abs), "deal_id": o.deal_id, "active_from": o.active_from,
             "active_to": o.active_to, "status": "active", "reason": o.reason} for o in fresh])
    return first, known


def expire_offers(conn: Connection, store: str, now: datetime) -> int:
    """Active offers whose window has ended (``active_to <= now``, as the price function) become ``expired``."""
    done = conn.execute(update(t.offers).where(
        t.offers.c.store == store, t.offers.c.status == "active", t.offers.c.active_to <= now,
    ).values(status="expired"))
    return int(done.rowcount or 0)


@dataclass(frozen=True, slots=True)
class StoreContext:
    """Store-wide facts a member's list needs (value classes, heavy categories), computed on the tick."""

    value_class: Mapping[str, str]
    heavy: Mapping[str, frozenset[str]]
    computed_at: datetime | None = None
    period: datetime | None = None
    checked: frozenset[str] = frozenset()
    """Members the tick already judged for ``period``'s list (a member below the threshold gets no list row, and
    what they spent in the period before cannot change: they are not judged again every minute)."""


EMPTY_CONTEXT = StoreContext({}, {})
CONTEXT_MAX_AGE = timedelta(hours=1)
"""The tick reads the whole history for the store context only when lists are due or the context is this old."""


def store_purchases(conn: Connection, store: str, since: datetime | None = None) -> dict[str, list[Purchase]]:
    """Every member's unreturned sale lines (from ``since``), oldest first, in one query."""
    tx, ln, p, m = t.transactions.c, t.transaction_lines.c, t.products.c, t.members.c
    query = (select(tx.member, ln.sku, ln.unit_price, ln.transaction_id, tx.at, p.category, p.brand, m.household)
             .select_from(t.transaction_lines.join(t.transactions, ln.transaction_id == tx.id)
                          .outerjoin(t.products, p.sku == ln.sku).outerjoin(t.members, m.id == tx.member))
             .where(tx.store == store, ln.returned_at.is_(None)).order_by(tx.at, ln.id))
    if since is not None:
        query = query.where(tx.at >= since)
    out: dict[str, list[Purchase]] = {}
    for r in conn.execute(query).all():
        out.setdefault(r.member, []).append(Purchase(
            member=r.member, sku=r.sku, category=r.category or "", brand="store" if r.brand == "store" else "national",
            price=_money(r.unit_price), at=r.at, transaction_id=r.transaction_id, household=r.household))
    return out


def store_context(purchases: Mapping[str, Sequence[Purchase]], products: Mapping[str, ProductInfo], now: datetime,
                  settings: CrmSettings) -> StoreContext:
    """A/B/C by historical value and, per member, the categories where the member is a heavy user."""
    values = {member: sum((x.price for x in ps if x.at <= now), Decimal(0)) for member, ps in purchases.items()}
    since = now - timedelta(days=settings.current_window_days)
    recent = {member: [x for x in ps if since <= x.at <= now] for member, ps in purchases.items()}
    heavy: dict[str, set[str]] = {}
    for (member, category), seg in segments(recent, products).items():
        if seg.usage == "high":
            heavy.setdefault(member, set()).add(category)
    return StoreContext(value_class=dict(abc_classes(values)),
                        heavy={member: frozenset(cats) for member, cats in heavy.items()}, computed_at=now)


def _product_info(r: Any) -> ProductInfo:
    return ProductInfo(sku=r.sku, name=r.name, category=r.category or "",
                       brand="store" if r.brand == "store" else "national", price=_money(r.price),
                       sensitive=bool(r.sensitive))


def catalog(conn: Connection, store: str) -> dict[str, ProductInfo]:
    return {r.sku: _product_info(r) for r in conn.execute(select(t.products).where(t.products.c.store == store)).all()}


def current_deals(conn: Connection, store: str, now: datetime) -> list[Deal]:
    d = t.deals.c
    return [Deal(id=r.id, sku=r.sku, category=r.category,
                 discount_pct=_money(r.discount_pct) if r.discount_pct not in (None, "") else None,
                 discount_abs=_money(r.discount_abs) if r.discount_abs not in (None, "") else None,
                 valid_from=r.valid_from, valid_to=r.valid_to, funded_by=r.funded_by or "")
            for r in conn.execute(select(t.deals).where(d.store == store, d.valid_to > now).order_by(d.id)).all()]


def _member_offers(conn: Connection, store: str, member: str, now: datetime) -> list[Offer]:
    o = t.offers.c
    rows = conn.execute(select(t.offers).where(o.store == store, o.member == member, o.active_to > now)).all()
    return [_offer(r) for r in rows]


def _visits(conn: Connection, store: str, member: str) -> list[Visit]:
    v = t.visits.c
    return [Visit(member=member, at=at, bought=False) for at in conn.execute(
        select(v.opened_at).where(v.store == store, v.member == member).order_by(v.opened_at)).scalars()]


def _contacts_this_week(conn: Connection, store: str, member: str, list_id: str, now: datetime) -> int:
    pl = t.personal_lists.c
    return len(conn.execute(select(pl.id).where(
        pl.store == store, pl.member == member, pl.id != list_id, pl.generated_at > now - timedelta(days=7),
    )).all())


def generate_list(conn: Connection, store: str, member: str, start: datetime, now: datetime,
                  settings: CrmSettings, context: StoreContext, *,
                  purchases: Sequence[Purchase] | None = None, products: Mapping[str, ProductInfo] | None = None,
                  deals: Sequence[Deal] | None = None) -> PersonalList | None:
    """Build the member's list for the period starting at ``start`` and store what is new in it.

    A member below the spend threshold gets no list (nothing is stored). Regeneration is idempotent: the same
    offer ids, offers already stored are kept, and decision records are written only for what is new.
    """
    profile = member_profile(conn, store, member)
    if profile is None:
        return None
    history = list(purchases) if purchases is not None else member_history(conn, store, member)
    goods = products if products is not None else catalog(conn, store)
    plist = build_list(
        profile, start, history, purchase_cycles(history), context.value_class.get(member, "C"),
        context.heavy.get(member, frozenset()), deals if deals is not None else current_deals(conn, store, now),
        goods, _member_offers(conn, store, member, now),
        _contacts_this_week(conn, store, member, f"{member}:{start:%Y%m%d}", now), settings,
        stage=stage_of(_visits(conn, store, member), history, now, settings),
    )
    if not plist.offers and all(r.rule == guards.SPEND_THRESHOLD for r in plist.refusals):
        return None
    first, known = store_list(conn, store, plist, now)
    for record in decision_records_for(plist, now):
        if (record.kind == "offer" and record.data.get("offer_id") not in known) or (record.kind == "refusal" and first):
            record_decision(conn, store, record)
    return plist


def after_commit(conn: Connection, store: str, member: str, now: datetime, settings: CrmSettings,
                 context: StoreContext) -> PersonalList | None:
    """A sale refreshed the member's history: regenerate the member's next list (idempotently)."""
    start = period_start(now, settings) + timedelta(days=settings.list_every_days)
    return generate_list(conn, store, member, start, now, settings, context)


def due_members(conn: Connection, store: str, start: datetime, settings: CrmSettings) -> list[str]:
    """Members who bought (an unreturned line) in the period before ``start`` and have no list for the period
    starting at ``start``: one indexed query, not a walk over every member."""
    tx, ln, pl = t.transactions.c, t.transaction_lines.c, t.personal_lists.c
    have = select(pl.member).where(pl.store == store, pl.period_start == start)
    return list(conn.execute(
        select(tx.member).distinct().select_from(t.transactions.join(t.transaction_lines, ln.transaction_id == tx.id))
        .where(tx.store == store, tx.at >= start - timedelta(days=settings.list_every_days), tx.at < start,
               tx.member.is_not(None), ln.returned_at.is_(None), tx.member.not_in(have))
        .order_by(tx.member)).scalars())


def tick(conn: Connection, store: str, now: datetime, settings: CrmSettings,
         context: StoreContext = EMPTY_CONTEXT) -> tuple[int, StoreContext]:
    """Expire offers past their window; give every member who bought in the last period and has no list for the
    current period their list, judging each member once per period. Returns the number of lists stored and the
    store context: ``context`` itself when nobody is due and it is younger than :data:`CONTEXT_MAX_AGE`, else
    recomputed from the whole history."""
    expire_offers(conn, store, now)
    start = period_start(now, settings)
    checked = context.checked if context.period == start else frozenset()
    due = [m for m in due_members(conn, store, start, settings) if m not in checked]
    fresh = context.computed_at is not None and timedelta(0) <= now - context.computed_at < CONTEXT_MAX_AGE
    if not due and fresh and context.period == start:
        return 0, context
    purchases = store_purchases(conn, store)
    products = catalog(conn, store)
    context = replace(store_context(purchases, products, now, settings), period=start, checked=checked | set(due))
    deals = current_deals(conn, store, now) if due else []
    made = 0
    for member in due:
        if generate_list(conn, store, member, start, now, settings, context, purchases=purchases.get(member, []),
                         products=products, deals=deals) is not None:
            made += 1
    return made, context


# -- put-back retargeting ------------------------------------------------------------------------------------

PUT_BACK_RULE = "put_back_retarget"
PUT_BACK_DAYS = 14
"""A put-back older than this is no longer retargeted (as :func:`crm.figures.put_back_candidates`)."""


def retarget(conn: Connection, store: str, member: str, now: datetime, settings: CrmSettings) -> list[Offer]:
    """The member is back: each item put back lately and not bought since becomes an offer (with consent).

    The offer takes ``base_discount_pct`` off, is active from now for ``offer_valid_days`` and its id names the
    put-back, so a later visit does not make it again; an offer still valid for the same product comes first.
    """
    profile = member_profile(conn, store, member)
    if profile is None or not profile.consent.offers:
        return []
    p = t.put_backs.c
    since = now - timedelta(days=PUT_BACK_DAYS)
    backs = [PutBack(member, r.sku, r.at) for r in conn.execute(select(p.sku, p.at).where(
        p.store == store, p.member == member, p.at >= since, p.at <= now)).all()]
    if not backs:
        return []
    products = _products(conn, (b.sku for b in backs))
    infos = {sku: _product_info(r) for sku, r in products.items()}
    candidates = put_back_candidates(backs, member_history(conn, store, member), {member: profile}, infos, now,
                                     within_days=PUT_BACK_DAYS)
    existing = _member_offers(conn, store, member, now)
    made: list[Offer] = []
    for c in candidates:
        product = infos[c.sku]
        list_id = f"{member}:putback{c.put_back_at:%Y%m%d%H%M%S}"
        oid = f"{member}:{list_id}:{c.sku}"
        discount = (product.price * settings.base_discount_pct / Decimal(100)).quantize(Decimal("0.01"))
        if discount <= 0 or any(o.id == oid for o in existing):
            continue
        if never_twice_guard(profile, c.sku, None, oid, now, existing) is not None:
            continue
        offer = Offer(id=oid, member=member, sku=c.sku, kind="price", discount_abs=discount, deal_id=None,
                      active_from=now, active_to=now + timedelta(days=settings.offer_valid_days),
                      reason=f"{discount} off {product.name}: you {c.reason}")
        conn.execute(insert(t.offers).values(
            id=offer.id, store=store, member=member, list_id=list_id, sku=offer.sku, kind=offer.kind,
            discount_abs=str(offer.discount_abs), deal_id=None, active_from=offer.active_from,
            active_to=offer.active_to, status="active", reason=offer.reason))
        record_decision(conn, store, DecisionRecord(
            kind="offer", member=member, rule=PUT_BACK_RULE, reason=offer.reason, at=now,
            data={"offer_id": offer.id, "sku": offer.sku, "discount_abs": str(discount),
                  "put_back_at": utc_rfc3339(c.put_back_at)},
            context={"visit_at": utc_rfc3339(now), "within_days": str(PUT_BACK_DAYS)}))
        made.append(offer)
    return made
