"""The store file loader: a good file gives the engine's catalog; a bad one names the file and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ingest.rules import StoreEngine
from ingest.rules.model import Product, RuleSettings, Zone
from ingest.storefile import StoreFileError, TagBinding, load_store_file

GOOD = """\
[store]
id = "demo"
name = "Corner Store"
currency = "EUR"

[rules]
settle_time_s = 3.5
min_rssi = -70.0
min_reads = 3

[[zones]]
name = "entrance"
type = "entrance"
[[zones]]
name = "shelf-dairy"
type = "shelf"
[[zones]]
name = "lane-1"
type = "lane"
display = "lane-1-display"
[[zones]]
name = "exit"
type = "exit"
alarm = "exit-alarm"
gateway = "gw1"

[[products]]
sku = "MILK-1L"
name = "Organic milk 1 l"
price = "1.29"
gtin = "04012345000016"
category = "dairy"
reorder_below = 3
[[products]]
sku = "BREAD"
name = "Rye bread"
price = 2.49
[[products]]
sku = "BAG"
name = "Paper bag"
price = 0

[[members]]
id = "M-1001"
name = "Ada Lovelace"
tags = ["UID:0f003a6b5c", "EPC:e2801170200014cd9b5a08ec"]

[[staff]]
id = "S-01"
name = "Grace"
tags = ["UID:1A2B3C4D5E"]

[[items]]
tag = "EPC:3074257BF7194E4000001A85"
sku = "MILK-1L"
zone = "shelf-dairy"
[[items]]
tag = "EPC:3074257BF7194E4000001A86"
sku = "BREAD"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "store.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_store_file_gives_the_engine_its_catalog(tmp_path: Path) -> None:
    sf = load_store_file(write(tmp_path, GOOD))
    assert (sf.store.id, sf.store.name, sf.store.currency) == ("demo", "Corner Store", "EUR")
    zones = sf.zones_by_name()
    assert zones["exit"] == Zone("exit", "exit", alarm="exit-alarm", gateway="gw1")
    assert zones["lane-1"] == Zone("lane-1", "lane", display="lane-1-display")
    products = sf.products_by_sku()
    assert products["MILK-1L"] == Product("MILK-1L", "Organic milk 1 l", Decimal("1.29"), "04012345000016",
                                          "dairy", 3)
    assert products["BREAD"].price == Decimal("2.49")  # a TOML float becomes the decimal it was written as
    assert sf.products_by_gtin() == {"04012345000016": products["MILK-1L"]}
    assert sf.rule_settings() == RuleSettings(settle_time_s=3.5, min_rssi=-70.0, min_reads=3)
    assert sf.tag_bindings() == {
        "UID:0F003A6B5C": TagBinding("UID:0F003A6B5C", "member", "M-1001"),
        "EPC:E2801170200014CD9B5A08EC": TagBinding("EPC:E2801170200014CD9B5A08EC", "member", "M-1001"),
        "UID:1A2B3C4D5E": TagBinding("UID:1A2B3C4D5E", "staff", "S-01"),
        "EPC:3074257BF7194E4000001A85": TagBinding("EPC:3074257BF7194E4000001A85", "item", "MILK-1L"),
        "EPC:3074257BF7194E4000001A86": TagBinding("EPC:3074257BF7194E4000001A86", "item", "BREAD"),
    }
    assert sf.initial_locations() == {"EPC:3074257BF7194E4000001A85": "shelf-dairy"}
    StoreEngine(zones, products, sf.rule_settings(), locations=sf.initial_locations())


def test_the_rules_section_is_optional(tmp_path: Path) -> None:
    rules = "[rules]\nsettle_time_s = 3.5\nmin_rssi = -70.0\nmin_reads = 3\n"
    assert rules in GOOD
    sf = load_store_file(write(tmp_path, GOOD.replace(rules, "")))
    assert sf.rule_settings() == RuleSettings()


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ('price = "1.29"', 'price = "one euro"', "products[0].price", "expected a valid decimal"),
        ('price = "1.29"', 'price = "-1"', "products[0].price", "greater than or equal to 0"),
        ('price = "1.29"', "price = true", "products[0].price", "decimal price"),
        ("price = 0", 'price = "0"\ncolour = "brown"', "products[2].colour", "unknown key"),
        ('type = "shelf"', 'type = "aisle"', "zones[1].type", "'entrance', 'shelf', 'lane'"),
        ('name = "lane-1"', 'name = "entrance"', "zones[2].name", "already used by zones[0]"),
        ('name = "lane-1"', 'name = "lane 1"', "zones[2].name", "expected to match pattern"),
        ('sku = "BREAD"\nname', 'sku = "MILK-1L"\nname', "products[1].sku", "already used by products[0]"),
        ('gtin = "04012345000016"', 'gtin = "04012345000017"', "products[0].gtin", "check digit"),
        ('gtin = "04012345000016"', 'gtin = "4012-345"', "products[0].gtin", "14 digits"),
        ('sku = "MILK-1L"\nzone', 'sku = "CHEESE"\nzone', "items[0].sku", "not the sku of any"),
        ('zone = "shelf-dairy"', 'zone = "shelf-cheese"', "items[0].zone", "not the name of any"),
        ('tags = ["UID:1A2B3C4D5E"]', 'tags = ["UID:0F003A6B5C"]', "staff[0].tags[0]",
         "already bound by members[0].tags[0]"),
        ('tag = "EPC:3074257BF7194E4000001A86"', 'tag = "EPC:3074257BF7194E4000001A85"', "items[1].tag",
         "already bound by items[0].tag"),
        ('tags = ["UID:1A2B3C4D5E"]', 'tags = ["1A2B3C4D5E"]', "staff[0].tags[0]", "expected to match pattern"),
        ("min_reads = 3", "min_reads = 0", "rules.min_reads", "greater than or equal to 1"),
        ("min_reads = 3", "min_read = 3", "rules.min_read", "unknown key"),
        ('currency = "EUR"', 'currency = "euro"', "store.currency", "expected to match pattern"),
        ('id = "demo"', "", "store.id", "required but missing"),
    ],
)
def test_a_bad_store_file_names_the_file_and_the_field(
    tmp_path: Path, old: str, new: str, field: str, expected: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(StoreFileError) as caught:
        load_store_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert any(p.startswith(f"{field}: ") and expected in p for p in caught.value.problems), message


def test_a_file_that_is_not_toml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('name = "Corner Store"', 'name = "Corner Store'))
    with pytest.raises(StoreFileError, match=r"store\.toml: not valid TOML: .*line 3"):
        load_store_file(path)


