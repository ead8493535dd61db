"""The exit alarm decided on the gateway, end to end with PTY readers, a Modbus I/O board and a real broker:
the relay sounds within 0.5 s with the broker stopped, the report reaches ingest once the broker is back, an
allowed EPC passes silently, and the allow list arrives through the persistent session and survives restarts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import Ack, Command, GateAlarm, decode, encode
from contract.topics import gateway_topic
from gateway.config import load_config
from gateway.service import Gateway
from readers.uhf import encode_tag_notice
from silentcommerce.mqtt import MqttLink
from simulators.links import PtyPair
from simulators.modbus_device import ModbusIoDevice
from tests.fixtures.broker import RunningBroker
from tests.gateway.conftest import Subscriber, gateway_toml, subscribed, wait

pytestmark = pytest.mark.integration

UNPAID = "3074257BF7194E4000001A86"
PAID = "3074257BF7194E4000001A87"
LATER = "3074257BF7194E4000001A88"


@pytest.fixture
def alarm_subscriber(broker: RunningBroker) -> Iterator[Subscriber]:
    """Ingest's view: a persistent session on ``alarms`` and ``ack``."""
    yield from subscribed(broker, "test-ingest-alarms", ("alarms", "ack"))


def exit_config(broker: RunningBroker, tmp_path: Path, inner: PtyPair, outer: PtyPair, bus: str) -> Path:
    readers = f"""
[[readers]]
name = "exit-inner-uhf"
url = "{inner.path}"
protocol = "uhf-m100"
antennas = {{ "1" = "exit-inner" }}

[[readers]]
name = "exit-outer-uhf"
url = "{outer.path}"
protocol = "uhf-m100"
antennas = {{ "1" = "exit-outer" }}
"""
    buses = f"""
[[buses]]
name = "io"
url = "{bus}"
baudrate = 9600

[[actuators]]
name = "exit-alarm"
kind = "relay"
bus = "io"
address = 0
"""
    extra = """
[[exits]]
name = "exit"
inner = "exit-inner"
outer = "exit-outer"
alarm = "exit-alarm"
alarm_duration_s = 0.5
window_s = 3.0
min_reads = 2
min_rssi = -70.0
"""
    return gateway_toml(broker, tmp_path, readers=readers, buses=buses, extra=extra)


def walk_out(inner: PtyPair, outer: PtyPair, epc: str) -> float:
    """Two reads inside the door, then two outside; returns when the outer reads were written (monotonic)."""
    os.write(inner.master, encode_tag_notice(epc, rssi=-55) * 2)
    time.sleep(0.15)
    written = time.monotonic()
    os.write(outer.master, encode_tag_notice(epc, rssi=-57) * 2)
    return written


def alarm_on_within(device: ModbusIoDevice, since: float, limit: float = 0.5) -> float:
    wait(lambda: device.alarm, timeout=5, what="the exit alarm relay on")
    return time.monotonic() - since


def command(action: str, tags: list[str], command_id: str) -> Command:
    return Command(
        id=command_id,
        store="teststore",
        gateway="gw1",
        action=action,  # type: ignore[arg-type]
        target="allowlist",
        tags=tags,
        issued_at=datetime.now(UTC),
    )


def acks(subscriber: Subscriber) -> dict[str, Ack]:
    return {a.id: a for a in (decode(Ack, m.payload) for m in subscriber.received("/ack"))}


def gate_alarms(subscriber: Subscriber) -> list[GateAlarm]:
    return [decode(GateAlarm, m.payload) for m in subscriber.received("/alarms")]


