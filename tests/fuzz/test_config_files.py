"""A wrong config, store, profile or credentials file stops its command at start with one line naming the
file and the field, and no traceback: a table per file kind, each row one wrong value.

Each row runs the real command line (``silentcommerce gateway --config …``, ``ingest --store-file …``,
``sim evaluate --profile …``, ``dashboard --credentials …``) in-process; every row is refused before a
port, a database or a broker is touched. Should a row ever be accepted, the gateway's outbox and ingest's
database point where nothing can be created, so the test fails at once instead of starting a service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from silentcommerce.cli import app
from simulators.main import app as sim_app


@dataclass(frozen=True)
class Row:
    """A good file with one thing made wrong, and the field the refusal must name."""

    name: str
    text: str
    field: str


def changed(base: str, old: str, new: str) -> str:
    assert old in base, old  # the row must really change the good file
    return base.replace(old, new)


GATEWAY = """
[gateway]
store = "demo"
id = "gw1"
outbox = "gw1.toml/outbox.db"

[mqtt]
password = "secret"

[batching]
max_reads = 500

[[readers]]
name = "lane-1-uhf"
url = "loop://"
protocol = "uhf-m100"
antennas = { "1" = "lane-1" }

[[readers]]
name = "exit-uhf"
url = "loop://"
protocol = "uhf-m100"
antennas = { "1" = "exit-inner", "2" = "exit-outer" }

[[buses]]
name = "io"
url = "loop://"

[[sensors]]
name = "cooler-1-temp"
kind = "temperature"
bus = "io"
address = 0

[[actuators]]
name = "exit-alarm"
kind = "relay"
bus = "io"
address = 0

[[exits]]
name = "exit"
inner = "exit-inner"
outer = "exit-outer"
alarm = "exit-alarm"
"""

GATEWAY_ROWS = [
    Row("protocol", changed(GATEWAY, '"uhf-m100"\nantennas = { "1" = "exit', '"nfc"\nantennas = { "1" = "exit'),
        "readers[1].protocol"),
    Row("port type", changed(GATEWAY, 'password = "secret"', 'password = "secret"\nport = "abc"'), "mqtt.port"),
    Row("reserved id", changed(GATEWAY, 'id = "gw1"', 'id = "events"'), "gateway.id"),
    Row("bad name", changed(GATEWAY, 'name = "io"', 'name = "-io"'), "buses[0].name"),
    Row("unknown bus", changed(GATEWAY, 'bus = "io"\naddress = 0\n\n[[actuators]]', 'bus = "rs485"\naddress = 0\n\n'
                                                                                    '[[actuators]]'), "sensors[0].bus"),
    Row("unknown relay", changed(GATEWAY, 'alarm = "exit-alarm"', 'alarm = "siren"'), "exits[0].alarm"),
    Row("unwired zone", changed(GATEWAY, 'outer = "exit-outer"', 'outer = "car-park"'), "exits[0].outer"),
    Row("unknown key", changed(GATEWAY, 'id = "gw1"', 'id = "gw1"\ncolour = "red"'), "gateway.colour"),
    Row("antenna key", changed(GATEWAY, '{ "1" = "lane-1" }', '{ "one" = "lane-1" }'), "readers[0].antennas"),
    Row("out of range", changed(GATEWAY, "max_reads = 500", "max_reads = 0"), "batching.max_reads"),
    Row("infinite", changed(GATEWAY, 'password = "secret"', 'password = "secret"\nack_timeout_s = inf'),
        "mqtt.ack_timeout_s"),
    Row("not a number", changed(GATEWAY, "address = 0\n\n[[actuators]]", "address = 0\nscale = nan\n\n[[actuators]]"),
        "sensors[0].scale"),
    Row("negative scale", changed(GATEWAY, "address = 0\n\n[[actuators]]",
                                  "address = 0\nscale = -0.1\n\n[[actuators]]"), "sensors[0].scale"),
    Row("empty password", changed(GATEWAY, 'password = "secret"', 'password = ""'), "mqtt.password"),
    Row("empty host", changed(GATEWAY, 'password = "secret"', 'password = "secret"\nhost = ""'), "mqtt.host"),
    Row("table expected", changed(GATEWAY, "[gateway]", "smoothing = 5\n[gateway]"), "smoothing"),
    Row("missing section", changed(GATEWAY, '[gateway]\nstore = "demo"\nid = "gw1"\n', ""), "gateway"),
    Row("password file", changed(GATEWAY, 'password = "secret"', 'password_file = "missing.password"'),
        "mqtt.password_file"),
    Row("not TOML", changed(GATEWAY, "[batching]", "[batching"), "line 10"),
]

STORE = """
[store]
id = "teststore"
name = "Test store"
currency = "EUR"

