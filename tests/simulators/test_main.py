"""A whole simulated store: started from the demo store file, described by a gateway config the gateway's
own loader accepts, reachable over PTYs or sockets, and driven by a scenario a gateway can hear."""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from threading import Thread

import pytest
from typer.testing import CliRunner

from gateway.config import GatewayConfig
from gateway.readers_io import ReaderLoop
from gateway.smoothing import RawRead
from readers.uhf import TagNotice, UhfDecoder, hardware_version, multi_poll
from silentcommerce.serialport import open_port
from simulators.demo import small_scenario
from simulators.main import RunningStore, app, start_store, write_gateway_config
from simulators.storeplan import demo_store_path
from tests.simulators.conftest import read_for, read_until


@pytest.fixture
def store() -> Iterator[RunningStore]:
    with start_store(demo_store_path()) as running:
        yield running


def test_every_device_has_a_port_and_the_gateway_config_loads(store: RunningStore, tmp_path: Path) -> None:
    assert set(store.paths()) == {
        "entrance-card",
        "shelf-dairy-uhf",
        "shelf-dry-uhf",
        "cooler-1-uhf",
        "backroom-uhf",
        "lane-1-card",
        "lane-1-uhf",
        "lane-1-display",
        "lane-2-card",
        "lane-2-uhf",
        "lane-2-display",
        "exit-inner-uhf",
        "exit-outer-uhf",
        "io",
    }
    assert all(os.path.exists(path) for path in store.paths().values())
    path = write_gateway_config(
        store, tmp_path / "gw1.toml", mqtt={"host": "127.0.0.1", "port": 1884, "password_file": "gw1.pw"}
    )
    with path.open("rb") as handle:
        config = GatewayConfig.model_validate(tomllib.load(handle))
    readers = {reader.name: reader for reader in config.readers}
    assert readers["lane-1-uhf"].protocol == "uhf-m100" and readers["lane-1-uhf"].antennas == {1: "lane-1"}
    assert readers["lane-1-card"].protocol == "rdm6300" and readers["lane-1-card"].antennas == {0: "lane-1"}
    assert readers["exit-inner-uhf"].url == store.paths()["exit-inner-uhf"]
    assert readers["exit-outer-uhf"].antennas == {1: "exit-outer"}
    assert {(s.name, s.kind, s.address) for s in config.sensors} == {
        ("cooler-1-temp", "temperature", 0),
        ("cooler-1-door", "door", 0),
    }
    assert {(a.name, a.address) for a in config.actuators} == {
        ("exit-alarm", 0), ("cooler-1-lock", 1), ("fast-lane-gate", 2)}  # the demo's [crm.fast_lane] gate
    assert [d.name for d in config.displays] == ["lane-1-display", "lane-2-display"]
    assert config.gateway.store == "demo" and config.mqtt.port == 1884


def test_shelf_stock_is_heard_at_start(store: RunningStore) -> None:
    port = open_port(store.paths()["shelf-dairy-uhf"], 115200)
    try:
        port.write(multi_poll())
        heard = {m.epc for m in UhfDecoder().feed(read_for(port, 0.3)) if isinstance(m, TagNotice)}
        dairy = {item.epc for item in store.plan.items if item.zone == "shelf-dairy"}
        assert heard == dairy
    finally:
        port.close()


