"""A simulated quarter: ~13 weeks of a store's members, fast-forwarded through the real persistence and CRM code.

Seeded and in-process with injected time: each member (the store file's and generated ones) has a personal
rhythm per product (a purchase cycle with jitter), category preferences, a brand loyalty per category and a
spend size drawn so that a fifth of the members bring most of the revenue. Some members churn, some join
(most during a paid campaign), a few put items back, and a dispute or two is opened and decided by the
dispute table. Every visit, basket change and sale goes through :func:`ingest.db.persist.apply_decisions`
exactly as ingest's service applies them (put-backs recorded, the member's list regenerated after a sale),
and once a day the CRM tick expires offers and hands out the lists that are due, every ``list_every_days``.
Members buy what is due; an active personal offer for an item due within its window pulls the purchase in,
and the checkout redeems it by the one price function. The result is an ordinary database the dashboard shows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from crm.disputes import decide_dispute
from crm.model import Consent
from ingest import crm_store
from ingest.db import schema as t
from ingest.db.admin import seed_from_store_file, upsert_member, upsert_product
from ingest.db.persist import apply_decisions
from ingest.rules.baskets import basket_id
from ingest.rules.model import (
    BasketChanged,
    Decision,
    Product,
    TransactionCommitted,
    TransactionLine,
    VisitClosed,
    VisitOpened,
)
from ingest.storefile import StoreFile

__all__ = ["QuarterReport", "QuarterSettings", "run_quarter"]

DAY = timedelta(days=1)
HEAVY_SHARE = 0.2
SENSITIVE_SKU = "TEST-KIT"
"""A sensitive product the quarter adds when the catalogue has none: no offers for it without opt-in."""


@dataclass(frozen=True, slots=True)
class QuarterSettings:
    seed: int = 1
    weeks: int = 13
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    generated_members: int = 40
    joiners: int = 10
    """Members who join during the quarter; two thirds of them in the campaign window."""
    churn_share: float = 0.15
    offers_consent_share: float = 0.8
    reminders_share: float = 0.15
    put_back_chance: float = 0.08
    disputes: int = 2
    dispute_open_days: int = 7
    """A dispute waits this long for the member's answer before the decision table closes it."""
    campaign_week: int = 4
    campaign_weeks: int = 2
    campaign_cost: Decimal = Decimal("600")


@dataclass(frozen=True, slots=True)
class QuarterReport:
    store: str
    start: datetime
    end: datetime
    members: int
    joined: int
    churned: int
    visits: int
    transactions: int
    revenue: Decimal
    saved: Decimal
    lists: int
    offers: int
    redeemed: int
    put_backs: int
    disputes: tuple[str, ...]
    """Each dispute's final status, in the order they were opened."""
    no_consent: tuple[str, ...] = ()
    """Members who never consented to offers (the test checks they never got one)."""


@dataclass
class _Member:
    id: str
    name: str
    household: str | None
    joined_at: datetime
    churn_at: datetime | None
    consent: Consent
    visit_every: float
    size: int
    rhythms: dict[str, tuple[float, float]]
    """Product family (national sku) → (mean days between purchases, jitter days)."""
    national_share: dict[str, float]
    next_due: dict[str, datetime] = field(default_factory=dict)
    next_visit: datetime | None = None


def _catalogue(conn: Connection, store: str) -> dict[str, Any]:
    return {r.sku: r for r in conn.execute(select(t.products).where(t.products.c.store == store)).all()}


