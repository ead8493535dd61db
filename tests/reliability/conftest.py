"""Reliability fixtures: a real gateway whose outbox already holds (and keeps) what it published, and a
second client with the gateway's credentials that delivers those messages as a faulty network would."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.config import load_config
from gateway.outbox import Outbox, OutboxEntry
from gateway.service import Gateway
from ingest.db import schema as t
from ingest.service import IngestService
from silentcommerce.broker import gateway_user
from silentcommerce.mqtt import MqttLink
from tests.fixtures.broker import STORE, RunningBroker
from tests.gateway.conftest import gateway_toml
from tests.ingest.conftest import gw1  # noqa: F401  (the ingest tests' gateway side, shared)


class Storm:
    """Publishes outbox entries as ``gw1`` (its own client id) like a network that redelivers: every entry
    goes out 2 or 3 times; the first copies keep the gateway's order (as the broker delivered them the first
    time), the repeats land at random later places, in the same phase or a later one."""

    def __init__(self, broker: RunningBroker, seed: int) -> None:
        self.random = random.Random(seed)
        self.copies = 0
        self.link = MqttLink(broker.settings(gateway_user(STORE, "gw1"), "gw1-storm"))
        self.link.start()
        assert self.link.wait_connected(10)

    def plan(self, phases: list[list[OutboxEntry]]) -> list[list[OutboxEntry]]:
        """Each phase's messages in delivery order, repeats included."""
        streams = [list(phase) for phase in phases]
        for number, phase in enumerate(phases):
            for entry in phase:
                for _ in range(self.random.randint(1, 2)):
                    stream = streams[self.random.randint(number, len(phases) - 1)]
                    after = stream.index(entry) + 1 if entry in stream else 0
                    stream.insert(self.random.randint(after, len(stream)), entry)
        return streams

    def deliver(self, stream: list[OutboxEntry]) -> None:
        for entry in stream:
            self.link.publish(entry.topic, entry.payload).wait(10)
        self.copies += len(stream)


@pytest.fixture
def storm(broker: RunningBroker) -> Iterator[Storm]:
    storm = Storm(broker, seed=5)
    yield storm
    storm.link.stop()


@pytest.fixture
def gateway_with(broker: RunningBroker, tmp_path: Path) -> Iterator[Callable[[Callable[[Outbox], None]], Gateway]]:
    """Start gateway gw1 (no devices) on an outbox that ``fill`` made; stopped at the end."""
    started: list[Gateway] = []

    def start(fill: Callable[[Outbox], None]) -> Gateway:
        config = load_config(gateway_toml(broker, tmp_path), environ={})
        outbox = Outbox(config.gateway.outbox, STORE, "gw1")
        fill(outbox)
        outbox.close()
        gateway = Gateway(config)
        gateway.start()
        started.append(gateway)
        assert gateway.link.wait_connected(10)
        return gateway

    yield start
    for gateway in started:
        gateway.stop(drain_timeout=0.5)


def stored_seqs(service: IngestService, gateway: str = "gw1") -> list[int]:
    with service.db.connect() as conn:
        return list(conn.execute(select(t.gateway_batches.c.seq).where(t.gateway_batches.c.gateway == gateway)
                                 .order_by(t.gateway_batches.c.seq)).scalars())
