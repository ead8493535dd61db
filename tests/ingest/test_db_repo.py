"""The repository the dashboard reads and edits through: seeding, admin writes and read models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, update

from ingest.db import repo
from ingest.db import schema as t
from ingest.db.admin import Person, StockItem, seed
from ingest.db.engine import make_engine
from ingest.db.errors import DatabaseError, NotFound
from ingest.rules.model import Product, Zone

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
MILK = Product("MILK-1L", "Organic milk 1 l", Decimal("1.29"), "80614141123458", "dairy", 3)
BREAD = Product("BREAD", "Rye bread", Decimal("2.19"), None, "bakery", 0)
ZONES = [Zone("entrance", "entrance"), Zone("shelf-dairy", "shelf"), Zone("lane-1", "lane", display="d1"),
         Zone("exit", "exit", alarm="exit-alarm", gateway="gw1")]


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    yield engine
    engine.dispose()


def seed_demo(engine: Engine) -> int:
    with engine.begin() as conn:
        return seed(
            conn, store="demo", name="Corner Store", zones=ZONES, products=[MILK, BREAD],
            members=[Person("M-1001", "Ada Lovelace", ("uid:0f003a6b5c",))],
            staff=[Person("S-01", "Grace", ("UID:1A2B3C4D5E",))],
            items=[StockItem(f"EPC:30740000000000000000000{i}", "MILK-1L", "shelf-dairy") for i in range(4)]
            + [StockItem("EPC:E2000000000000000000BEEF", "BREAD")],
        )


def test_seeding_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    first = seed_demo(engine)
    assert first > 0
    assert seed_demo(engine) == first
    with engine.connect() as conn:
        assert [z.name for z in repo.list_zones(conn)] == ["entrance", "exit", "lane-1", "shelf-dairy"]
        exit_zone = next(z for z in repo.list_zones(conn) if z.name == "exit")
        assert (exit_zone.type, exit_zone.alarm, exit_zone.gateway) == ("exit", "exit-alarm", "gw1")
        products = repo.list_products(conn, store="demo")
        assert [(p.sku, p.price) for p in products] == [("BREAD", Decimal("2.19")), ("MILK-1L", Decimal("1.29"))]


def test_reseeding_does_not_put_a_sold_item_back_on_the_shelf(engine: Engine) -> None:
    seed_demo(engine)
    with engine.begin() as conn:
        conn.execute(update(t.items).where(t.items.c.tag == "EPC:307400000000000000000000").values(status="sold"))
    seed_demo(engine)
    with engine.connect() as conn:
        milk = next(s for s in repo.inventory(conn) if s.sku == "MILK-1L")
    assert (milk.in_store, milk.sold, milk.on_shelf) == (3, 1, {"shelf-dairy": 3})


def test_inventory_counts_per_zone_and_flags_reorder(engine: Engine) -> None:
    seed_demo(engine)
    with engine.begin() as conn:
        conn.execute(update(t.items).where(t.items.c.tag == "EPC:307400000000000000000001").values(status="sold"))
        conn.execute(
            update(t.items).where(t.items.c.tag == "EPC:307400000000000000000002").values(last_zone="lane-1")
        )
        stock = {s.sku: s for s in repo.inventory(conn)}
    milk = stock["MILK-1L"]
    assert milk.on_shelf == {"lane-1": 1, "shelf-dairy": 2}
    assert (milk.in_store, milk.sold, milk.reorder) == (3, 1, False)
    assert stock["BREAD"].on_shelf == {"?": 1}
    with engine.begin() as conn:
        conn.execute(update(t.items).where(t.items.c.tag == "EPC:307400000000000000000000").values(status="missing"))
        milk = next(s for s in repo.inventory(conn) if s.sku == "MILK-1L")
    assert (milk.in_store, milk.missing, milk.reorder) == (2, 1, True)


def test_member_profile_sums_transactions_and_lists_tags(engine: Engine) -> None:
    seed_demo(engine)
    with engine.begin() as conn:
        for i, total in enumerate(("3.48", "1.29")):
            conn.execute(insert(t.transactions).values(
                id=f"B-{i}", store="demo", member="M-1001", lane="lane-1", total=total, points=3 - 2 * i,
                trigger="settle", at=T0.replace(hour=10 + i)))
        conn.execute(insert(t.transaction_lines).values(
            transaction_id="B-1", tag="EPC:307400000000000000000000", sku="MILK-1L", name="Organic milk 1 l",
            unit_price="1.29"))
        profile = repo.get_member(conn, "M-1001")
        detail = repo.get_transaction(conn, "B-1")
        listed = repo.list_transactions(conn, limit=1)
    assert profile is not None
    assert [b.tag for b in profile.tags] == ["UID:0F003A6B5C"]
    assert (profile.transaction_count, profile.total_spent, profile.points) == (2, Decimal("4.77"), 4)
    assert profile.last_purchase == T0.replace(hour=11)
    assert [x.id for x in profile.transactions] == ["B-1", "B-0"]
    assert detail is not None and detail.summary.member_name == "Ada Lovelace"
    assert [(line.tag, line.unit_price) for line in detail.lines] == [("EPC:307400000000000000000000", Decimal("1.29"))]
    assert [x.id for x in listed] == ["B-1"] and listed[0].at.tzinfo is not None


def test_unknown_things_read_as_none(engine: Engine) -> None:
    seed_demo(engine)
    with engine.connect() as conn:
        assert repo.get_member(conn, "M-9999") is None
        assert repo.get_transaction(conn, "nope") is None


def test_admin_writes_bump_the_config_version_only_when_something_changed(engine: Engine) -> None:
    seed_demo(engine)
    with engine.begin() as conn:
        before = repo.config_version(conn)
        repo.upsert_product(conn, MILK, "demo")
        assert repo.config_version(conn) == before
        repo.upsert_product(conn, Product("MILK-1L", "Organic milk 1 l", Decimal("1.39"), category="dairy"), "demo")
        repo.upsert_member(conn, "M-2002", "Alan Turing", "demo")
        repo.bind_tag(conn, "EPC:ABCD0001", "member", "M-2002")
        repo.upsert_zone(conn, Zone("lane-2", "lane"), "demo")
        assert repo.config_version(conn) == before + 4
        assert repo.health(conn).config_version == before + 4
        assert repo.get_member(conn, "M-2002").tags[0].tag == "EPC:ABCD0001"  # type: ignore[union-attr]


def seed_other(engine: Engine) -> int:
    """A second store of the chain: its own zone, product, member card and item."""
    with engine.begin() as conn:
        return seed(conn, store="other", zones=[Zone("o-lane", "lane")],
                    products=[Product("O-TEA", "Green tea", Decimal("3.10"))],
                    members=[Person("M-3001", "Grace Hopper", ("UID:0F00AA0001",))],
                    items=[StockItem("EPC:E2000000000000000000CAFE", "O-TEA")])


def test_an_admin_write_moves_only_the_versions_of_the_stores_it_concerns(engine: Engine) -> None:
    seed_demo(engine)
    with engine.connect() as conn:
        demo = repo.config_version(conn, "demo")
    other = seed_other(engine)
    with engine.begin() as conn:
        assert other > 0 and repo.config_version(conn, "demo") == demo  # seeding a store reloads no other
        repo.upsert_product(conn, Product("MILK-1L", "Milk", Decimal("1.39")), "demo")
        repo.upsert_member(conn, "M-2002", "Alan Turing", "demo")
        assert (repo.config_version(conn, "demo"), repo.config_version(conn, "other")) == (demo + 2, other)
        assert repo.health(conn).config_version == demo + 2 + other
        # A card every store's ingest knows as Grace's now means Alan: a store that kept the old binding would
        # sell to Grace, so every store reloads; and so when a binding is removed.
        repo.bind_tag(conn, "UID:0F00AA0001", "member", "M-2002")
        assert (repo.config_version(conn, "demo"), repo.config_version(conn, "other")) == (demo + 3, other + 1)
        repo.unbind_tag(conn, "UID:0F00AA0001")
        assert (repo.config_version(conn, "demo"), repo.config_version(conn, "other")) == (demo + 4, other + 2)
    assert seed_other(engine) == other + 3  # the card bound again: the seed puts back what the file says


def test_rebinding_a_tag_moves_it_to_the_new_member(engine: Engine) -> None:
    seed_demo(engine)
    with engine.begin() as conn:
        repo.upsert_member(conn, "M-2002", "Alan Turing", "demo")
        repo.bind_tag(conn, "UID:0F003A6B5C", "member", "M-2002")
        assert repo.get_member(conn, "M-1001").tags == ()  # type: ignore[union-attr]
        assert [b.tag for b in repo.get_member(conn, "M-2002").tags] == ["UID:0F003A6B5C"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda c: repo.bind_tag(c, "EPC:ZZ", "member", "M-1001"), DatabaseError, "'EPC:ZZ'"),
        (lambda c: repo.bind_tag(c, "UID:0011223344", "member", "M-404"), NotFound, "M-404"),
        (lambda c: repo.bind_tag(c, "EPC:00112233", "item", "NO-SKU"), NotFound, "NO-SKU"),
        (lambda c: repo.upsert_product(c, Product("X", "x", Decimal("-1")), "demo"), DatabaseError, "'-1'"),
        (lambda c: repo.upsert_product(c, Product("X", "x", Decimal(1), gtin="12"), "demo"), DatabaseError, "'12'"),
        (lambda c: repo.upsert_zone(c, Zone("z z", "shelf"), "demo"), DatabaseError, "'z z'"),
    ],
)
def test_bad_admin_input_is_refused_with_a_message_naming_it(engine: Engine, call, error, words) -> None:  # type: ignore[no-untyped-def]
    seed_demo(engine)
    with engine.begin() as conn, pytest.raises(error, match=words):
        call(conn)


def test_health_reports_gateways_dead_letters_and_last_batch(engine: Engine) -> None:
    with engine.begin() as conn:
        empty = repo.health(conn)
        conn.execute(insert(t.gateways).values(store="demo", gateway="gw1", state="online", last_seen=T0,
                                               last_seq=7, config={"devices": []}))
        conn.execute(insert(t.gateway_batches).values(store="demo", gateway="gw1", seq=7, kind="reads",
                                                      received_at=T0))
        conn.execute(insert(t.dead_letters).values(topic="sc/v1/demo/gw1/reads", reason="bad", payload=b"x",
                                                   payload_size=1, received_at=T0))
        full = repo.health(conn)
    assert (empty.gateways, empty.dead_letters, empty.last_batch_at) == ((), 0, None)
    assert [(g.gateway, g.state, g.last_seq, g.last_seen) for g in full.gateways] == [("gw1", "online", 7, T0)]
    assert (full.dead_letters, full.last_batch_at) == (1, T0)


def test_identify_tags_names_cards_stock_and_catalog_sgtins_and_leaves_out_unknown_tags(engine: Engine) -> None:
    seed_demo(engine)
    sgtin = "EPC:3074257BF7194E4000001A85"  # GTIN 80614141123458 = MILK-1L, not in stock yet
    with engine.connect() as conn:
        found = repo.identify_tags(conn, ["UID:0F003A6B5C", "UID:1A2B3C4D5E", "EPC:E2000000000000000000BEEF",
                                          sgtin, "EPC:E2000000000000000000FFFF", "UID:0F003A6B5C"])
    assert {tag: (r.kind, r.ref, r.name) for tag, r in found.items()} == {
        "UID:0F003A6B5C": ("member", "M-1001", "Ada Lovelace"),
        "UID:1A2B3C4D5E": ("staff", "S-01", "Grace"),
        "EPC:E2000000000000000000BEEF": ("item", "BREAD", "Rye bread"),
        sgtin: ("item", "MILK-1L", "Organic milk 1 l"),
    }