def _prepare_catalogue(conn: Connection, store: str) -> dict[str, str | None]:
    """Make sure each category has a store-brand twin and that one sensitive product exists.

    Returns national sku → its store-brand twin (or None) for the families members buy.
    """
    products = _catalogue(conn, store)
    families: dict[str, str | None] = {}
    store_brand = {r.category: r.sku for r in products.values() if getattr(r, "brand", "national") == "store"}
    for row in sorted(products.values(), key=lambda r: r.sku):
        if getattr(row, "brand", "national") == "store" or getattr(row, "sensitive", False):
            continue
        twin = store_brand.get(row.category)
        if twin is None:
            twin = f"{row.sku}-SB"[: t.NAME]
            price = (Decimal(row.price) * Decimal("0.8")).quantize(Decimal("0.01"))
            upsert_product(conn, Product(twin, f"Store's own {row.name}"[:200], price, None, row.category), store)
            conn.execute(update(t.products).where(t.products.c.sku == twin).values(brand="store"))
            store_brand[row.category] = twin
        families[row.sku] = twin
    if not any(getattr(r, "sensitive", False) for r in products.values()):
        upsert_product(conn, Product(SENSITIVE_SKU, "Pregnancy test", Decimal("8.99"), None, "pharmacy"), store)
        conn.execute(update(t.products).where(t.products.c.sku == SENSITIVE_SKU).values(sensitive=True))
        families[SENSITIVE_SKU] = None
    return families


def _deals(conn: Connection, store: str, families: dict[str, str | None], start: datetime, end: datetime,
           rng: random.Random) -> None:
    """Manufacturers' deals on a few national brands for the whole quarter (kept if the store file has some)."""
    if conn.execute(select(func.count()).select_from(t.deals).where(t.deals.c.store == store)).scalar():
        return
    for sku in rng.sample(sorted(families), k=min(4, len(families))):
        conn.execute(insert(t.deals).values(
            id=f"deal-{sku}"[: t.NAME], store=store, sku=sku, category=None,
            discount_pct=str(rng.choice([Decimal("10"), Decimal("15"), Decimal("20")])), discount_abs=None,
            valid_from=start, valid_to=end, funded_by=f"maker-{sku.split('-')[0].lower()}"))


def _member(rng: random.Random, s: QuarterSettings, id: str, name: str, families: list[str],
            joined_at: datetime, household: str | None, heavy: bool | None = None) -> _Member:
    churns = rng.random() < s.churn_share
    end = s.start + timedelta(weeks=s.weeks)
    heavy = rng.random() < HEAVY_SHARE if heavy is None else heavy  # a fifth bring most of the revenue
    size = rng.randint(4, 9) if heavy else 1
    count = rng.randint(max(1, len(families) - 3), len(families)) if heavy else rng.randint(2, min(4, len(families)))
    chosen = rng.sample(families, k=count)
    low, high = (3, 9) if heavy else (7, 21)
    rhythms = {f: (rng.uniform(low, high) if f != SENSITIVE_SKU else 28.0, rng.uniform(0.5, 2.5)) for f in chosen}
    loyalty = {f: rng.choice([0.95, 0.95, 0.5, 0.05]) for f in chosen}
    consent = Consent(offers=rng.random() < s.offers_consent_share, reminders=rng.random() < s.reminders_share)
    visit_every = rng.uniform(2, 4) if heavy else rng.uniform(5, 10)
    m = _Member(id, name, household, joined_at, None, consent, visit_every, size, rhythms, loyalty)
    if churns:
        m.churn_at = s.start + timedelta(days=rng.uniform(14, max(15, (end - s.start).days - 14)))
    for f, (every, _) in rhythms.items():
        m.next_due[f] = max(joined_at, s.start) + timedelta(days=rng.uniform(0, every))
    m.next_visit = max(joined_at, s.start) + timedelta(days=rng.uniform(0, m.visit_every), hours=0)
    return m