def test_a_gateway_hears_the_scenario_at_lane_and_exit(store: RunningStore) -> None:
    scenario = small_scenario(store.plan)
    outcome = scenario.expected_outcome()
    bought = {tag.removeprefix("EPC:") for tag in outcome.purchases[0].tags}
    stolen = {theft.tag.removeprefix("EPC:") for theft in outcome.thefts}
    lane_port = open_port(store.paths()["lane-1-uhf"], 115200)
    exit_port = open_port(store.paths()["exit-inner-uhf"], 115200)
    card_port = open_port(store.paths()["lane-1-card"], 9600)
    try:
        lane_port.write(multi_poll())
        exit_port.write(multi_poll())
        heard: dict[str, list[bytes]] = {"lane": [], "exit": [], "card": []}

        def listen(name: str, port: object) -> None:
            heard[name].append(read_for(port, 2.5))  # type: ignore[arg-type]

        threads = [
            Thread(target=listen, args=a)
            for a in (("lane", lane_port), ("exit", exit_port), ("card", card_port))
        ]
        for thread in threads:
            thread.start()
        store.play(scenario, speed=10.0)
        for thread in threads:
            thread.join()
    finally:
        for port in (lane_port, exit_port, card_port):
            port.close()
    lane = [m for m in UhfDecoder().feed(b"".join(heard["lane"])) if isinstance(m, TagNotice)]
    exit_ = [m for m in UhfDecoder().feed(b"".join(heard["exit"])) if isinstance(m, TagNotice)]
    assert {m.epc for m in lane} == bought and all(-57 <= m.rssi <= -38 for m in lane)
    assert {m.epc for m in exit_} == bought | stolen
    assert b"".join(heard["card"]).startswith(b"\x020F003A6B5C")


def test_socket_ports_serve_every_device(tmp_path: Path) -> None:
    with start_store(demo_store_path(), socket_ports=True) as running:
        urls = running.paths()
        assert all(url.startswith("socket://127.0.0.1:") for url in urls.values())
        port = open_port(urls["exit-inner-uhf"], 115200)
        try:
            port.write(hardware_version())
            assert read_until(port, lambda d: d.endswith(b"\x7e")).startswith(b"\xbb\x01\x03")
        finally:
            port.close()
        text = write_gateway_config(running, tmp_path / "gw.toml", mqtt={"host": "10.0.0.5"}).read_text()
        assert urls["io"] in text and "/dev/" not in text


def test_sim_run_command_plays_the_demo_and_writes_the_config(tmp_path: Path) -> None:
    config = tmp_path / "gw1.toml"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--speed",
            "200",
            "--shoppers",
            "1",
            "--seed",
            "4",
            "--gateway-config",
            str(config),
            "--mqtt-port",
            "18830",
            "--gateway",
            "gw2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lane-1-uhf" in result.output and "round over" in result.output
    with config.open("rb") as handle:
        loaded = GatewayConfig.model_validate(tomllib.load(handle))
    assert loaded.gateway.id == "gw2" and loaded.mqtt.port == 18830


def test_sim_run_refuses_a_missing_store_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "nope.toml" in result.output


def test_the_gateways_own_reader_loops_hear_the_scenario(store: RunningStore, tmp_path: Path) -> None:
    """The config the simulators write, read by the gateway's reader threads: every zone hears its part."""
    path = write_gateway_config(store, tmp_path / "gw1.toml", mqtt={"password": "unused"})
    with path.open("rb") as handle:
        config = GatewayConfig.model_validate(tomllib.load(handle))
    reads: list[RawRead] = []
    lock = threading.Lock()

    def sink(batch: list[RawRead]) -> None:
        with lock:
            reads.extend(batch)

    stop = threading.Event()
    loops = [ReaderLoop(reader, sink, stop) for reader in config.readers]
    for loop in loops:
        loop.start()
    scenario = small_scenario(store.plan)
    try:
        store.play(scenario, speed=10.0)
    finally:
        stop.set()
        for loop in loops:
            loop.join(2.0)
    outcome = scenario.expected_outcome()
    bought = {tag.removeprefix("EPC:") for tag in outcome.purchases[0].tags}
    stolen = {theft.tag.removeprefix("EPC:") for theft in outcome.thefts}
    by_zone: dict[str | None, set[str]] = {}
    for read in reads:
        by_zone.setdefault(read.zone, set()).add(str(read.epc or read.uid))
    assert by_zone["lane-1"] == bought | {"0F003A6B5C"}
    assert by_zone["exit-inner"] == bought | stolen
    assert by_zone["exit-outer"] == bought | stolen
    assert by_zone["entrance"] == {"0F003A6B5C"}
    assert "lane-2" not in by_zone
    assert all(loop.stats.bad_frames == 0 for loop in loops)
