"""Gateways without serial readers: the gateway's own delivery path, fed by a simulation instead of devices.

:class:`GatewayDelivery` is what a gateway does after its readers: the SQLite :class:`gateway.outbox.Outbox`
(``seq`` taken in the append's transaction), the :class:`gateway.publisher.Publisher` that releases an entry
on its PUBACK, and the MQTT link with the retained ``online`` birth and the ``offline`` will. The bench feeds
it ready-made batches; :class:`SimulatedGateway` also runs the gateway's smoother and batcher over raw reads,
so a simulated chain sends what real readers behind a real gateway would. Neither owns a thread of its own
beyond the publisher's and paho's: the caller ticks them, so dozens fit in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from contract import ReadsBatch, Status, TagRead, encode
from contract.topics import gateway_topic
from gateway.batching import Batcher
from gateway.config import BatchingSection, SmoothingSection
from gateway.outbox import Outbox
from gateway.publisher import Publisher
from gateway.smoothing import RawRead, Smoother
from silentcommerce.mqtt import MqttLink, MqttSettings, Will


class GatewayDelivery:
    """A gateway's delivery path without readers: outbox, publisher, MQTT link with its birth and will."""

    def __init__(self, store: str, name: str, outbox: Path, mqtt: MqttSettings) -> None:
        self.store = store
        self.name = name
        self.outbox = Outbox(outbox, store, name)
        self._status_topic = gateway_topic(store, name, "status")
        self.link = MqttLink(mqtt, will=Will(self._status_topic, self._status("offline")), on_connected=self._online)
        self.publisher = Publisher(self.outbox, self.link)
        self.appended = 0
        """Reads batches appended to the outbox (their ``seq`` run from 1 to this)."""

    def _status(self, state: str) -> bytes:
        return encode(Status(store=self.store, gateway=self.name, state="online" if state == "online" else "offline",
                             at=datetime.now(UTC)))

    def _online(self) -> None:
        self.announce()
        self.publisher.wake()

    def announce(self) -> None:
        """Publish the retained ``online`` status (again): a subscriber of a shared subscription is never
        sent retained messages, so an ingest worker that subscribed after the birth learns of it only so."""
        self.link.publish(self._status_topic, self._status("online"), retain=True)

    def start(self) -> None:
        self.link.start()
        self.publisher.start()

    def append_reads(self, build: Callable[[int], bytes]) -> None:
        """Append one reads batch; ``build`` makes its payload from the ``seq`` the outbox hands out."""
        self.outbox.append("reads", build)
        self.appended += 1
        self.publisher.wake()

    def stop(self, drain_timeout: float = 2.0) -> None:
        self.publisher.drain_and_join(drain_timeout)
        self.link.stop(final_publish=(self._status_topic, self._status("offline")))
        self.outbox.close()


class SimulatedGateway:
    """Raw reads → the gateway's :class:`Smoother` and :class:`Batcher` (its default settings) → delivery."""

    def __init__(self, delivery: GatewayDelivery, *, smoothing: SmoothingSection | None = None,
                 batching: BatchingSection | None = None) -> None:
        smoothing, batching = smoothing or SmoothingSection(), batching or BatchingSection()
        self.delivery = delivery
        self._smoother = Smoother(smoothing.report_interval_s, smoothing.leave_after_s)
        self._batcher: Batcher[TagRead] = Batcher(batching.max_reads, batching.max_delay_s)
        self.reads = 0
        """Smoothed reads appended (what ingest is sent)."""

    def tick(self, raw: Iterable[RawRead], now: datetime, mono: float) -> None:
        """One pipeline step: observe the raw reads, let presences report or leave, append due batches."""
        smoothed: list[TagRead] = []
        for read in raw:
            smoothed += self._smoother.observe(read, now)
        smoothed += self._smoother.tick(now)
        for batch in self._batcher.add(smoothed, mono):
            self._append(batch)

    def flush(self, now: datetime) -> None:
        """Everything present leaves, and the open batch goes out (the gateway's stop does the same)."""
        for batch in self._batcher.add(self._smoother.flush(now), 0.0):
            self._append(batch)
        self._append(self._batcher.drain())

    def _append(self, batch: list[TagRead]) -> None:
        if not batch:
            return
        store, gateway, sent_at = self.delivery.store, self.delivery.name, datetime.now(UTC)
        self.delivery.append_reads(
            lambda seq: encode(ReadsBatch(store=store, gateway=gateway, seq=seq, sent_at=sent_at, reads=batch)))
        self.reads += len(batch)