def _population(conn: Connection, store_file: StoreFile, s: QuarterSettings, families: list[str],
                rng: random.Random) -> list[_Member]:
    store = store_file.store.id
    people: list[_Member] = []
    for entry in store_file.members:
        people.append(_member(rng, s, entry.id, entry.name, families, s.start - timedelta(days=rng.randint(30, 400)),
                              None))
    for i in range(s.generated_members):
        household = f"HH-Q{i // 2:03d}" if i % 5 in (0, 1) else None
        people.append(_member(rng, s, f"Q-{i + 1:04d}", f"Shopper {i + 1}", families,
                              s.start - timedelta(days=rng.randint(7, 700)), household, heavy=i % 5 == 0))
    campaign_start = s.start + timedelta(weeks=s.campaign_week)
    for i in range(s.joiners):
        in_campaign = i < (2 * s.joiners) // 3
        window_start = campaign_start if in_campaign else s.start
        window_days = 7 * s.campaign_weeks if in_campaign else 7 * s.weeks - 14
        joined = window_start + timedelta(days=rng.uniform(0, window_days))
        people.append(_member(rng, s, f"Q-N{i + 1:03d}", f"Newcomer {i + 1}", families, joined, None))
    for m in people:
        upsert_member(conn, m.id, m.name, store)
        row = conn.execute(select(t.members).where(t.members.c.id == m.id)).one()
        values: dict[str, Any] = {}
        if row.joined_at is None:
            values["joined_at"] = m.joined_at
        else:
            m.joined_at = row.joined_at
        if row.consent is None:
            values["consent"] = {"offers": m.consent.offers, "reminders": m.consent.reminders,
                                 "data_sharing": m.consent.data_sharing, "changed_at": m.joined_at.isoformat()}
        else:
            m.consent = Consent(bool(row.consent.get("offers")), bool(row.consent.get("reminders")),
                                bool(row.consent.get("data_sharing")))
        if row.household is None and m.household is not None:
            if conn.execute(select(t.households.c.id).where(t.households.c.id == m.household)).first() is None:
                conn.execute(insert(t.households).values(id=m.household, store=store, name=f"Household {m.household}"))
            values["household"] = m.household
        if values:
            conn.execute(update(t.members).where(t.members.c.id == m.id).values(**values))
    return people


