"""10,000 hostile payloads through a real Mosquitto into a real ingest, and into the dashboard's live hub.

Every hostile payload becomes one ``dead_letters`` row whose reason names the problem, while the good
batches published between them are all stored; the hub rejects and counts the same payloads and keeps
feeding its clients. The broker's 2 MiB packet limit is refused to the publisher, who can carry on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contract.payloads import MAX_PAYLOAD_BYTES, BusinessEvent, encode
from contract.topics import event_topic, gateway_topic
from dashboard.hub import LiveEvent, LiveHub
from dashboard.livestate import TagIdentity
from ingest.db import schema as t
from ingest.db.records import MAX_DEAD_LETTER_BYTES
from silentcommerce.broker import DASHBOARD_USER, INGEST_USER
from silentcommerce.mqtt import PACKET_TOO_LARGE, Delivery, MqttLink, PublishRefused
from tests.fixtures.broker import STORE, RunningBroker
from tests.fixtures.servers import SOAK
from tests.fuzz.hostile import Hostile, hostile_payloads
from tests.ingest.running import running_ingest
from tests.ingest.test_service import MILK_EPC, STORE_FILE, Gateway, batches_of, eventually, item, read

pytestmark = pytest.mark.integration

HOSTILE = 10_000 if SOAK else 1_000
"""The full 10,000 take minutes (ingest stores each dead letter in its own transaction); CI runs 1,000,
which still hold every kind of hostile payload at least once, and ``make soak`` the 10,000."""
GOOD_EVERY = HOSTILE // 20
WAIT_S = 30 + HOSTILE * 0.1  # SQLite stores about 20 dead letters a second on a busy machine
BROKER_MAX_PACKET = 2 * 1024 * 1024  # mosquitto.conf: max_packet_size
INGEST_KINDS = ("reads", "sensors", "status", "ack", "alarms")


def publish_all(gateway: Gateway, hostile: list[Hostile], good_zones: list[str]) -> list[Delivery]:
    """The hostile payloads in order, with a good reads batch (seq 1, 2, …) after every GOOD_EVERY of them;
    the milk moves to the next of ``good_zones`` with each."""
    deliveries = []
    start = datetime.now(UTC)
    for index, bad in enumerate(hostile, 1):
        deliveries.append(gateway.link.publish(gateway_topic(STORE, gateway.name, bad.kind), bad.payload))
        if index % GOOD_EVERY == 0:
            seq = index // GOOD_EVERY
            at = start + timedelta(seconds=seq)
            gateway.send([read(MILK_EPC, good_zones[seq % len(good_zones)], at)], seq=seq, at=at)
    return deliveries


@pytest.mark.timeout(WAIT_S + 120)
def test_hostile_payloads_are_dead_lettered_and_the_good_batches_still_count(
    broker: RunningBroker, gw1: Gateway, tmp_path: Path, db_url: str
) -> None:
    hostile = hostile_payloads(HOSTILE, INGEST_KINDS, STORE, "gw1", "gw2")
    zones = ["shelf-dairy", "lane-1"]
    good_batches = HOSTILE // GOOD_EVERY
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-fuzz", db_url) as ingest:
        for delivery in publish_all(gw1, hostile, zones):
            delivery.wait(60)

        def everything_handled() -> bool:
            return ingest.stats.dead_letters == HOSTILE and len(batches_of(ingest)) == good_batches

        assert eventually(everything_handled, timeout=WAIT_S), (ingest.stats, len(batches_of(ingest)))
        with ingest.db.connect() as conn:
            letters = conn.execute(select(t.dead_letters).order_by(t.dead_letters.c.id)).all()
            assert conn.execute(select(func.count()).select_from(t.dead_letters)).scalar() == HOSTILE
    assert batches_of(ingest) == list(range(1, good_batches + 1))
    assert item(ingest, MILK_EPC).last_zone == zones[good_batches % len(zones)]  # the last good batch's zone
    expected = {(gateway_topic(STORE, "gw1", bad.kind), bad.payload[:MAX_DEAD_LETTER_BYTES], len(bad.payload)):
                bad.names for bad in hostile}
    for letter in letters:
        names = expected[(letter.topic, letter.payload, letter.payload_size)]
        assert names in letter.reason, (letter.reason, letter.payload[:200])
    assert max(len(letter.reason) for letter in letters) < 1000  # a 500 kB unknown key is not stored as the reason
    biggest = max(letters, key=lambda letter: letter.payload_size)
    assert biggest.payload_size > MAX_PAYLOAD_BYTES and len(biggest.payload) == MAX_DEAD_LETTER_BYTES


def test_a_body_over_the_brokers_packet_limit_is_refused_to_the_publisher_who_carries_on(gw1: Gateway) -> None:
    topic = gateway_topic(STORE, "gw1", "reads")
    with pytest.raises(PublishRefused) as refused:
        gw1.link.publish(topic, b"x" * BROKER_MAX_PACKET).wait(10)
    assert refused.value.code == PACKET_TOO_LARGE and "maximum packet size of 2097152" in str(refused.value)
    gw1.link.publish(topic, b"x" * (BROKER_MAX_PACKET - 1024)).wait(10)  # just under: the broker takes it
    gw1.link.publish(topic, b"{}").wait(10)
    assert gw1.link.stats.disconnects == 0  # the connection was never dropped for it


def test_the_live_hub_rejects_hostile_messages_and_keeps_feeding_its_clients(
    broker: RunningBroker, gw1: Gateway
) -> None:
    """The dashboard follows the same gateway topics and the events: bad ones are counted, good ones shown."""
    hostile = hostile_payloads(2_000, ("reads", "sensors", "status"), STORE, "gw1", "gw2")
    bad_events = hostile_payloads(500, ("events",), STORE, "gw1", "gw2")
    good = [BusinessEvent(store=STORE, type="alert", at=datetime.now(UTC), data={"id": n}) for n in range(3)]

    async def scenario() -> None:
        hub = LiveHub(broker.settings(DASHBOARD_USER, "dashboard-fuzz"), lambda tags: {t: TagIdentity(t) for t in tags})
        await hub.start()
        client = hub.subscribe()
        feed = client.events()
        ingest = MqttLink(broker.settings(INGEST_USER, "ingest-events-fuzz"))
        ingest.start()
        try:
            assert await asyncio.to_thread(ingest.wait_connected, 10)
            assert await asyncio.to_thread(lambda: eventually(lambda: hub.connected))
            await asyncio.sleep(0.2)  # the hub's SUBACKs
            deliveries = [gw1.link.publish(gateway_topic(STORE, "gw1", bad.kind), bad.payload) for bad in hostile]
            for n, event in enumerate(good):
                part = bad_events[n * len(bad_events) // len(good): (n + 1) * len(bad_events) // len(good)]
                deliveries += [ingest.publish(event_topic(STORE, "alert"), bad.payload) for bad in part]
                deliveries.append(ingest.publish(event_topic(STORE, "alert"), encode(event)))
            for delivery in deliveries:
                await asyncio.to_thread(delivery.wait, 60)
            total = len(hostile) + len(bad_events) + len(good)
            for _ in range(3000):
                if hub.stats.received + hub.stats.inbox_dropped >= total:
                    break
                await asyncio.sleep(0.05)
            shown: list[LiveEvent] = []  # the feed also carries a tick every second
            while sum(event.kind == "alert" for event in shown) < len(good):
                shown.append(await asyncio.wait_for(anext(feed), 10))
        finally:
            ingest.stop()
            await hub.stop()
        assert hub.stats.inbox_dropped == 0
        assert hub.stats.received == total
        cleared = sum(bad.kind == "status" and not bad.payload for bad in hostile)  # clears a retained status
        assert hub.stats.rejected == len(hostile) + len(bad_events) - cleared
        assert [event.data["id"] for event in shown if event.kind == "alert"] == [0, 1, 2]

    asyncio.run(scenario())