[rules]
min_rssi = -70.0

[crm]
max_discount_pct = "30"

[[zones]]
name = "shelf-1"
type = "shelf"
[[zones]]
name = "lane-1"
type = "lane"
[[zones]]
name = "exit-inner"
type = "exit"
[[zones]]
name = "exit-outer"
type = "exit"

[[exits]]
name = "gate"
inner = "exit-inner"
outer = "exit-outer"

[[products]]
sku = "MILK-1L"
name = "Organic milk 1 l"
price = "1.29"
gtin = "80614141123458"

[[members]]
id = "M-1001"
name = "Ada Lovelace"
tags = ["UID:0F003A6B5C"]
consent = { offers = true }

[[items]]
tag = "EPC:E2000000000000000000BEEF"
sku = "MILK-1L"
zone = "shelf-1"
"""

STORE_ROWS = [
    Row("zone type", changed(STORE, 'name = "exit-inner"\ntype = "exit"', 'name = "exit-inner"\ntype = "moon"'),
        "zones[2].type"),
    Row("price", changed(STORE, 'price = "1.29"', 'price = "cheap"'), "products[0].price"),
    Row("gtin check digit", changed(STORE, "80614141123458", "80614141123459"), "products[0].gtin"),
    Row("unknown sku", changed(STORE, 'sku = "MILK-1L"\nzone', 'sku = "BREAD"\nzone'), "items[0].sku"),
    Row("tag", changed(STORE, "UID:0F003A6B5C", "UID:0F00-3A6B"), "members[0].tags[0]"),
    Row("consent type", changed(STORE, "offers = true", 'offers = "maybe"'), "members[0].consent.offers"),
    Row("crm range", changed(STORE, 'max_discount_pct = "30"', 'max_discount_pct = "300"'),
        "crm.max_discount_pct"),
    Row("gate zone", changed(STORE, 'outer = "exit-outer"', 'outer = "car-park"'), "exits[0].outer"),
    Row("rules type", changed(STORE, "min_rssi = -70.0", 'min_rssi = "loud"'), "rules.min_rssi"),
    Row("currency", changed(STORE, 'currency = "EUR"', 'currency = "euro"'), "store.currency"),
    Row("unknown key", changed(STORE, 'type = "lane"', 'type = "lane"\nlenght = 3'), "zones[1].lenght"),
    Row("duplicate zone", changed(STORE, 'name = "lane-1"', 'name = "shelf-1"'), "zones[1].name"),
]

PROFILE = """
name = "bad"
[reads]
miss_probability = 0.1
[walkthrough]
pace = [0.7, 1.4]
[categories]
drinks = 0.6
"""

PROFILE_ROWS = [
    Row("probability", changed(PROFILE, "miss_probability = 0.1", "miss_probability = 2"), "reads.miss_probability"),
    Row("span order", changed(PROFILE, "pace = [0.7, 1.4]", "pace = [1.4, 0.7]"), "walkthrough.pace"),
    Row("category type", changed(PROFILE, "drinks = 0.6", 'drinks = "low"'), "categories.drinks"),
    Row("unknown key", changed(PROFILE, "[reads]", "[reads]\nmis_probability = 0.1"), "reads.mis_probability"),
    Row("section type", changed(PROFILE, "[reads]", "serial = 3\n[reads]"), "serial: expected a table"),
]

CREDENTIALS_ROWS = [
    Row("not JSON", '{"mqtt": ', "not valid JSON"),
    Row("not an object", "[]", "expected an object"),
    Row("mqtt missing", '{"dashboard": {"operator": "pw"}}', "mqtt"),
    Row("mqtt type", '{"mqtt": [], "dashboard": {"operator": "pw"}}', "mqtt"),
    Row("password type", '{"mqtt": {"dashboard": 5}, "dashboard": {"operator": "pw"}}', "mqtt.dashboard"),
    Row("user missing", '{"mqtt": {"ingest": "pw"}, "dashboard": {"operator": "pw"}}', "mqtt.dashboard"),
    Row("logins type", '{"mqtt": {"dashboard": "pw"}, "dashboard": ["operator"]}', "dashboard"),
    Row("no logins", '{"mqtt": {"dashboard": "pw"}, "dashboard": {}}', "dashboard"),
    Row("empty password", '{"mqtt": {"dashboard": "pw"}, "dashboard": {"operator": ""}}', "dashboard.operator"),
    Row("gateway pair", '{"mqtt": {"dashboard": "pw"}, "dashboard": {"operator": "pw"}, "gateways": [["demo"]]}',
        "gateways[0]"),
]


def refused(args: Sequence[str], path: Path, field: str, *, sim: bool = False) -> None:
    """The command exits 2 with exactly one line on stderr that names ``path`` and ``field``."""
    result = CliRunner().invoke(sim_app if sim else app, list(args))
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    prefix = f"error: {path}: "
    assert lines[0].startswith(prefix), lines[0]
    assert field in lines[0].removeprefix(prefix), lines[0]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("row", GATEWAY_ROWS, ids=[row.name for row in GATEWAY_ROWS])
def test_a_wrong_gateway_config_is_refused_by_field(row: Row, tmp_path: Path) -> None:
    path = write(tmp_path, "gw1.toml", row.text)
    refused(["gateway", "--config", str(path)], path, row.field)


@pytest.mark.parametrize("row", STORE_ROWS, ids=[row.name for row in STORE_ROWS])
def test_a_wrong_store_file_is_refused_by_field(row: Row, tmp_path: Path) -> None:
    path = write(tmp_path, "store.toml", row.text)
    database = f"sqlite:///{tmp_path / 'missing' / 'store.db'}"
    refused(["ingest", "--store-file", str(path), "--db", database, "--mqtt-password", "unused"], path, row.field)


def test_a_wrong_store_file_is_refused_by_the_simulators_too(tmp_path: Path) -> None:
    path = write(tmp_path, "store.toml", STORE_ROWS[0].text)
    refused(["run", str(path)], path, STORE_ROWS[0].field, sim=True)


@pytest.mark.parametrize("row", PROFILE_ROWS, ids=[row.name for row in PROFILE_ROWS])
def test_a_wrong_noise_profile_is_refused_by_field(row: Row, tmp_path: Path) -> None:
    path = write(tmp_path, "profile.toml", row.text)
    refused(["evaluate", "--profile", str(path), "--workdir", str(tmp_path / "run")], path, row.field, sim=True)


@pytest.mark.parametrize("row", CREDENTIALS_ROWS, ids=[row.name for row in CREDENTIALS_ROWS])
def test_a_wrong_credentials_file_is_refused_by_field(row: Row, tmp_path: Path) -> None:
    path = write(tmp_path, "credentials.json", row.text)
    refused(["dashboard", "--credentials", str(path), "--db", f"sqlite:///{tmp_path / 'x.db'}"], path, row.field)


def test_the_good_files_of_the_tables_are_accepted(tmp_path: Path) -> None:
    """Each table's base file is valid, so every refusal above is caused by its row's one change."""
    from gateway.config import load_config
    from ingest.storefile import load_store_file
    from silentcommerce.broker import Credentials
    from simulators.noise import load_noise_profile

    load_config(write(tmp_path, "gw1.toml", GATEWAY))
    load_store_file(write(tmp_path, "store.toml", STORE))
    load_noise_profile(write(tmp_path, "profile.toml", PROFILE))
    good = '{"mqtt": {"dashboard": "pw"}, "dashboard": {"operator": "pw"}, "gateways": [["demo", "gw1"]]}'
    assert Credentials.load(write(tmp_path, "credentials.json", good)).dashboard_logins == {"operator": "pw"}