def test_the_gateway_sounds_the_alarm_with_the_uplink_down_and_reports_it_later(
    broker: RunningBroker,
    alarm_subscriber: Subscriber,
    pty: Callable[[], PtyPair],
    tmp_path: Path,
    io_board: tuple[ModbusIoDevice, str],
) -> None:
    device, bus = io_board
    inner, outer = pty(), pty()
    gateway = Gateway(load_config(exit_config(broker, tmp_path, inner, outer, bus), environ={}))
    sender = MqttLink(broker.settings("ingest", "test-commander"))
    gateway.start()
    try:
        assert gateway.link.wait_connected(10)
        sender.start()
        assert sender.wait_connected(10)
        topic = gateway_topic("teststore", "gw1", "cmd")
        sender.publish(topic, encode(command("allow", [f"EPC:{PAID}"], "allow-1"))).wait(5)
        wait(lambda: "allow-1" in acks(alarm_subscriber), what="the allow command's ack")
        assert acks(alarm_subscriber)["allow-1"].ok
        sender.stop()

        broker.broker.stop()  # the uplink is down from here on
        wait(lambda: not gateway.link.connected, what="the gateway to notice the broker is gone")

        # an allowed EPC passes silently
        walk_out(inner, outer, PAID)
        time.sleep(0.6)
        assert not device.alarm and device.coil_writes == []

        # an unpaid EPC: the relay switches on at once, then off after alarm_duration_s
        elapsed = alarm_on_within(device, walk_out(inner, outer, UNPAID))
        assert elapsed < 0.5, f"the alarm took {elapsed * 1000:.0f} ms"
        wait(lambda: not device.alarm, timeout=5, what="the relay off after its duration")
        assert device.coil_writes == [(0, True), (0, False)]
        edge = gateway.counters()["edge"]
        assert isinstance(edge, dict) and edge["alarms"] == 1 and edge["allowed"] == 1
        assert edge["max_latency_ms"] < 500
        assert gate_alarms(alarm_subscriber) == []

        broker.broker.start()  # the report waited in the outbox
        wait(lambda: len(gate_alarms(alarm_subscriber)) == 1, timeout=30, what="the GateAlarm at ingest")
        [alarm] = gate_alarms(alarm_subscriber)
        assert (alarm.tag, alarm.gate, alarm.alarm, alarm.sounded) == (
            f"EPC:{UNPAID}",
            "exit",
            "exit-alarm",
            True,
        )
        assert alarm.latency_ms < 500
        assert alarm.zone_sequence == ["exit-inner", "exit-outer"]
        assert {e.zone for e in alarm.evidence} == {"exit-inner", "exit-outer"}
        assert {e.reader for e in alarm.evidence} == {"exit-inner-uhf", "exit-outer-uhf"}
        assert alarm.first_read_at <= alarm.decided_at
    finally:
        sender.stop()
        gateway.stop(drain_timeout=0.5)


def test_allow_commands_sent_while_the_gateway_is_offline_apply_after_reconnect_and_survive_restarts(
    broker: RunningBroker,
    alarm_subscriber: Subscriber,
    pty: Callable[[], PtyPair],
    tmp_path: Path,
    io_board: tuple[ModbusIoDevice, str],
) -> None:
    device, bus = io_board
    inner, outer = pty(), pty()
    config = load_config(exit_config(broker, tmp_path, inner, outer, bus), environ={})
    first = Gateway(config)
    first.start()
    assert first.link.wait_connected(10)
    time.sleep(0.3)  # the gateway's subscription to cmd is in its persistent session
    first.stop(drain_timeout=0.5)

    sender = MqttLink(broker.settings("ingest", "test-commander"))
    sender.start()
    assert sender.wait_connected(10)
    topic = gateway_topic("teststore", "gw1", "cmd")
    sender.publish(topic, encode(command("allow", [f"EPC:{PAID}", f"EPC:{LATER}"], "allow-2"))).wait(5)
    sender.publish(topic, encode(command("disallow", [f"EPC:{LATER}"], "disallow-2"))).wait(5)
    sender.stop()

    second = Gateway(config)
    second.start()
    try:
        wait(
            lambda: {"allow-2", "disallow-2"} <= set(acks(alarm_subscriber)), what="the queued commands' acks"
        )
        assert second.allowlist is not None and second.allowlist.snapshot() == {f"EPC:{PAID}"}
    finally:
        second.stop(drain_timeout=0.5)

    broker.broker.stop()  # no command can reach the restarted gateway: it knows the list from disk
    third = Gateway(config)
    third.start()
    try:
        walk_out(inner, outer, PAID)
        time.sleep(0.6)
        assert not device.alarm and device.coil_writes == []
        elapsed = alarm_on_within(device, walk_out(inner, outer, LATER))
        assert elapsed < 0.5, f"the alarm took {elapsed * 1000:.0f} ms"
    finally:
        third.stop(drain_timeout=0.2)
