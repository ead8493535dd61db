"""The example deployment in deploy/ stays valid: every file parses, names only options and settings that
exist, the Grafana panels find the series ingest writes, and the store bridge really carries a store's
traffic to a central Mosquitto and its commands back."""

from __future__ import annotations

import configparser
import dataclasses
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contract.payloads import ReadsBatch, SensorSample, SensorsBatch, TagRead
from contract.topics import gateway_filter, gateway_topic
from dashboard.app import create_app
from ingest.db.engine import make_engine
from ingest.tsdb import TsdbSettings, TsdbWriter, reads_lines, sensor_lines
from silentcommerce.broker import Broker, free_port, gateway_user, generate_credentials
from silentcommerce.cli import app
from silentcommerce.mqtt import InboundMessage, MqttLink
from tests.dashboard.conftest import settings_for, unreachable_mqtt
from tests.fixtures.broker import GATEWAYS, STORE, RunningBroker
from tests.fixtures.postgres import postgres_bindir
from tests.fixtures.servers import require_executable
from tests.fixtures.tsdb import RunningVictoriaMetrics
from tests.ingest.test_service import eventually

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
ENV_FILES = sorted((DEPLOY / "env").glob("*.env"))
EXAMPLE_STORE = "store-0001"


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.output


def _env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return dict(pairs)


def test_every_deploy_file_is_covered_by_a_check_here() -> None:
    checked = {*UNITS, *ENV_FILES, *(DEPLOY / "grafana").rglob("*.yaml"), *(DEPLOY / "grafana").rglob("*.json"),
               *(DEPLOY / "postgresql").glob("*.conf"), DEPLOY / "nginx" / "silentcommerce.conf",
               DEPLOY / "mosquitto" / "store-bridge.conf", DEPLOY / "mosquitto" / "central-bridge-acl.example"}
    assert {p for p in DEPLOY.rglob("*") if p.is_file()} == checked


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_run_real_commands_with_real_options_and_existing_env_files(unit: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    argv = shlex.split(parser["Service"]["ExecStart"])
    assert argv[0].endswith("/silentcommerce")
    command = argv[1]
    options = [a for a in argv[2:] if a.startswith("--")]
    usage = _help(command)
    assert all(option in usage for option in options), (options, usage)
    env_file = parser["Service"].get("EnvironmentFile")
    if env_file is not None:
        example = DEPLOY / "env" / Path(env_file.replace("%i", EXAMPLE_STORE)).name
        assert example in ENV_FILES, f"{unit.name}: no example {example.name}"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_files_set_only_variables_their_service_reads(env_file: Path) -> None:
    service = env_file.name.split("-")[0].removesuffix(".env")
    variables = _env(env_file)
    known = set(re.findall(r"SC_[A-Z_]+", _help(service))) | {"FORWARDED_ALLOW_IPS"}  # uvicorn's own
    assert set(variables) <= known
    engine = make_engine(variables["SC_DB_URL"])  # a valid URL with valid pool options
    assert engine.dialect.name == "postgresql"


def test_postgresql_settings_are_real_parameters() -> None:
    described = subprocess.run([str(postgres_bindir() / "postgres"), "--describe-config"], check=True,
                               capture_output=True, text=True).stdout
    parameters = {line.split("\t", 1)[0] for line in described.splitlines()}
    for conf in sorted((DEPLOY / "postgresql").glob("*.conf")):
        parser = configparser.ConfigParser(interpolation=None, strict=True)
        parser.read_string("[postgresql]\n" + conf.read_text())
        assert set(parser["postgresql"]) <= parameters, conf.name


def test_nginx_config_is_balanced_and_proxies_the_live_feed_unbuffered() -> None:
    text = re.sub(r"#.*", "", (DEPLOY / "nginx" / "silentcommerce.conf").read_text())
    depth = 0
    for line in (line.strip() for line in text.splitlines()):
        depth += line.count("{") - line.count("}")
        assert depth >= 0
        assert not line or line.endswith(("{", "}", ";")), line
    assert depth == 0
    live = re.search(r"location = (\S+) \{([^}]*)\}", text)
    assert live is not None and "proxy_buffering off;" in live.group(2)
    paths = create_app(settings_for("sqlite://", unreachable_mqtt())).openapi()["paths"]
    assert "get" in paths[live.group(1)]


def test_grafana_provisioning_points_the_dashboard_at_the_provisioned_datasource() -> None:
    yaml = pytest.importorskip("yaml")  # a dev dependency: 'make test' installs it
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/victoriametrics.yaml").read_text())
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/silentcommerce.yaml").read_text())
    dashboard = json.loads((DEPLOY / "grafana/dashboards/silentcommerce.json").read_text())
    assert datasources["apiVersion"] == 1 and providers["apiVersion"] == 1
    uids = {d["uid"] for d in datasources["datasources"]}
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} <= uids
    assert [p["title"] for p in dashboard["panels"]] == [
        "Reads per second, per zone", "Cooler temperature", "Gateway backlog (delivery lag)"]


