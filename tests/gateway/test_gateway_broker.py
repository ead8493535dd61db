"""The gateway against a real Mosquitto: reads from a PTY reach ingest's subscription in order, survive a
broker outage without loss, and commands drive a display and come back acknowledged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import Ack, Command, ReadsBatch, Status, decode, encode
from contract.topics import gateway_topic
from gateway.config import load_config
from gateway.errors import GatewayConfigError
from gateway.main import run
from gateway.service import Gateway
from readers import display
from readers.uhf import encode_tag_notice, multi_poll
from silentcommerce.mqtt import MqttLink
from simulators.links import PtyPair
from tests.fixtures.broker import RunningBroker
from tests.gateway.conftest import Subscriber, gateway_toml, read_master

pytestmark = pytest.mark.integration

EPCS = [f"3074257BF7194E40000{n:05X}" for n in range(1, 40)]


def uhf_reader(pair: PtyPair) -> str:
    return f"""
[[readers]]
name = "lane-1-uhf"
url = "{pair.path}"
protocol = "uhf-m100"
antennas = {{ "1" = "lane-1" }}
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Callable[[Path], Gateway]]:
    started: list[Gateway] = []

    def start(config_path: Path) -> Gateway:
        gateway = Gateway(load_config(config_path, environ={}))
        gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop(drain_timeout=0.5)


def batches(subscriber: Subscriber) -> list[ReadsBatch]:
    return [decode(ReadsBatch, m.payload) for m in subscriber.received("/reads")]


def epcs_seen(subscriber: Subscriber) -> set[str]:
    return {r.epc for b in batches(subscriber) for r in b.reads if r.epc and r.event == "seen"}


def test_reads_from_a_pty_arrive_as_batches_with_contiguous_seq(
    broker: RunningBroker,
    ingest_subscriber: Subscriber,
    pty: Callable[[], PtyPair],
    tmp_path: Path,
    running: Callable[[Path], Gateway],
) -> None:
    reader = pty()
    gateway = running(gateway_toml(broker, tmp_path, readers=uhf_reader(reader)))
    # The gateway starts the module's inventory as soon as it opens the port.
    assert read_master(reader, lambda data: multi_poll() in data).startswith(multi_poll())

    corrupt = bytearray(encode_tag_notice(EPCS[30], rssi=-55))
    corrupt[-2] ^= 0xFF  # wrong checksum: counted and dropped, and costs no other read
    os.write(reader.master, bytes(corrupt))
    for epc in EPCS[:3]:
        os.write(reader.master, encode_tag_notice(epc, rssi=-55) * 3)

    ingest_subscriber.wait_for(lambda: epcs_seen(ingest_subscriber) >= set(EPCS[:3]), what="three EPCs")
    got = batches(ingest_subscriber)
    assert [b.seq for b in got] == list(range(1, len(got) + 1))
    first = next(r for b in got for r in b.reads if r.epc == EPCS[0])
    assert (first.event, first.reader, first.antenna, first.zone, first.rssi) == (
        "seen",
        "lane-1-uhf",
        1,
        "lane-1",
        -55,
    )
    assert all(b.store == "teststore" and b.gateway == "gw1" and not b.historical for b in got)

    # Silence: every tag leaves, with its total count.
    ingest_subscriber.wait_for(
        lambda: (
            {r.epc for b in batches(ingest_subscriber) for r in b.reads if r.event == "left"} >= set(EPCS[:3])
        ),
        what="left reads",
    )
    lefts = {r.epc: r.count for b in batches(ingest_subscriber) for r in b.reads if r.event == "left"}
    assert all(lefts[epc] == 3 for epc in EPCS[:3])
    assert EPCS[30] not in epcs_seen(ingest_subscriber)
    assert gateway.counters()["readers"]["lane-1-uhf"]["bad_frames"] == 1  # type: ignore[index]

    status = [decode(Status, m.payload) for m in ingest_subscriber.received("/status")]
    assert status and status[-1].state == "online"
    assert [d.name for d in status[-1].devices] == ["lane-1-uhf"]


def test_broker_outage_loses_nothing(
    broker: RunningBroker,
    ingest_subscriber: Subscriber,
    pty: Callable[[], PtyPair],
    tmp_path: Path,
    running: Callable[[Path], Gateway],
) -> None:
    reader = pty()
    gateway = running(gateway_toml(broker, tmp_path, readers=uhf_reader(reader), report_interval_s=0.2))
    read_master(reader, lambda data: multi_poll() in data)
    os.write(reader.master, encode_tag_notice(EPCS[0], rssi=-50))
    ingest_subscriber.wait_for(lambda: EPCS[0] in epcs_seen(ingest_subscriber), what="the first read")

    broker.broker.stop()  # a clean stop: the broker keeps the sessions it persisted
    outage = EPCS[1:21]
    for epc in outage:
        os.write(reader.master, encode_tag_notice(epc, rssi=-60))
        time.sleep(0.03)
    deadline = time.monotonic() + 10
    while gateway.outbox.depth() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.outbox.depth() >= 3, "reads made during the outage wait in the outbox"

    broker.broker.start()
    ingest_subscriber.wait_for(
        lambda: epcs_seen(ingest_subscriber) >= set(outage), timeout=30, what="outage reads"
    )
    deadline = time.monotonic() + 10
    while gateway.outbox.depth() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.outbox.depth() == 0
    seqs = sorted({b.seq for b in batches(ingest_subscriber)})
    assert seqs == list(range(1, seqs[-1] + 1)), "no seq is missing"
    assert gateway.publisher.stats.refused == 0


