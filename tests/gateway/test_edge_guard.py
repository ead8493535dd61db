"""The exit guard on the gateway, without devices: raw reads in, the relay and the outbox out; the allow
list on disk; the ``[[exits]]`` config refused with the field named."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract import GateAlarm, decode
from gateway.allowlist import AllowList, allowlist_path
from gateway.config import ActuatorConfig, ExitConfig, GatewayConfig, load_config
from gateway.edge import ExitGuard
from gateway.errors import DeviceError, GatewayConfigError
from gateway.outbox import Outbox
from gateway.smoothing import RawRead

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
EPC = "3074257BF7194E4000001A86"
RELAY = ActuatorConfig(name="exit-alarm", kind="relay", bus="io", address=0)
GATE = ExitConfig(
    name="exit", inner="exit-inner", outer="exit-outer", alarm="exit-alarm", alarm_duration_s=2.0
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Relay:
    """A relay whose write takes 4 ms of the injected clock."""

    def __init__(self, clock: Clock, fail: bool = False) -> None:
        self.writes: list[tuple[str, bool]] = []
        self.holds: list[tuple[str, float]] = []
        self.fail = fail
        self.clock = clock

    def write(self, actuator: ActuatorConfig, value: bool) -> None:
        self.clock.now += timedelta(milliseconds=4)
        if self.fail:
            raise DeviceError("bus 'io': no answer to coil 0 within 3.0 s")
        self.writes.append((actuator.name, value))

    def hold(self, name: str, seconds: float) -> None:
        self.holds.append((name, seconds))


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", "demo", "gw1")
    yield box
    box.close()


@pytest.fixture
def allowlist(tmp_path: Path) -> Iterator[AllowList]:
    allowed = AllowList(allowlist_path(tmp_path / "outbox.db"))
    yield allowed
    allowed.close()


def guard(outbox: Outbox, allowlist: AllowList, relay: Relay, clock: Clock) -> ExitGuard:
    return ExitGuard("demo", "gw1", [GATE], [RELAY], allowlist, outbox, relay.write, relay.hold, clock=clock)


def read(
    zone: str, at_ms: int, epc: str | None = EPC, rssi: float = -55.0, uid: str | None = None
) -> RawRead:
    reader = f"{zone}-uhf"
    return RawRead(
        reader=reader,
        antenna=1,
        zone=zone,
        epc=epc,
        uid=uid,
        rssi=rssi,
        at=T0 + timedelta(milliseconds=at_ms),
    )


def walk(g: ExitGuard, clock: Clock, zones: tuple[str, str], epc: str = EPC) -> None:
    """Two reads in the first zone, then two in the second, 200 ms apart (as a reader thread hands them over)."""
    for i, zone in enumerate([zones[0], zones[0], zones[1], zones[1]]):
        clock.now = T0 + timedelta(milliseconds=200 * i)
        g.observe([read(zone, 200 * i, epc=epc)])


def alarms(outbox: Outbox) -> list[GateAlarm]:
    return [decode(GateAlarm, e.payload) for e in outbox.pending(100) if e.kind == "alarms"]


def test_an_unpaid_epc_walking_out_sounds_the_relay_and_reports_to_ingest(
    outbox: Outbox, allowlist: AllowList
) -> None:
    clock = Clock()
    relay = Relay(clock)
    g = guard(outbox, allowlist, relay, clock)
    walk(g, clock, ("exit-inner", "exit-outer"))
    assert relay.writes == [("exit-alarm", True)]
    assert relay.holds == [("exit-alarm", 2.0)]
    [alarm] = alarms(outbox)
    assert (alarm.gate, alarm.tag, alarm.alarm, alarm.sounded) == ("exit", f"EPC:{EPC}", "exit-alarm", True)
    assert alarm.latency_ms == pytest.approx(4.0)
    assert alarm.first_read_at == T0 and alarm.decided_at == T0 + timedelta(milliseconds=604)
    assert alarm.zone_sequence == ["exit-inner", "exit-outer"]
    assert [(e.zone, e.count) for e in alarm.evidence] == [("exit-inner", 1)] * 2 + [("exit-outer", 1)] * 2
    assert alarm.params["min_reads"] == "2" and alarm.params["window_s"] == "3"
    assert alarm.seq == outbox.last_seq() and outbox.pending(10)[0].topic == "sc/v1/demo/gw1/alarms"
    assert g.stats.alarms == 1 and g.stats.max_latency_ms == pytest.approx(4.0)


def test_a_pass_alarms_once_however_long_the_tag_keeps_being_read_outside(
    outbox: Outbox, allowlist: AllowList
) -> None:
    clock = Clock()
    relay = Relay(clock)
    g = guard(outbox, allowlist, relay, clock)
    walk(g, clock, ("exit-inner", "exit-outer"))
    for i in range(10):
        g.observe([read("exit-outer", 800 + 100 * i)])
    assert relay.writes == [("exit-alarm", True)] and len(alarms(outbox)) == 1


@pytest.mark.parametrize(
    "zones", [("exit-outer", "exit-inner"), ("exit-inner", "exit-inner"), ("exit-outer", "exit-outer")]
)
def test_entering_or_dwelling_is_silent(outbox: Outbox, allowlist: AllowList, zones: tuple[str, str]) -> None:
    clock = Clock()
    relay = Relay(clock)
    walk(guard(outbox, allowlist, relay, clock), clock, zones)
    assert relay.writes == [] and alarms(outbox) == []


def test_an_allowed_epc_leaves_silently_and_a_disallowed_one_alarms_again(
    outbox: Outbox, allowlist: AllowList
) -> None:
    clock = Clock()
    relay = Relay(clock)
    g = guard(outbox, allowlist, relay, clock)
    allowlist.allow([f"EPC:{EPC}"])
    walk(g, clock, ("exit-inner", "exit-outer"))
    assert relay.writes == [] and g.stats.allowed == 1
    allowlist.disallow([f"EPC:{EPC}"])
    g2 = guard(outbox, allowlist, relay, clock)  # a fresh pass
    walk(g2, clock, ("exit-inner", "exit-outer"))
    assert relay.writes == [("exit-alarm", True)]


def test_weak_reads_cards_and_other_zones_are_not_evidence(outbox: Outbox, allowlist: AllowList) -> None:
    clock = Clock()
    relay = Relay(clock)
    g = guard(outbox, allowlist, relay, clock)
    for i, zone in enumerate(["exit-inner", "exit-inner", "exit-outer", "exit-outer"]):
        g.observe([read(zone, 100 * i, rssi=-80.0)])
        g.observe([read(zone, 100 * i, epc=None, uid="0F003A6B5C")])
        g.observe([read("lane-1", 100 * i, epc="3074257BF7194E4000001A87")])
    assert relay.writes == [] and alarms(outbox) == []
    assert g.stats.gate_reads == 4  # only the weak EPC reads were gate reads


def test_a_relay_that_fails_is_still_reported_to_ingest_as_not_sounded(
    outbox: Outbox, allowlist: AllowList
) -> None:
    clock = Clock()
    relay = Relay(clock, fail=True)
    g = guard(outbox, allowlist, relay, clock)
    walk(g, clock, ("exit-inner", "exit-outer"))
    [alarm] = alarms(outbox)
    assert not alarm.sounded and "no answer" in alarm.error
    assert relay.holds == [] and g.stats.alarm_failures == 1


def test_the_allow_list_survives_a_restart(tmp_path: Path) -> None:
    path = allowlist_path(tmp_path / "gw1-outbox.db")
    assert path == tmp_path / "gw1-outbox.allow.db"
    first = AllowList(path)
    first.allow(["EPC:AAAA", "EPC:BBBB", "UID:0F003A6B5C"])
    first.disallow(["EPC:BBBB"])
    first.close()
    again = AllowList(path)
    assert again.snapshot() == {"EPC:AAAA", "UID:0F003A6B5C"}
    assert "EPC:AAAA" in again and "EPC:BBBB" not in again
    again.close()


def test_a_snapshot_in_parts_replaces_the_set_only_when_every_part_arrived(tmp_path: Path) -> None:
    path = tmp_path / "allow.db"
    allowed = AllowList(path)
    allowed.allow(["EPC:0001"])
    assert not allowed.replace_part("snap-1", 2, 2, ["EPC:0003"])
    assert allowed.snapshot() == {"EPC:0001"}
    allowed.close()
    allowed = AllowList(path)  # a part that arrived before a restart still counts
    assert allowed.replace_part("snap-1", 1, 2, ["EPC:0002"])
    assert allowed.snapshot() == {"EPC:0002", "EPC:0003"}
    # a newer snapshot drops the parts of an unfinished older one
    assert not allowed.replace_part("snap-2", 1, 3, ["EPC:0004"])
    assert not allowed.replace_part("snap-3", 1, 2, ["EPC:0005"])
    assert allowed.replace_part("snap-3", 2, 2, [])
    assert allowed.snapshot() == {"EPC:0005"}
    allowed.close()
    assert AllowList(path).snapshot() == {"EPC:0005"}


def config(tmp_path: Path, exit_lines: str, relay_kind: str = "relay") -> GatewayConfig:
    path = tmp_path / "gw1.toml"
    path.write_text(
        f"""