class _Quarter:
    def __init__(self, engine: Engine, store_file: StoreFile, s: QuarterSettings) -> None:
        self.engine, self.store_file, self.s = engine, store_file, s
        self.store = store_file.store.id
        self.rng = random.Random(s.seed)
        self.lanes = sorted(z.name for z in store_file.zones if z.type == "lane") or ["lane-1"]
        self.entrance = next((z.name for z in store_file.zones if z.type == "entrance"), self.lanes[0])
        self.tags = 0
        self.visits = 0
        self.put_backs = 0
        self.disputes: list[tuple[int, datetime]] = []
        self.crm_settings = store_file.crm_settings()
        self.context = crm_store.EMPTY_CONTEXT
        with engine.begin() as conn:
            seed_from_store_file(conn, store_file)
            self.families = _prepare_catalogue(conn, self.store)
            self.end = s.start + timedelta(weeks=s.weeks)
            _deals(conn, self.store, self.families, s.start, self.end, self.rng)
            self.prices = {sku: Decimal(r.price) for sku, r in _catalogue(conn, self.store).items()}
            self.names = {sku: r.name for sku, r in _catalogue(conn, self.store).items()}
            self.people = _population(conn, store_file, s, sorted(self.families), self.rng)
            start = s.start + timedelta(weeks=s.campaign_week)
            conn.execute(insert(t.campaigns).values(
                id=f"quarter-{s.seed}", store=self.store, name="Flyers and a sign-up stand", cost=str(s.campaign_cost),
                started_at=start, ended_at=start + timedelta(weeks=s.campaign_weeks)))

    def _tag(self) -> str:
        self.tags += 1
        return f"EPC:51{self.s.seed % 256:02X}{self.tags:020X}"

    def _apply(self, conn: Connection, decisions: list[Decision], now: datetime) -> None:
        """What ingest's service does with a batch's decisions (see ``IngestService._apply``)."""
        apply_decisions(conn, self.store, decisions)
        for d in decisions:
            if isinstance(d, BasketChanged) and d.change == "removed":
                crm_store.record_put_back(conn, self.store, d)
            elif isinstance(d, VisitOpened):
                crm_store.retarget(conn, self.store, d.member, now, self.crm_settings)
        for member in sorted({d.member for d in decisions if isinstance(d, TransactionCommitted)}):
            crm_store.after_commit(conn, self.store, member, now, self.crm_settings, self.context)

    def _pick(self, m: _Member, family: str) -> str:
        twin = self.families.get(family)
        return family if twin is None or self.rng.random() < m.national_share[family] else twin

    def _visit(self, conn: Connection, m: _Member, at: datetime) -> None:
        self.visits += 1
        self._apply(conn, [VisitOpened(m.id, self.entrance, at)], at)  # ingest's batch of the entrance read
        horizon = at + timedelta(days=m.visit_every / 2)
        offered = {o.sku for o in crm_store.active_offers(conn, self.store, m.id, at)}
        wanted: list[str] = []
        for family, due in sorted(m.next_due.items()):
            twin = self.families.get(family)
            offer_sku = family if family in offered else twin if twin is not None and twin in offered else None
            sku = offer_sku or self._pick(m, family)
            if due <= horizon or (offer_sku is not None and due <= at + timedelta(days=m.visit_every)):
                wanted.extend([sku] * (1 if family == SENSITIVE_SKU else self.rng.randint(1, m.size)))
                every, jitter = m.rhythms[family]
                m.next_due[family] = at + timedelta(days=max(1.0, self.rng.gauss(every, jitter)))
        lane = self.rng.choice(self.lanes)
        decisions: list[Decision] = []
        basket = basket_id(lane, m.id, at + timedelta(minutes=10))
        clock = at + timedelta(minutes=10)
        lines: list[TransactionLine] = []
        if self.rng.random() < self.s.put_back_chance:
            sku = self.rng.choice(sorted(self.prices))
            tag = self._tag()
            decisions.append(BasketChanged(basket, m.id, lane, tag, sku, "added", clock))
            decisions.append(BasketChanged(basket, m.id, lane, tag, sku, "removed", clock + timedelta(seconds=30)))
            self.put_backs += 1
        for i, sku in enumerate(wanted):
            tag = self._tag()
            decisions.append(BasketChanged(basket, m.id, lane, tag, sku, "added", clock + timedelta(seconds=i + 1)))
            lines.append(TransactionLine(tag, sku, self.names[sku], self.prices[sku]))
        leave = clock + timedelta(minutes=2)
        if lines:
            total = sum((line.unit_price for line in lines), Decimal(0))
            decisions.append(TransactionCommitted(basket, m.id, lane, tuple(lines), total, int(total), leave,
                                                  "settle", None, None, rule="quarter-simulation"))
        decisions.append(VisitClosed(m.id, leave + timedelta(seconds=5), "transaction" if lines else "exit"))
        self._apply(conn, decisions, leave)

    def _open_dispute(self, conn: Connection, now: datetime) -> None:
        tx, ln = t.transactions.c, t.transaction_lines.c
        rows = conn.execute(select(tx.id, tx.member, tx.at, ln.tag, ln.sku).select_from(
            t.transaction_lines.join(t.transactions, ln.transaction_id == tx.id))
            .where(tx.store == self.store, tx.at < now, tx.at >= now - 7 * DAY).order_by(tx.at, ln.id)).all()
        taken = {r.member for r in conn.execute(select(t.disputes.c.member)).all()}
        rows = [r for r in rows if r.member not in taken]
        if not rows:
            return
        history: dict[tuple[str, str], list[datetime]] = {}
        for x in conn.execute(select(tx.member, ln.sku, tx.at).select_from(
                t.transaction_lines.join(t.transactions, ln.transaction_id == tx.id))
                .where(tx.store == self.store, tx.at < now)).all():
            history.setdefault((x.member, x.sku), []).append(x.at)
        earlier = {(r.member, r.sku, r.id): sum(1 for at in history.get((r.member, r.sku), []) if at < r.at)
                   for r in rows}
        fresh = len(self.disputes) % 2 == 0
        fitting = [r for r in rows if (earlier[(r.member, r.sku, r.id)] == 0) == fresh] or rows
        r = fitting[self.rng.randrange(len(fitting))]
        result = conn.execute(insert(t.disputes).values(
            store=self.store, member=r.member, transaction_id=r.id, tag=r.tag, opened_at=now,
            reason="member says: I never bought that", status="open"))
        key = result.inserted_primary_key
        assert key is not None
        self.disputes.append((int(key[0]), now))

    def _close_disputes(self, conn: Connection, now: datetime) -> None:
        for id, opened in list(self.disputes):
            if now - opened < timedelta(days=self.s.dispute_open_days):
                continue
            row = conn.execute(select(t.disputes).where(t.disputes.c.id == id)).one()
            if row.status != "open":
                continue
            sku = conn.execute(select(t.transaction_lines.c.sku).where(
                t.transaction_lines.c.transaction_id == row.transaction_id, t.transaction_lines.c.tag == row.tag)
            ).scalar_one()
            sold_at = conn.execute(select(t.transactions.c.at).where(t.transactions.c.id == row.transaction_id)
                                   ).scalar_one()
            before = [p for p in crm_store.member_history(conn, self.store, row.member) if p.at < sold_at]
            outcome = decide_dispute(row.member, sku, before, (), transaction_id=row.transaction_id)
            conn.execute(update(t.disputes).where(t.disputes.c.id == id).values(
                status=outcome.status, rule=outcome.rule, resolution=outcome.reason, resolved_at=now))

    def run(self) -> QuarterReport:
        dispute_days = sorted(self.rng.sample(range(14, max(15, 7 * self.s.weeks - 14)),
                                              k=min(self.s.disputes, max(0, 7 * self.s.weeks - 28))))
        day = self.s.start
        index = 0
        while day < self.end:
            with self.engine.begin() as conn:
                morning = day + timedelta(hours=6)
                self._close_disputes(conn, morning)
                if crm_store.period_start(morning, self.crm_settings) > morning - DAY or index == 0:
                    _, self.context = crm_store.tick(conn, self.store, morning, self.crm_settings)
                else:
                    crm_store.expire_offers(conn, self.store, morning)
                if index in dispute_days:
                    self._open_dispute(conn, morning)
                for m in self.people:
                    if m.joined_at >= day + DAY or (m.churn_at is not None and m.churn_at <= day):
                        continue
                    assert m.next_visit is not None
                    while m.next_visit < day + DAY:
                        at = max(m.next_visit, day + timedelta(hours=8))
                        at = at.replace(hour=min(20, max(8, at.hour)))
                        if at >= m.joined_at:
                            self._visit(conn, m, at)
                        m.next_visit = m.next_visit + timedelta(days=max(1.0, self.rng.gauss(m.visit_every, 1)))
            day += DAY
            index += 1
        with self.engine.begin() as conn:
            self._close_disputes(conn, self.end + timedelta(days=self.s.dispute_open_days))
            return self._report(conn)

    def _report(self, conn: Connection) -> QuarterReport:
        tx, o = t.transactions.c, t.offers.c
        sales = conn.execute(select(tx.total, tx.saved).where(tx.store == self.store)).all()
        statuses = {r.id: r.status for r in conn.execute(select(t.disputes.c.id, t.disputes.c.status)).all()}
        count: Callable[[Any], int] = lambda q: int(conn.execute(q).scalar() or 0)  # noqa: E731
        return QuarterReport(
            store=self.store, start=self.s.start, end=self.end, members=len(self.people),
            joined=sum(1 for m in self.people if m.joined_at >= self.s.start),
            churned=sum(1 for m in self.people if m.churn_at is not None), visits=self.visits,
            transactions=len(sales), revenue=sum((Decimal(r.total) for r in sales), Decimal(0)),
            saved=sum((Decimal(r.saved or "0") for r in sales), Decimal(0)),
            lists=count(select(func.count()).select_from(t.personal_lists).where(t.personal_lists.c.store == self.store)),
            offers=count(select(func.count()).select_from(t.offers).where(o.store == self.store)),
            redeemed=count(select(func.count()).select_from(t.offers).where(o.store == self.store,
                                                                             o.status == "redeemed")),
            put_backs=self.put_backs, disputes=tuple(statuses[id] for id, _ in self.disputes),
            no_consent=tuple(sorted(m.id for m in self.people if not m.consent.offers)))


def run_quarter(engine: Engine, store_file: StoreFile, settings: QuarterSettings | None = None) -> QuarterReport:
    """Simulate the quarter into ``engine``'s database (migrated beforehand) and report what happened."""
    return _Quarter(engine, store_file, settings or QuarterSettings()).run()