def test_display_command_shows_text_and_is_acknowledged(
    broker: RunningBroker,
    ingest_subscriber: Subscriber,
    pty: Callable[[], PtyPair],
    tmp_path: Path,
    running: Callable[[Path], Gateway],
) -> None:
    screen = pty()
    displays = f"""
[[displays]]
name = "lane-1-display"
url = "{screen.path}"
width = 20
"""
    running(gateway_toml(broker, tmp_path, displays=displays))
    ingest_subscriber.wait_for(lambda: bool(ingest_subscriber.received("/status")), what="the birth message")
    sender = MqttLink(broker.settings("ingest", "test-commander"))
    sender.start()
    assert sender.wait_connected(10)
    try:
        now = datetime.now(UTC)
        command = Command(
            id="cmd-1",
            store="teststore",
            gateway="gw1",
            action="display",
            target="lane-1-display",
            text=["Total 3.48 EUR", "Thank you, Ada"],
            issued_at=now,
        )
        sender.publish(gateway_topic("teststore", "gw1", "cmd"), encode(command)).wait(5)
        expected = display.show(["Total 3.48 EUR", "Thank you, Ada"], 20)
        assert read_master(screen, lambda data: expected in data) == expected

        unknown = command.model_copy(update={"id": "cmd-2", "target": "lane-9-display"})
        sender.publish(gateway_topic("teststore", "gw1", "cmd"), encode(unknown)).wait(5)
        deep = b"[" * 100_000 + b"]" * 100_000  # no id to answer; it must not stop the command thread either
        sender.publish(gateway_topic("teststore", "gw1", "cmd"), deep).wait(5)
        broken = json.dumps({"id": "cmd-3", "action": "explode"}).encode()
        sender.publish(gateway_topic("teststore", "gw1", "cmd"), broken).wait(5)

        def acks() -> dict[str, Ack]:
            return {a.id: a for a in (decode(Ack, m.payload) for m in ingest_subscriber.received("/ack"))}

        ingest_subscriber.wait_for(lambda: {"cmd-1", "cmd-2", "cmd-3"} <= set(acks()), what="three acks")
        got = acks()
        assert got["cmd-1"].ok and got["cmd-1"].error == ""
        assert not got["cmd-2"].ok and "unknown target 'lane-9-display'" in got["cmd-2"].error
        assert not got["cmd-3"].ok and "invalid command payload" in got["cmd-3"].error
    finally:
        sender.stop()


def test_reads_kept_across_a_gateway_restart_go_out_after_it(
    broker: RunningBroker, ingest_subscriber: Subscriber, pty: Callable[[], PtyPair], tmp_path: Path
) -> None:
    reader = pty()
    config = load_config(
        gateway_toml(broker, tmp_path, readers=uhf_reader(reader), historical_after_s=0.5), environ={}
    )
    broker.broker.stop()
    first = Gateway(config)
    first.start()
    read_master(reader, lambda data: multi_poll() in data)
    os.write(reader.master, b"".join(encode_tag_notice(epc, rssi=-58) for epc in EPCS[:5]))
    deadline = time.monotonic() + 10
    while first.stats.raw_reads < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.stop(drain_timeout=0.2)  # the broker is down: everything stays in the outbox

    time.sleep(0.6)  # the kept batches are now older than historical_after_s
    broker.broker.start()
    second = Gateway(config)
    assert second.outbox.depth() >= 1
    second.start()
    try:
        ingest_subscriber.wait_for(
            lambda: epcs_seen(ingest_subscriber) >= set(EPCS[:5]), timeout=30, what="kept reads"
        )
        got = batches(ingest_subscriber)
        seqs = sorted(b.seq for b in got)
        assert seqs == list(range(1, len(seqs) + 1))
        assert all(b.historical for b in got), "late batches are marked historical: no live alarms from them"
    finally:
        second.stop(drain_timeout=0.5)
    offline = decode(Status, ingest_subscriber.received("/status")[-1].payload)
    assert offline.state == "offline", "a clean stop leaves a retained 'offline' status"


def test_run_stops_on_sigterm_and_leaves_offline(
    broker: RunningBroker, ingest_subscriber: Subscriber, tmp_path: Path
) -> None:
    config = gateway_toml(broker, tmp_path)
    code = f"from pathlib import Path; from gateway.main import run; run(Path({str(config)!r}))"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ingest_subscriber.wait_for(
            lambda: any(
                decode(Status, m.payload).state == "online" for m in ingest_subscriber.received("/status")
            ),
            what="the birth message",
        )
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode()
    ingest_subscriber.wait_for(
        lambda: decode(Status, ingest_subscriber.received("/status")[-1].payload).state == "offline",
        what="the offline status",
    )


def test_run_refuses_a_bad_config_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('[gateway]\nstore = "demo"\n')
    with pytest.raises(GatewayConfigError, match=r"gateway\.id: missing"):
        run(path)