[gateway]
store = "demo"
id = "gw1"

[[readers]]
name = "in-uhf"
url = "socket://127.0.0.1:1"
protocol = "uhf-m100"
antennas = {{ "1" = "exit-inner" }}

[[readers]]
name = "out-uhf"
url = "socket://127.0.0.1:2"
protocol = "uhf-m100"
antennas = {{ "1" = "exit-outer" }}

[[buses]]
name = "io"
url = "socket://127.0.0.1:3"

[[actuators]]
name = "exit-alarm"
kind = "{relay_kind}"
bus = "io"
address = 0

[[exits]]
{exit_lines}
"""
    )
    return load_config(path, environ={"SC_MQTT_PASSWORD": "x"})


GOOD = ['name = "exit"', 'inner = "exit-inner"', 'outer = "exit-outer"', 'alarm = "exit-alarm"']


def test_an_exit_config_gets_the_designed_defaults(tmp_path: Path) -> None:
    [gate] = config(tmp_path, "\n".join(GOOD)).exits
    assert (gate.window_s, gate.min_reads, gate.min_rssi, gate.alarm_duration_s) == (3.0, 2, -70.0, 3.0)
    assert (gate.chatter_window_s, gate.chatter_limit) == (300.0, 6)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ('alarm = "nope"', "exits[0].alarm: unknown relay 'nope'"),
        ('outer = "exit-inner"', "exits[0].outer: inner and outer must be different"),
        ('inner = "lane-9"', "exits[0].inner: zone 'lane-9' is on no reader antenna"),
        ("min_reads = 0", "exits[0].min_reads"),
        ('colour = "red"', "exits[0].colour: unknown key"),
    ],
)
def test_a_wrong_exit_is_refused_naming_the_field(tmp_path: Path, change: str, where: str) -> None:
    key = change.split(" ")[0]
    lines = [line for line in GOOD if not line.startswith(f"{key} ")] + [change]
    with pytest.raises(GatewayConfigError, match=re.escape(where)):
        config(tmp_path, "\n".join(lines))


def test_an_exit_alarm_must_be_a_relay(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match=re.escape("exits[0].alarm: unknown relay 'exit-alarm'")):
        config(tmp_path, "\n".join(GOOD), relay_kind="lock")
