"""A gateway config is read as the integrator wrote it, or refused with the file, the field and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import GatewayConfigError

EXAMPLE = """
[gateway]
store = "demo"
id = "gw1"
outbox = "gw1-outbox.db"

[mqtt]
host = "127.0.0.1"
port = 1883
username = "gw.demo.gw1"
password_file = "secrets/gw1.password"
session_expiry_s = 3600

[smoothing]
report_interval_s = 1.0
leave_after_s = 1.5

[batching]
max_reads = 500
max_delay_s = 0.05

[[readers]]
name = "lane-1-uhf"
url = "/dev/pts/7"
protocol = "uhf-m100"
baudrate = 115200
antennas = { "1" = "lane-1" }

[[readers]]
name = "entrance-card"
url = "loop://"
protocol = "rdm6300"
antennas = { "0" = "entrance" }

[[buses]]
name = "io"
url = "/dev/pts/9"
baudrate = 9600

[[sensors]]
name = "cooler-1-temp"
kind = "temperature"
bus = "io"
unit = 1
address = 0
scale = 0.1
zone = "cooler-1"
interval_s = 1.0

[[actuators]]
name = "exit-alarm"
kind = "relay"
bus = "io"
unit = 1
address = 0

[[displays]]
name = "lane-1-display"
url = "/dev/pts/11"
baudrate = 9600
width = 20
"""


def write(tmp_path: Path, text: str, password: str | None = "s3cret\n") -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(text)
    if password is not None:
        (tmp_path / "secrets").mkdir(exist_ok=True)
        (tmp_path / "secrets" / "gw1.password").write_text(password)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(GatewayConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert str(path) in message
    return message


def test_the_documented_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), environ={})
    assert config.gateway.outbox == tmp_path.resolve() / "gw1-outbox.db"
    assert config.mqtt.password == "s3cret"
    assert config.mqtt_username == "gw.demo.gw1"
    uhf, card = config.readers
    assert (uhf.zone_of(1), uhf.effective_baudrate) == ("lane-1", 115200)
    assert (card.zone_of(0), card.effective_baudrate) == ("entrance", 9600)
    assert config.sensors[0].scale == 0.1


def test_environment_password_overrides(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), environ={"SC_MQTT_PASSWORD": "from-env"})
    assert config.mqtt.password == "from-env"


def test_wrong_protocol_names_the_reader_index(tmp_path: Path) -> None:
    text = EXAMPLE.replace('protocol = "rdm6300"', 'protocol = "rdm9000"')
    message = refusal(tmp_path, text)
    assert "readers[1].protocol" in message
    assert "uhf-m100" in message and "rdm9000" in message


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    message = refusal(tmp_path, EXAMPLE.replace("width = 20", "width = 20\ncolour = 'green'"))
    assert "displays[0].colour: unknown key" in message


def test_bad_zone_name_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, EXAMPLE.replace('"1" = "lane-1"', '"1" = "lane 1"'))
    assert "readers[0].antennas.1" in message
    assert "letters, digits" in message


def test_sensor_on_an_unknown_bus(tmp_path: Path) -> None:
    message = refusal(
        tmp_path,
        EXAMPLE.replace(
            'bus = "io"\nunit = 1\naddress = 0\nscale', 'bus = "rs485"\nunit = 1\naddress = 0\nscale'
        ),
    )
    assert "sensors[0].bus" in message and "'rs485'" in message


def test_missing_required_field(tmp_path: Path) -> None:
    message = refusal(tmp_path, EXAMPLE.replace('store = "demo"\n', ""))
    assert "gateway.store: missing" in message


def test_duplicate_reader_names(tmp_path: Path) -> None:
    message = refusal(tmp_path, EXAMPLE.replace('name = "entrance-card"', 'name = "lane-1-uhf"'))
    assert "readers[1].name" in message and "duplicate" in message


def test_missing_password_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(EXAMPLE)
    with pytest.raises(GatewayConfigError, match=r"mqtt\.password_file: cannot read .*gw1\.password"):
        load_config(path, environ={})


def test_not_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in refusal(tmp_path, "[gateway\nstore=")


def test_reserved_gateway_name(tmp_path: Path) -> None:
    assert "reserved" in refusal(tmp_path, EXAMPLE.replace('id = "gw1"', 'id = "events"'))
