"""The gateway against a real pymodbus RTU server on a null modem: sensor samples reach ingest, and
alarm/lock/open commands switch the coils and are acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import Ack, Command, SensorsBatch, decode, encode
from contract.topics import gateway_topic
from gateway.config import load_config
from gateway.service import Gateway
from readers.modbus import GATE_COIL
from silentcommerce.mqtt import MqttLink
from simulators.modbus_device import ModbusIoDevice
from tests.fixtures.broker import RunningBroker
from tests.gateway.conftest import Subscriber, gateway_toml, wait

pytestmark = pytest.mark.integration


def test_sensors_and_coils(
    broker: RunningBroker, ingest_subscriber: Subscriber, tmp_path: Path, io_board: tuple[ModbusIoDevice, str]
) -> None:
    device, path = io_board
    buses = f"""
[[buses]]
name = "io"
url = "{path}"
baudrate = 9600

[[sensors]]
name = "cooler-1-temp"
kind = "temperature"
bus = "io"
address = 0
scale = 0.1
zone = "cooler-1"
interval_s = 0.2

[[sensors]]
name = "cooler-1-door"
kind = "door"
bus = "io"
address = 0
zone = "cooler-1"
interval_s = 0.2

[[actuators]]
name = "exit-alarm"
kind = "relay"
bus = "io"
address = 0

[[actuators]]
name = "cooler-1-lock"
kind = "lock"
bus = "io"
address = 1

[[actuators]]
name = "fast-lane-gate"
kind = "relay"
bus = "io"
address = 2
"""
    gateway = Gateway(load_config(gateway_toml(broker, tmp_path, buses=buses), environ={}))
    gateway.start()
    sender = MqttLink(broker.settings("ingest", "test-commander"))
    try:

        def samples() -> list[tuple[str, float]]:
            return [
                (s.sensor, s.value)
                for m in ingest_subscriber.received("/sensors")
                for s in decode(SensorsBatch, m.payload).samples
            ]

        wait(
            lambda: ("cooler-1-temp", 3.0) in samples() and ("cooler-1-door", 0.0) in samples(),
            what="samples",
        )
        device.set_temperature(7.5)
        device.set_door(True)
        wait(
            lambda: ("cooler-1-temp", 7.5) in samples() and ("cooler-1-door", 1.0) in samples(),
            what="changes",
        )
        first = decode(SensorsBatch, ingest_subscriber.received("/sensors")[0].payload).samples
        assert {(s.sensor, s.kind, s.unit, s.zone) for s in first} == {
            ("cooler-1-temp", "temperature", "°C", "cooler-1"),
            ("cooler-1-door", "door", "", "cooler-1"),
        }

        sender.start()
        assert sender.wait_connected(10)
        topic = gateway_topic("teststore", "gw1", "cmd")
        now = datetime.now(UTC)
        alarm = Command(
            id="alarm-1",
            store="teststore",
            gateway="gw1",
            action="alarm",
            target="exit-alarm",
            duration_s=0.6,
            issued_at=now,
        )
        sender.publish(topic, encode(alarm)).wait(5)
        wait(lambda: device.alarm, what="the alarm relay on")
        wait(lambda: not device.alarm, timeout=5, what="the alarm relay off after its duration")
        lock = alarm.model_copy(update={"id": "lock-1", "action": "lock", "target": "cooler-1-lock"})
        sender.publish(topic, encode(lock)).wait(5)
        wait(lambda: device.lock, what="the lock coil on")
        gate = alarm.model_copy(update={"id": "open-1", "action": "open", "target": "fast-lane-gate"})
        sender.publish(topic, encode(gate)).wait(5)
        wait(lambda: device.coil(GATE_COIL), what="the fast lane's gate open")
        wait(lambda: not device.coil(GATE_COIL), timeout=5, what="the gate closed again after its duration")

        def acks() -> dict[str, Ack]:
            return {a.id: a for a in (decode(Ack, m.payload) for m in ingest_subscriber.received("/ack"))}

        wait(lambda: {"alarm-1", "lock-1", "open-1"} <= set(acks()), what="acks")
        assert acks()["alarm-1"].ok and acks()["lock-1"].ok and acks()["open-1"].ok
        assert device.coil_writes[:2] == [(0, True), (0, False)]
        seqs = sorted(decode(SensorsBatch, m.payload).seq for m in ingest_subscriber.received("/sensors"))
        seqs = sorted(seqs + [a.seq for a in acks().values() if a.seq is not None])
        assert seqs == list(range(1, len(seqs) + 1)), "sensors and acks share the outbox's seq"
    finally:
        sender.stop()
        gateway.stop(drain_timeout=0.5)
