"""Members and marketing in the store file and the database: strict CRM sections, seeding, consent
revocation that withdraws offers at once, and tag validity (a reissued card never charges its old owner)."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect, select

from crm.model import Consent
from crm.settings import CrmSettings
from ingest.db import crm_repo
from ingest.db import schema as t
from ingest.db.admin import bind_tag, config_version, seed_from_store_file
from ingest.db.engine import make_engine
from ingest.db.migrate import downgrade, upgrade
from ingest.db.records import load_state
from ingest.resolve import TagResolver
from ingest.storefile import StoreFileError, parse_store_file

DEMO = Path(__file__).resolve().parents[2] / "simulators" / "scenarios" / "demo-store.toml"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CRM_TABLES = {"households", "deals", "personal_lists", "offers", "disputes", "crm_decisions", "campaigns", "put_backs"}


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return tomllib.loads(DEMO.read_text(encoding="utf-8"))


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def _problems(data: dict[str, Any]) -> str:
    with pytest.raises(StoreFileError) as caught:
        parse_store_file(data, "store.toml")
    return str(caught.value)


def test_the_demo_store_has_households_deals_consent_brands_and_a_sensitive_category(demo: dict[str, Any]) -> None:
    store_file = parse_store_file(demo)
    assert len(store_file.households) == 3 and 3 <= len(store_file.deals) <= 4
    assert store_file.crm_settings().sensitive_categories == frozenset({"pharmacy"})
    assert [m.id for m in store_file.members if not m.consent.offers] == ["M-1005"]
    assert [m.id for m in store_file.members if m.consent.reminders] == ["M-1003"]
    assert {p.sku for p in store_file.products if p.brand == "store"} >= {"BREAD-RYE"}
    assert [p.sku for p in store_file.products if p.sensitive] == ["PAIN-RELIEF"]


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["crm"].update(base_discount_pct="30"), "crm.base_discount_pct"),
    (lambda d: d["crm"].update(loyal_coupon_budget=["40", "30"]), "crm.loyal_coupon_budget"),
    (lambda d: d["crm"].update(list_every_days=0), "crm.list_every_days"),
    (lambda d: d["crm"].update(spend_treshold_per_week="25"), "crm.spend_treshold_per_week: unknown key"),
    (lambda d: d["deals"][0].update(category="toys"), "deals[0].category"),
    (lambda d: d["deals"][1].update(sku="NOPE"), "deals[1].sku"),
    (lambda d: d["deals"][1].update(discount_pct="10"), "deals[1].discount_pct: give exactly one"),
    (lambda d: d["deals"][0].update(valid_to=d["deals"][0]["valid_from"]), "deals[0].valid_to"),
    (lambda d: d["deals"][0].update(valid_from=datetime(2026, 1, 1)), "deals[0].valid_from"),  # no zone
    (lambda d: d["deals"].append(dict(d["deals"][0])), "deals[4].id"),
    (lambda d: d["members"][0].update(household="H-NOBODY"), "members[0].household"),
    (lambda d: d["members"][0]["consent"].update(marketing=True), "members[0].consent.marketing: unknown key"),
    (lambda d: d["members"][0].update(max_contacts_per_week=-1), "members[0].max_contacts_per_week"),
    (lambda d: d["products"][0].update(brand="private"), "products[0].brand"),
    (lambda d: d["households"].append(dict(d["households"][0])), "households[3].id"),
])
def test_crm_mistakes_in_the_store_file_name_the_field(demo: dict[str, Any], change: Any, field: str) -> None:
    data = copy.deepcopy(demo)
    change(data)
    assert field in _problems(data)


def _reissued(demo: dict[str, Any], *, overlap: bool = False) -> dict[str, Any]:
    """Ada's card ``UID:0F003A6B5C`` was hers until T0 and is Donald's from T0 (or, wrongly, earlier)."""
    data = copy.deepcopy(demo)
    data["members"][0]["tags"] = [{"tag": "UID:0F003A6B5C", "valid_to": T0}]
    start = T0 - timedelta(days=1) if overlap else T0
    data["members"][5]["tags"] = ["UID:4400D8F9BA", {"tag": "UID:0f003a6b5c", "valid_from": start}]
    return data


def test_a_tag_bound_twice_for_overlapping_periods_is_refused(demo: dict[str, Any]) -> None:
    assert "members[5].tags[1]: tag UID:0F003A6B5C is already bound for an overlapping period" in _problems(
        _reissued(demo, overlap=True))


def test_a_reissued_card_never_resolves_to_its_old_owner(demo: dict[str, Any], engine: Engine) -> None:
    with engine.begin() as conn:
        seed_from_store_file(conn, parse_store_file(_reissued(demo)))
        state = load_state(conn, "demo")
    resolver = TagResolver(state.zones, state.products.values(), state.bindings)
    assert resolver.identify("UID:0F003A6B5C", T0 - timedelta(seconds=1)) == ("member", "M-1001")
    assert resolver.identify("UID:0F003A6B5C", T0) == ("member", "M-1006")
    assert resolver.identify("UID:0F003A6B5C", T0 + timedelta(days=400)) == ("member", "M-1006")


def test_rebinding_an_open_card_from_a_date_ends_the_old_owners_binding_there(demo: dict[str, Any],
                                                                                engine: Engine) -> None:
    with engine.begin() as conn:
        seed_from_store_file(conn, parse_store_file(demo))  # Ada's card, open-ended
        bind_tag(conn, "UID:0F003A6B5C", "member", "M-1002", valid_from=T0)  # the card goes to Alan
        rows = conn.execute(select(t.tag_bindings.c.ref, t.tag_bindings.c.valid_to)
                            .where(t.tag_bindings.c.tag == "UID:0F003A6B5C").order_by(t.tag_bindings.c.id)).all()
        state = load_state(conn, "demo")
    assert [(r.ref, r.valid_to) for r in rows] == [("M-1001", T0), ("M-1002", None)]
    resolver = TagResolver(state.zones, state.products.values(), state.bindings)
    assert resolver.identify("UID:0F003A6B5C", T0 - timedelta(hours=1)) == ("member", "M-1001")
    assert resolver.identify("UID:0F003A6B5C", T0 + timedelta(hours=1)) == ("member", "M-1002")


def test_a_returned_tote_past_its_validity_belongs_to_nobody(demo: dict[str, Any], engine: Engine) -> None:
    data = copy.deepcopy(demo)
    data["members"][1]["tags"] = ["UID:0F003A6B5D", {"tag": "EPC:E2801170200014CD9B5A08EC", "valid_from": T0,
                                                     "valid_to": T0 + timedelta(days=30)}]
    with engine.begin() as conn:
        seed_from_store_file(conn, parse_store_file(data))
        state = load_state(conn, "demo")
    resolver = TagResolver(state.zones, state.products.values(), state.bindings)
    assert resolver.identify("EPC:E2801170200014CD9B5A08EC", T0 + timedelta(days=29)) == ("member", "M-1002")
    assert resolver.identify("EPC:E2801170200014CD9B5A08EC", T0 + timedelta(days=30)) == ("unknown", None)


def test_seeding_the_crm_parts_is_complete_and_idempotent(demo: dict[str, Any], engine: Engine) -> None:
    store_file = parse_store_file(demo)
    with engine.begin() as conn:
        seed_from_store_file(conn, store_file)
        version = config_version(conn)
        seed_from_store_file(conn, store_file)
        assert config_version(conn) == version
        rows = {r.id: r for r in crm_repo.member_rows(conn, "demo")}
        deals = crm_repo.deals(conn, "demo", at=T0)
        brands = dict(conn.execute(select(t.products.c.sku, t.products.c.brand)).all())
        sensitive = conn.execute(select(t.products.c.sku).where(t.products.c.sensitive.is_(True))).scalars().all()
    assert rows["M-1001"].household == "H-LOVELACE" and rows["M-1001"].consent == Consent(True, False, True)
    assert rows["M-1005"].consent.offers is False and rows["M-1005"].household is None
    assert rows["M-1003"].joined_at == datetime(2025, 6, 14, 16, 30, tzinfo=UTC)
    assert {d.id for d in deals} == {"D-DAIRY-10", "D-CHOC-030", "D-COLA-15", "D-SOAP-020"}
    assert next(d for d in deals if d.id == "D-CHOC-030").discount_abs == Decimal("0.30")
    assert brands["BREAD-RYE"] == "store" and brands["MILK-1L"] == "national"
    assert sensitive == ["PAIN-RELIEF"]


def _offer(conn: Any, member: str, sku: str, status: str = "active") -> None:
    conn.execute(insert(t.offers).values(
        id=f"{member}:{member}:20261102:{sku}", store="demo", member=member, list_id=f"{member}:20261102", sku=sku,
        kind="price", discount_abs="0.20", active_from=T0, active_to=T0 + timedelta(days=14), status=status,
        reason="due for milk"))


def test_revoking_consent_withdraws_the_members_active_offers_at_once(demo: dict[str, Any], engine: Engine) -> None:
    with engine.begin() as conn:
        seed_from_store_file(conn, parse_store_file(demo))
        _offer(conn, "M-1001", "MILK-1L")
        _offer(conn, "M-1001", "COLA-500")
        _offer(conn, "M-1001", "BUTTER-250", status="redeemed")
        _offer(conn, "M-1002", "MILK-1L")
    at = T0 + timedelta(days=2)
    with engine.begin() as conn:
        withdrawn = crm_repo.set_consent(conn, "M-1001", Consent(offers=False, data_sharing=True), at)
    with engine.connect() as conn:
        statuses = {(o.offer.member, o.offer.sku): o.status for o in
                    crm_repo.member_offers(conn, "M-1001") + crm_repo.member_offers(conn, "M-1002")}
        decisions = crm_repo.member_decisions(conn, "M-1001")
        row = crm_repo.member_row(conn, "M-1001")
    assert withdrawn == 2
    assert statuses == {("M-1001", "MILK-1L"): "withdrawn", ("M-1001", "COLA-500"): "withdrawn",
                        ("M-1001", "BUTTER-250"): "redeemed", ("M-1002", "MILK-1L"): "active"}
    assert [(d.kind, d.rule, d.at) for d in decisions] == [("offer", crm_repo.CONSENT_RULE, at)]
    assert "withdrew consent" in decisions[0].reason and decisions[0].data == {"withdrawn": "2"}
    assert row is not None and row.consent == Consent(False, False, True) and row.active_offers == 0
    assert row.consent_changed_at == at.isoformat()
    with engine.begin() as conn:  # the member's word survives a restart that seeds the file again
        seed_from_store_file(conn, parse_store_file(demo))
        again = crm_repo.member_row(conn, "M-1001")
    assert again is not None and again.consent.offers is False


def test_disputes_campaigns_and_put_backs_are_recorded(demo: dict[str, Any], engine: Engine) -> None:
    with engine.begin() as conn:
        seed_from_store_file(conn, parse_store_file(demo))
        conn.execute(insert(t.transactions).values(id="S1", store="demo", member="M-1001", lane="lane-1",
                                                   total="1.29", trigger="exit", at=T0))
        conn.execute(insert(t.transaction_lines).values(transaction_id="S1", tag="EPC:3034F4E4E400004000000001",
                                                        sku="MILK-1L", name="Organic milk 1 l", unit_price="1.29"))
        dispute = crm_repo.open_dispute(conn, "M-1001", "S1", "EPC:3034F4E4E400004000000001", "not mine", T0)
        with pytest.raises(Exception, match="already disputed"):
            crm_repo.open_dispute(conn, "M-1001", "S1", "EPC:3034F4E4E400004000000001", "again", T0)
        assert crm_repo.member_row(conn, "M-1001").open_disputes == 1  # type: ignore[union-attr]
        crm_repo.resolve_dispute(conn, dispute, "refunded", "no-history-no-household",
                                 "never bought milk and nobody of the household was there", T0 + timedelta(hours=1))
        crm_repo.add_campaign(conn, "demo", "C-1", "Flyers", Decimal("120.00"), T0, T0 + timedelta(days=14))
        assert crm_repo.record_put_back(conn, "demo", "M-1001", "EPC:3034F4E4E400004000000001", "MILK-1L", T0)
        assert not crm_repo.record_put_back(conn, "demo", "M-1001", "EPC:3034F4E4E400004000000001", "MILK-1L", T0)
        [row] = crm_repo.disputes(conn, "demo", member="M-1001")
        [campaign] = crm_repo.campaigns(conn, "demo")
        [decision] = crm_repo.member_decisions(conn, "M-1001")
    assert (row.status, row.rule, row.resolved_at) == ("refunded", "no-history-no-household", T0 + timedelta(hours=1))
    assert campaign.cost == Decimal("120.00") and campaign.ended_at == T0 + timedelta(days=14)
    assert decision.kind == "dispute" and decision.data["status"] == "refunded"


def test_migration_0004_goes_down_and_up_again(engine: Engine) -> None:
    downgrade(engine, "0003")
    assert not CRM_TABLES & set(inspect(engine).get_table_names())
    assert "consent" not in {c["name"] for c in inspect(engine).get_columns("members")}
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= CRM_TABLES


def test_seeding_twice_and_withdrawing_consent(engine: Engine, demo: dict[str, Any]) -> None:
    store_file = parse_store_file(demo)
    with engine.begin() as conn:
        seed_from_store_file(conn, store_file)
        seed_from_store_file(conn, store_file)
        crm_repo.set_consent(conn, "M-1001", Consent(offers=False), T0)
    with engine.connect() as conn:
        row = crm_repo.member_row(conn, "M-1001")
        assert len(crm_repo.deals(conn, "demo", at=T0)) == 4
        assert [d.rule for d in crm_repo.member_decisions(conn, "M-1001")] == [crm_repo.CONSENT_RULE]
    assert row is not None and row.consent == Consent() and row.household == "H-LOVELACE"


def test_ingest_seeds_the_crm_settings_the_dashboard_measures_with(demo: dict[str, Any], engine: Engine) -> None:
    store_file = parse_store_file(demo)
    with engine.begin() as conn:
        assert crm_repo.crm_settings(conn, "demo") == CrmSettings()  # before the first seed: the defaults
        seed_from_store_file(conn, store_file)
        assert crm_repo.crm_settings(conn, "demo") == store_file.crm_settings()
    assert store_file.crm_settings().fast_lane is not None  # the demo opens its fast lane's gate


def test_the_fast_lane_must_be_one_of_the_stores_zones(demo: dict[str, Any]) -> None:
    data = copy.deepcopy(demo)
    data["crm"]["fast_lane"]["zone"] = "lane-9"
    assert "crm.fast_lane.zone: 'lane-9' is not the name of any of [[zones]]" in _problems(data)
    data["crm"]["fast_lane"] = {"zone": "lane-2", "gateway": "gw1", "actuator": "gate", "open_s": 0}
    assert "crm.fast_lane.open_s" in _problems(data)
