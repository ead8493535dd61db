"""Gateway fixtures: raw PTY pairs for readers and displays, a gateway config on the test broker, and a
subscriber that sees what ingest would see."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from contract.topics import GatewayKind, gateway_filter
from silentcommerce.mqtt import InboundMessage, MqttLink
from simulators.hub import DeviceHub
from simulators.links import PtyPair
from simulators.modbus_device import ModbusIoDevice
from tests.fixtures.broker import RunningBroker


@pytest.fixture
def pty() -> Iterator[Callable[[], PtyPair]]:
    """Open raw PTY pairs: the test holds the master, the gateway opens ``.path``."""
    opened: list[PtyPair] = []

    def make() -> PtyPair:
        pair = PtyPair.open()
        opened.append(pair)
        return pair

    yield make
    for pair in opened:
        pair.close()


def read_master(pair: PtyPair, until: Callable[[bytes], bool], timeout: float = 10.0) -> bytes:
    """Collect what the gateway wrote to the PTY until ``until(data)`` holds."""
    data = b""
    deadline = time.monotonic() + timeout
    while not until(data):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the gateway wrote only {data!r} within {timeout} s")
        ready, _, _ = select.select([pair.master], [], [], min(left, 0.1))
        if ready:
            with contextlib.suppress(BlockingIOError):
                data += os.read(pair.master, 4096)
    return data


@dataclass
class Subscriber:
    """An MQTT client logged in as one of the broker's users, recording what it receives."""

    link: MqttLink
    messages: list[InboundMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, suffix: str) -> list[InboundMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0, what: str = "messages") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {[m.topic for m in self.messages]}")
            time.sleep(0.02)


def subscribed(broker: RunningBroker, client_id: str, kinds: tuple[GatewayKind, ...]) -> Iterator[Subscriber]:
    """Logged in as ``ingest`` with a persistent session, subscribed to ``kinds`` of every gateway."""
    holder: list[Subscriber] = []

    def on_message(message: InboundMessage) -> None:
        with holder[0].lock:
            holder[0].messages.append(message)

    link = MqttLink(
        broker.settings("ingest", client_id, session_expiry_s=600),
        subscriptions=[(gateway_filter(kind), 1) for kind in kinds],
        on_message=on_message,
    )
    holder.append(Subscriber(link))
    link.start()
    assert link.wait_connected(10), f"the subscriber {client_id} could not connect"
    time.sleep(0.2)  # let the SUBACK come back before anything is published
    yield holder[0]
    link.stop()


@pytest.fixture
def ingest_subscriber(broker: RunningBroker) -> Iterator[Subscriber]:
    """Ingest's view of reads, sensors, status and ack."""
    yield from subscribed(broker, "test-ingest", ("reads", "sensors", "status", "ack"))


@pytest.fixture
def io_board() -> Iterator[tuple[ModbusIoDevice, str]]:
    """The demo I/O board served on one end of a null modem; yields the device and the gateway's end."""
    hub = DeviceHub()
    hub.start()
    modem = hub.add_null_modem()
    device = ModbusIoDevice("io", celsius=3.0)
    device.serve(modem.device_path)
    yield device, modem.host_path
    device.stop()
    hub.stop()


def wait(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def gateway_toml(
    broker: RunningBroker,
    workdir: Path,
    *,
    readers: str = "",
    displays: str = "",
    buses: str = "",
    extra: str = "",
    report_interval_s: float = 1.0,
    leave_after_s: float = 1.5,
    historical_after_s: float = 30.0,
    gateway: str = "gw1",
    port: int | None = None,
    keepalive_s: int = 30,
    max_reads: int = 500,
) -> Path:
    """Gateway ``gateway`` of the test store on the test broker (or on ``port``, e.g. a proxy in front of it)."""
    password_file = workdir / f"{gateway}.password"
    password_file.write_text(broker.credentials.password(f"gw.teststore.{gateway}"))
    path = workdir / f"{gateway}.toml"
    path.write_text(
        f"""
[gateway]
store = "teststore"
id = "{gateway}"
outbox = "{gateway}-outbox.db"
stats_interval_s = 5.0
historical_after_s = {historical_after_s}

[mqtt]
host = "127.0.0.1"
port = {port or broker.port}
password_file = "{gateway}.password"
session_expiry_s = 600
keepalive_s = {keepalive_s}

[smoothing]
report_interval_s = {report_interval_s}
leave_after_s = {leave_after_s}

[batching]
max_reads = {max_reads}
max_delay_s = 0.05
{readers}
{buses}
{displays}
{extra}
"""
    )
    return path
