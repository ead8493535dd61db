"""The broker started from the repository's mosquitto.conf refuses strangers and keeps gateways in their lane."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import ReadsBatch, encode
from contract.topics import event_topic, gateway_topic
from silentcommerce.mqtt import InboundMessage, MqttLink, MqttSettings, PublishRefused
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import MILK_EPC, STORE_FILE, batches_of, eventually, read

pytestmark = pytest.mark.integration


def connect(settings: MqttSettings, **kwargs: object) -> MqttLink:
    link = MqttLink(settings, **kwargs)  # type: ignore[arg-type]
    link.start()
    return link


def test_anonymous_and_wrong_password_are_refused(broker: RunningBroker) -> None:
    for settings in (
        MqttSettings(port=broker.port, client_id="anon"),
        MqttSettings(port=broker.port, username="ingest", password="wrong", client_id="intruder"),
        MqttSettings(port=broker.port, username="nobody", password="x", client_id="nobody"),
    ):
        link = connect(settings)
        try:
            assert not link.wait_connected(1.5), f"{settings.username!r} should have been refused"
        finally:
            link.stop()


def test_gateway_publishes_only_under_its_own_topics(broker: RunningBroker) -> None:
    received: list[InboundMessage] = []
    arrived = threading.Event()

    def collect(message: InboundMessage) -> None:
        received.append(message)
        arrived.set()

    ingest = connect(broker.settings("ingest", "ingest-test"), subscriptions=[("sc/v1/+/+/reads", 1)],
                     on_message=collect)
    gw1 = connect(broker.gateway_settings("gw1"))
    try:
        assert ingest.wait_connected(5) and gw1.wait_connected(5)
        time.sleep(0.2)  # let the subscription settle
        gw1.publish(gateway_topic(STORE, "gw1", "reads"), b"own").wait(5)
        with pytest.raises(PublishRefused) as refused:
            gw1.publish(gateway_topic(STORE, "gw2", "reads"), b"spoofed").wait(5)
        assert refused.value.code == 0x87
        assert arrived.wait(5)
        time.sleep(0.3)
        assert [m.payload for m in received] == [b"own"]
    finally:
        gw1.stop()
        ingest.stop()


def test_gateway_reads_only_its_own_commands(broker: RunningBroker) -> None:
    got: list[str] = []
    gw1 = connect(broker.gateway_settings("gw1"), subscriptions=[("sc/v1/+/+/cmd", 1)],
                  on_message=lambda m: got.append(m.topic))
    ingest = connect(broker.settings("ingest", "ingest-cmd"))
    try:
        assert gw1.wait_connected(5) and ingest.wait_connected(5)
        time.sleep(0.2)
        ingest.publish(gateway_topic(STORE, "gw2", "cmd"), b"{}").wait(5)
        ingest.publish(gateway_topic(STORE, "gw1", "cmd"), b"{}").wait(5)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert got == [gateway_topic(STORE, "gw1", "cmd")]
    finally:
        gw1.stop()
        ingest.stop()


def test_persistent_session_keeps_messages_while_consumer_is_away(broker: RunningBroker) -> None:
    """A consumer with a session expiry gets, on return, what was published while it was gone."""
    got: list[bytes] = []
    settings = broker.settings("ingest", "ingest-persistent", session_expiry_s=600)
    consumer = connect(settings, subscriptions=[("sc/v1/+/+/reads", 1)], on_message=lambda m: got.append(m.payload))
    assert consumer.wait_connected(5)
    time.sleep(0.2)
    consumer.stop()
    gw1 = connect(broker.gateway_settings("gw1"))
    try:
        assert gw1.wait_connected(5)
        for i in range(50):
            gw1.publish(gateway_topic(STORE, "gw1", "reads"), str(i).encode()).wait(5)
    finally:
        gw1.stop()
    consumer = connect(settings, subscriptions=[("sc/v1/+/+/reads", 1)], on_message=lambda m: got.append(m.payload))
    try:
        deadline = time.monotonic() + 5
        while len(got) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == [str(i).encode() for i in range(50)]
    finally:
        consumer.stop()


def test_manual_ack_holds_back_redelivery_until_acknowledged(broker: RunningBroker) -> None:
    """A message received but not acknowledged comes again after a reconnect: nothing is lost in a crash."""
    got: list[InboundMessage] = []
    settings = broker.settings("ingest", "ingest-manual", session_expiry_s=600)
    consumer = connect(settings, subscriptions=[("sc/v1/+/+/reads", 1)], on_message=got.append, manual_ack=True)
    gw1 = connect(broker.gateway_settings("gw1"))
    try:
        assert consumer.wait_connected(5) and gw1.wait_connected(5)
        time.sleep(0.2)
        gw1.publish(gateway_topic(STORE, "gw1", "reads"), b"batch-1").wait(5)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.payload for m in got] == [b"batch-1"]
        consumer.stop()  # "crash" before acknowledging
        got.clear()
        consumer = connect(settings, subscriptions=[("sc/v1/+/+/reads", 1)], on_message=got.append, manual_ack=True)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.payload for m in got] == [b"batch-1"]
        consumer.ack(got[0])
    finally:
        gw1.stop()
        consumer.stop()


SPOOF_ATTEMPTS = 1000


def test_a_thousand_spoofing_attempts_are_refused_and_none_reach_ingest(broker: RunningBroker, tmp_path: Path) -> None:
    """gw1 publishes as gw2 on each of gw2's topics, on the business events and for another store, and
    subscribes to gw2's commands: each publish is refused with 0x87 where gw1 sees it, a real ingest sees none
    of them (only gw1's own batch afterwards), and none of gw2's commands reaches gw1."""
    targets = [gateway_topic(STORE, "gw2", kind) for kind in ("reads", "sensors", "status", "ack", "alarms")]
    targets += [event_topic(STORE, "transaction"), "sc/v1/otherstore/gw1/reads"]
    now = datetime.now(UTC)
    got: list[str] = []
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-spoof", f"sqlite:///{tmp_path / 'ingest.db'}") as ingest:
        gw1 = connect(broker.gateway_settings("gw1"), on_message=lambda m: got.append(m.topic), subscriptions=[
            (gateway_topic(STORE, "gw2", "cmd"), 1), ("sc/v1/+/+/cmd", 1), ("#", 1)])
        commander = connect(broker.settings("ingest", "ingest-commander"))
        try:
            assert gw1.wait_connected(5) and commander.wait_connected(5)
            spoofed = encode(ReadsBatch(store=STORE, gateway="gw2", seq=1, sent_at=now,
                                        reads=[read(MILK_EPC, "shelf-dairy", now)]))
            deliveries = [gw1.publish(targets[i % len(targets)], spoofed) for i in range(SPOOF_ATTEMPTS)]
            codes = []
            for delivery in deliveries:
                with pytest.raises(PublishRefused) as refused:
                    delivery.wait(10)
                codes.append(refused.value.code)
            assert codes == [0x87] * SPOOF_ATTEMPTS and gw1.stats.refused == SPOOF_ATTEMPTS

            # the broker handles a client's packets in order: its subscriptions were in place before these PUBACKs
            commander.publish(gateway_topic(STORE, "gw2", "cmd"), b"{}").wait(5)
            commander.publish(gateway_topic(STORE, "gw1", "cmd"), b"{}").wait(5)  # in order after gw2's
            gw1.publish(gateway_topic(STORE, "gw1", "reads"), encode(ReadsBatch(
                store=STORE, gateway="gw1", seq=1, sent_at=now, reads=[read(MILK_EPC, "shelf-dairy", now)]))).wait(5)
            eventually(lambda: batches_of(ingest, "gw1") or None)
            eventually(lambda: gateway_topic(STORE, "gw1", "cmd") in got or None)
            assert batches_of(ingest, "gw2") == [] and ingest.stats.batches == 1 and ingest.stats.dead_letters == 0
            assert [t for t in got if "/gw2/" in t] == []
        finally:
            commander.stop()
            gw1.stop()
