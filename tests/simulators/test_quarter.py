"""A simulated quarter through the real persistence and member rules: offers are redeemed when the member's
due purchase happens, the guard rails hold all quarter long, and the store's figures are believable."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select
from typer.testing import CliRunner

from crm.export import Redemption, manufacturer_export
from crm.segments import segment_grid, segments
from ingest import crm_store
from ingest.db import schema as t
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.storefile import load_store_file
from simulators.main import app
from simulators.quarter import QuarterReport, QuarterSettings, run_quarter
from simulators.quarter_figures import store_figures
from simulators.storeplan import demo_store_path

SETTINGS = QuarterSettings(seed=7, weeks=10, start=datetime(2026, 1, 5, tzinfo=UTC), generated_members=10,
                           joiners=3)


@dataclass
class Quarter:
    engine: Engine
    report: QuarterReport


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quarter]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('quarter') / 'state.db'}")
    upgrade(engine)
    report = run_quarter(engine, load_store_file(demo_store_path()), SETTINGS)
    yield Quarter(engine, report)
    engine.dispose()


@pytest.fixture
def conn(quarter: Quarter) -> Iterator[Connection]:
    with quarter.engine.connect() as c:
        yield c


def test_the_quarter_has_sales_lists_and_redemptions(quarter: Quarter) -> None:
    r = quarter.report
    assert r.end - r.start == timedelta(weeks=10)
    assert r.transactions > 100 and r.revenue > 0
    assert r.lists > 0 and r.offers > 0 and r.redeemed > 0 and r.saved > 0
    assert r.joined >= SETTINGS.joiners and r.churned > 0 and r.put_backs > 0
    assert r.disputes == ("refunded", "kept")


def test_an_offer_is_redeemed_at_the_visit_its_due_purchase_happens(conn: Connection) -> None:
    offers = conn.execute(select(t.offers).where(t.offers.c.kind == "price")).all()
    sold = conn.execute(select(t.transactions.c.id, t.transactions.c.member, t.transactions.c.at,
                               t.transaction_lines.c.sku, t.transaction_lines.c.offer_id,
                               t.transaction_lines.c.discount)
                        .select_from(t.transaction_lines.join(t.transactions))).all()
    redeemed = [o for o in offers if o.status == "redeemed"]
    assert redeemed
    for o in redeemed:
        line = [s for s in sold if s.offer_id == o.id]
        assert len(line) == 1, "an offer discounts one item"
        s = line[0]
        assert (s.id, s.member, s.sku) == (o.transaction_id, o.member, o.sku)
        assert o.active_from <= s.at < o.active_to and Decimal(s.discount) > 0
    for o in offers:
        if o.status != "redeemed":  # nobody bought it while it was active, or it would have been redeemed
            assert not [s for s in sold if s.member == o.member and s.sku == o.sku
                        and o.active_from <= s.at < o.active_to], o.id


def test_a_member_without_consent_never_gets_an_offer(quarter: Quarter, conn: Connection) -> None:
    without = set(quarter.report.no_consent)
    assert without
    assert not [o.id for o in conn.execute(select(t.offers)).all() if o.member in without]
    discounted = conn.execute(select(t.transactions.c.member).select_from(t.transaction_lines.join(t.transactions))
                              .where(t.transaction_lines.c.offer_id.is_not(None))).scalars().all()
    assert discounted and not without & set(discounted)


def test_the_three_by_three_segments_are_populated(conn: Connection) -> None:
    grid = segment_grid(segments(crm_store.store_purchases(conn, "demo"), crm_store.catalog(conn, "demo")))
    assert {loyalty for (loyalty, _), n in grid.items() if n} == {"national", "store", "swinger"}
    assert {usage for (_, usage), n in grid.items() if n} == {"low", "medium", "high"}
    assert sum(1 for n in grid.values() if n) >= 7


def test_guard_rails_hold_over_the_quarter(quarter: Quarter, conn: Connection) -> None:
    offers = conn.execute(select(t.offers)).all()
    members = {m.id: m for m in conn.execute(select(t.members)).all()}
    sensitive = {p.sku for p in conn.execute(select(t.products).where(t.products.c.sensitive.is_(True))).all()}
    assert sensitive
    for o in offers:  # no offer in a sensitive category without opting into reminders
        if o.sku in sensitive:
            assert (members[o.member].consent or {}).get("reminders"), o.id
    seen: dict[tuple[str, str, str | None], list[tuple[datetime, datetime]]] = defaultdict(list)
    for o in sorted(offers, key=lambda o: o.active_from):  # never the same offer twice
        for start, end in seen[(o.member, o.sku, o.deal_id)]:
            assert not (o.active_from < end and start < o.active_to), o.id
        seen[(o.member, o.sku, o.deal_id)].append((o.active_from, o.active_to))
    disputes = conn.execute(select(t.disputes)).all()
    assert len(disputes) == 2
    decisions = conn.execute(select(t.crm_decisions)).all()
    for d in disputes:  # no promotion while the member's dispute is open
        assert d.resolved_at is not None
        assert not [x for x in decisions if x.kind == "offer" and x.member == d.member
                    and d.opened_at <= x.at < d.resolved_at]
    lists = defaultdict(list)
    for pl in conn.execute(select(t.personal_lists)).all():
        lists[pl.member].append(pl.generated_at)
    for member, times in lists.items():  # frequency cap: lists per rolling week
        cap = members[member].max_contacts_per_week
        for at in times:
            assert sum(1 for x in times if at <= x < at + timedelta(days=7)) <= cap, member


def test_the_figures_are_believable(quarter: Quarter, conn: Connection) -> None:
    r = quarter.report
    f = store_figures(conn, r.store, r.start, r.end)
    assert len(f.retention) == 9
    assert all(p.rate is not None and 0 <= p.rate <= 1 for p in f.retention)
    assert f.funnel.entered >= f.funnel.picked >= f.funnel.basket >= f.funnel.paid > 0
    assert f.funnel.entered == r.visits and f.funnel.paid == r.transactions
    assert f.pareto.member_share is not None and Decimal("0.5") <= f.pareto.member_share <= 1
    assert f.pareto.product_share is not None and Decimal("0.2") <= f.pareto.product_share <= 1
    assert f.pareto.member_curve[-1] == 1
    assert f.acquisition_rate is not None and 0 < f.acquisition_rate <= 1
    assert f.unit_acquisition_cost is not None and f.unit_acquisition_cost >= SETTINGS.campaign_cost / SETTINGS.joiners


def test_the_manufacturer_export_of_the_quarter_names_nobody(conn: Connection) -> None:
    purchases = [p for ps in crm_store.store_purchases(conn, "demo").values() for p in ps]
    offers = {o.id: o for o in conn.execute(select(t.offers)).all()}
    redemptions = [Redemption(x.transaction_id, x.sku, offers[x.offer_id].deal_id, Decimal(x.discount))
                   for x in conn.execute(select(t.transaction_lines).where(
                       t.transaction_lines.c.offer_id.is_not(None))).all()]
    segs = {key: f"{s.loyalty}/{s.usage}" for key, s in segments(
        crm_store.store_purchases(conn, "demo"), crm_store.catalog(conn, "demo")).items()}
    rows = manufacturer_export(purchases, redemptions, segs)
    assert sum(r.units for r in rows) == len(purchases)
    assert sum(r.redemptions for r in rows) == len(redemptions)
    text = repr(rows).lower()
    people = conn.execute(select(t.members)).all()
    identifiers = {m.id for m in people} | {m.name for m in people} | {m.household for m in people if m.household}
    identifiers |= set(conn.execute(select(t.tag_bindings.c.tag)).scalars())
    identifiers |= {p.transaction_id for p in purchases}
    assert len(identifiers) > 20
    assert not [i for i in identifiers if i.lower() in text]


def test_sim_quarter_command_fills_a_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["quarter", "--db", db, "--seed", "3", "--weeks", "2", "--members", "3",
                                      "--start", "2026-03-02"])
    assert result.exit_code == 0, result.output
    assert "revenue share of top 20 % members" in result.output
    engine = make_engine(db)
    with engine.connect() as c:
        assert c.execute(select(t.transactions.c.id)).first() is not None
    engine.dispose()