def test_a_missing_file_is_a_store_file_error(tmp_path: Path) -> None:
    with pytest.raises(StoreFileError, match=r"missing\.toml: cannot be read"):
        load_store_file(tmp_path / "missing.toml")


GATED = GOOD.replace(
    '[[zones]]\nname = "exit"\ntype = "exit"\nalarm = "exit-alarm"\ngateway = "gw1"\n',
    """[[zones]]
name = "exit-inner"
type = "exit"
neighbours = ["exit-outer"]
[[zones]]
name = "exit-outer"
type = "exit"
neighbours = ["exit-inner"]

[[exits]]
name = "exit"
inner = "exit-inner"
outer = "exit-outer"
alarm = "exit-alarm"
gateway = "gw1"
window_s = 2.5
min_reads = 4
""",
).replace('reorder_below = 3\n', 'reorder_below = 3\nhome_zones = ["shelf-dairy"]\n')


def test_exits_neighbours_and_home_zones(tmp_path: Path) -> None:
    from ingest.rules.exitgate import ExitGate

    sf = load_store_file(write(tmp_path, GATED))
    assert sf.exit_gates() == [ExitGate("exit", "exit-inner", "exit-outer", window_s=2.5, min_reads=4,
                                        alarm="exit-alarm", gateway="gw1")]
    assert sf.edge_exits() == frozenset({"exit"})  # the gateway decides unless told otherwise
    assert sf.zones_by_name()["exit-inner"].neighbours == ("exit-outer",)
    assert sf.products_by_sku()["MILK-1L"].home_zones == ("shelf-dairy",)
    decided_here = load_store_file(write(tmp_path, GATED.replace("min_reads = 4\n", 'min_reads = 4\ndecide_at = "ingest"\n')))
    assert decided_here.edge_exits() == frozenset()
    assert load_store_file(write(tmp_path, GOOD)).exit_gates() == []


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ('outer = "exit-outer"', 'outer = "exit-inner"', "exits[0].outer", "another zone than inner"),
        ('inner = "exit-inner"', 'inner = "lane-1"', "exits[0].inner", "not the name of a zone of type exit"),
        ('outer = "exit-outer"', 'outer = "exit-back"', "exits[0].outer", "not the name of a zone of type exit"),
        ("window_s = 2.5", "window_s = 0", "exits[0].window_s", "greater than 0"),
        ("min_reads = 4", "min_reads = 0", "exits[0].min_reads", "greater than or equal to 1"),
        ("min_reads = 4", 'decide_at = "cloud"', "exits[0].decide_at", "'edge' or 'ingest'"),
        ("min_reads = 4", "doors = 2", "exits[0].doors", "unknown key"),
        ('neighbours = ["exit-outer"]', 'neighbours = ["exit-back"]', "zones[3].neighbours[0]",
         "not the name of another"),
        ('neighbours = ["exit-outer"]', 'neighbours = ["exit-inner"]', "zones[3].neighbours[0]",
         "not the name of another"),
        ('home_zones = ["shelf-dairy"]', 'home_zones = ["shelf-cheese"]', "products[0].home_zones[0]",
         "not the name of any"),
    ],
)
def test_a_bad_exit_names_the_field(tmp_path: Path, old: str, new: str, field: str, expected: str) -> None:
    assert old in GATED
    path = write(tmp_path, GATED.replace(old, new, 1))
    with pytest.raises(StoreFileError) as caught:
        load_store_file(path)
    assert any(p.startswith(f"{field}: ") and expected in p for p in caught.value.problems), str(caught.value)