@pytest.mark.integration
def test_every_grafana_panel_finds_what_ingest_writes(victoria_metrics: RunningVictoriaMetrics) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    read = TagRead(reader="r1", antenna=1, rssi=-55.0, first_seen=now, last_seen=now, count=4, event="seen",
                   zone="lane-1", epc="3074257BF7194E4000001A85")
    sample = SensorSample(sensor="cooler-1-temp", kind="temperature", value=4.5, zone="cooler-1", at=now)
    writer = TsdbWriter(TsdbSettings(url=victoria_metrics.url))
    writer.start()
    try:
        writer.submit(reads_lines(ReadsBatch(store=STORE, gateway="gw1", seq=1, sent_at=now, reads=[read]),
                                  {"lane-1": "lane"}, now + timedelta(seconds=2)))
        writer.submit(sensor_lines(SensorsBatch(store=STORE, gateway="gw1", seq=2, sent_at=now, samples=[sample])))
        assert writer.flush(10)
    finally:
        writer.stop()
    victoria_metrics.flush()
    dashboard = json.loads((DEPLOY / "grafana/dashboards/silentcommerce.json").read_text())
    found: dict[str, Any] = {}
    for panel in dashboard["panels"]:
        expr = panel["targets"][0]["expr"].replace("$store", ".*")
        answer = json.loads(victoria_metrics.get("/api/v1/query", query=expr, time=str(now.timestamp() + 5)))
        found[panel["title"]] = [(r["metric"], float(r["value"][1])) for r in answer["data"]["result"]]
    assert found == {
        "Reads per second, per zone": [({"store": STORE, "zone": "lane-1"}, 4 / 60)],
        "Cooler temperature": [({"__name__": "sensor_value", "store": STORE, "sensor": "cooler-1-temp",
                                 "kind": "temperature", "zone": "cooler-1"}, 4.5)],
        "Gateway backlog (delivery lag)": [({"store": STORE, "gateway": "gw1"}, 2.0)],
    }


def _render_bridge(store: str, central_port: int, password: str) -> str:
    """The example bridge as an operator fills it in: this store, this central broker (no TLS on loopback)."""
    text = (DEPLOY / "mosquitto" / "store-bridge.conf").read_text()
    text = text.replace(EXAMPLE_STORE, store).replace("central.example.net:8883", f"127.0.0.1:{central_port}")
    return re.sub(r"^bridge_cafile .*\n", "", text.replace("CHANGE-ME", password), flags=re.M)


@pytest.fixture
def central(tmp_path: Path) -> Iterator[RunningBroker]:
    """A central broker from the repository's config whose ACL also holds the example's bridge block."""
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    passwd_tool = require_executable("mosquitto_passwd", "/usr/bin/mosquitto_passwd", package="mosquitto")
    workdir = tmp_path / "central"
    credentials = generate_credentials(workdir, GATEWAYS)
    acl = (DEPLOY / "mosquitto" / "central-bridge-acl.example").read_text().replace(EXAMPLE_STORE, STORE)
    (workdir / "acl").write_text((workdir / "acl").read_text() + "\n" + acl)
    subprocess.run([passwd_tool, "-b", str(workdir / "passwd"), f"bridge.{STORE}", "bridge-secret"], check=True)
    running = RunningBroker(Broker(workdir, free_port()), credentials, workdir)
    running.broker.start()
    yield running
    running.broker.stop()


@pytest.mark.integration
def test_the_store_bridge_carries_reads_up_and_commands_down(central: RunningBroker, tmp_path: Path) -> None:
    workdir = tmp_path / "store-broker"
    credentials = generate_credentials(workdir, [(STORE, "gw1")])
    template = workdir / "store-mosquitto.conf"
    repo_conf = Path(__file__).resolve().parents[2] / "mosquitto.conf"
    template.write_text(repo_conf.read_text() + "\n" + _render_bridge(STORE, central.port, "bridge-secret"))
    store = RunningBroker(Broker(workdir, free_port(), template=template), credentials, workdir)
    store.broker.start()
    up: list[InboundMessage] = []
    down: list[InboundMessage] = []
    states: list[InboundMessage] = []
    ingest = MqttLink(central.settings("ingest", "ingest-central"), on_message=up.append,
                      subscriptions=[(gateway_filter("reads", store=STORE), 1)])
    watcher = MqttLink(dataclasses.replace(central.settings("ingest", "bridge-watcher"), username=f"bridge.{STORE}",
                                           password="bridge-secret"),
                       on_message=states.append, subscriptions=[(f"bridges/{STORE}/state", 1)])
    gateway = MqttLink(store.settings(gateway_user(STORE, "gw1"), "gw1-in-store"), on_message=down.append,
                       subscriptions=[(gateway_topic(STORE, "gw1", "cmd"), 1)])
    try:
        for link in (watcher, ingest, gateway):
            link.start()
            assert link.wait_connected(10)
        bridge_up = eventually(lambda: b"1" in [m.payload for m in states], 20)  # its retained notification
        assert bridge_up, store.broker.log_path.read_text()[-1500:] + central.broker.log_path.read_text()[-1500:]
        gateway.publish(gateway_topic(STORE, "gw1", "reads"), b"batch-1").wait(10)
        ingest.publish(gateway_topic(STORE, "gw1", "cmd"), b"alarm-on").wait(10)
        assert eventually(lambda: any(m.topic.endswith("/reads") for m in up) and down, 20)
        assert [(m.topic, m.payload) for m in up if m.topic.endswith("/reads")] == [
            (gateway_topic(STORE, "gw1", "reads"), b"batch-1")]
        assert [(m.topic, m.payload) for m in down] == [(gateway_topic(STORE, "gw1", "cmd"), b"alarm-on")]
    finally:
        for link in (gateway, ingest, watcher):
            link.stop()
        store.broker.stop()
