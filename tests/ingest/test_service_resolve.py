"""Tag resolution: which zone a read is in and what its tag is bound to (pure, time injected)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from contract.payloads import ReadsBatch, TagRead
from ingest.resolve import Binding, TagResolver
from ingest.rules.model import Product, Zone
from readers.epc import encode_sgtin96, gtin_check_digit

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ZONES = {"lane-1": Zone("lane-1", "lane"), "exit": Zone("exit", "exit", alarm="exit-alarm")}
MILK = Product("MILK-1L", "Organic milk 1 l", Decimal("1.29"), gtin="80614141123458")
CARD_BINDING = Binding("UID:0F003A6B5C", "member", "M-1001", valid_from=T0, valid_to=T0 + timedelta(days=30))


def resolver(*bindings: Binding) -> TagResolver:
    return TagResolver(ZONES, [MILK], [CARD_BINDING, Binding("EPC:E200BEEF", "item", "BREAD"),
                                       Binding("UID:1A2B3C4D5E", "staff", "S-01"), *bindings])


def batch(*reads: TagRead, gateway: str = "gw1") -> ReadsBatch:
    return ReadsBatch(store="demo", gateway=gateway, seq=1, sent_at=T0, reads=list(reads))


def read(zone: str | None, at: datetime = T0, **identity: str) -> TagRead:
    return TagRead(reader="r", antenna=1, first_seen=at, last_seen=at, count=2, event="seen", zone=zone,
                   **identity)  # type: ignore[arg-type]


def test_cards_items_by_binding_or_gtin_staff_and_unknown_tags() -> None:
    found = resolver().resolve(batch(
        read("lane-1", uid="0F003A6B5C"), read("lane-1", epc="3074257BF7194E4000001A85"),
        read("lane-1", epc="E200BEEF"), read("exit", uid="1A2B3C4D5E"), read("exit", epc="E200CAFE"),
    ))
    assert [(s.tag, s.kind, s.ref, s.zone.name) for s in found.sightings] == [
        ("UID:0F003A6B5C", "member", "M-1001", "lane-1"),
        ("EPC:3074257BF7194E4000001A85", "item", "MILK-1L", "lane-1"),
        ("EPC:E200BEEF", "item", "BREAD", "lane-1"),
        ("UID:1A2B3C4D5E", "staff", "S-01", "exit"),
        ("EPC:E200CAFE", "unknown", None, "exit"),
    ]
    assert found.alerts == () and found.unplaced == 0


def test_a_card_outside_its_validity_is_unknown() -> None:
    r = resolver()
    assert r.identify("UID:0F003A6B5C", T0 - timedelta(seconds=1)) == ("unknown", None)
    assert r.identify("UID:0F003A6B5C", T0) == ("member", "M-1001")
    assert r.identify("UID:0F003A6B5C", T0 + timedelta(days=30)) == ("unknown", None)


def test_an_sgtin_of_a_product_not_in_the_catalog_is_unknown() -> None:
    assert resolver().identify(f"EPC:{encode_sgtin96('80614141999992', 7)}", T0) == ("unknown", None)


def test_a_catalog_edit_changes_what_a_tag_already_read_is() -> None:
    """The identity a tag's code gives is remembered between reads, and forgotten when the catalog changes."""
    r = resolver()
    tag = "EPC:3074257BF7194E4000001A85"
    assert r.identify(tag, T0) == ("item", "MILK-1L")
    r.update(ZONES, [], [])
    assert r.identify(tag, T0) == ("unknown", None)
    r.update(ZONES, [MILK], [Binding(tag, "member", "M-1002")])
    assert r.identify(tag, T0) == ("member", "M-1002")


def test_reads_from_an_unknown_zone_are_counted_and_alerted_once() -> None:
    r = resolver()
    first = r.resolve(batch(read("loading-dock", epc="E200BEEF"), read("lane-1", epc="E200BEEF"),
                            read("loading-dock", epc="E200CAFE")))
    second = r.resolve(batch(read("loading-dock", epc="E200BEEF"), read(None, epc="E200BEEF")))
    assert [s.zone.name for s in first.sightings] == ["lane-1"]
    assert (first.unplaced, second.unplaced, r.stats.unplaced) == (2, 2, 4)
    assert [(a.kind, a.zone) for a in first.alerts] == [("unknown_zone", "loading-dock")]
    assert [(a.kind, a.zone) for a in second.alerts] == [("unknown_zone", None)]
    assert "loading-dock" in first.alerts[0].message and "gw1" in first.alerts[0].message
    assert r.stats.unplaced_by_zone == {"loading-dock": 3, "(none)": 1}


def test_an_item_binding_wins_over_the_gtin() -> None:
    epc = "3074257BF7194E4000001A85"
    r = resolver(Binding(f"EPC:{epc}", "item", "SPECIAL"))
    assert r.identify(f"EPC:{epc}", T0) == ("item", "SPECIAL")


@given(gtin_body=st.from_regex(r"8061414[0-9]{6}", fullmatch=True), serial=st.integers(0, 2**38 - 1))
def test_every_sgtin_of_a_catalog_gtin_resolves_to_its_product(gtin_body: str, serial: int) -> None:
    gtin = gtin_body + str(gtin_check_digit(gtin_body))
    r = TagResolver(ZONES, [Product("P", "p", Decimal(1), gtin=gtin)], [])
    assert r.identify(f"EPC:{encode_sgtin96(gtin, serial)}", T0) == ("item", "P")
