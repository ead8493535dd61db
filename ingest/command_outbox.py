"""Gateway commands are never lost by ingest: a command row is the outbox entry.

A command is written to ``commands`` in the transaction that decided it (``sent_at`` NULL). It is published
after the commit (:meth:`CommandOutbox.send`) and marked sent once the broker acknowledged it (PUBACK): the
gateway has a persistent session, so from then on the broker holds it for the gateway even while the
gateway is offline, and the gateway's ``ack`` goes through its own outbox. Every tick
(:meth:`CommandOutbox.tick`) publishes again each unsent row that is not waiting for its PUBACK: so a crash
between the commit and the publish, a publish the broker refused, or one that got no PUBACK within
``puback_timeout_s`` is sent again. The gateway carries out a command id once, so a repeat is harmless.

Commands that are worth nothing late (``alarm``, ``open``, ``display``, ``clear_display``), not waiting for a
PUBACK, and issued more than ``stale_s`` ago are answered as failed (``ack_error`` says so) instead of sounding a
siren (or opening the fast lane's gate) long after the fact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from contract.payloads import Command, encode
from contract.topics import gateway_topic
from ingest.db import delivery
from silentcommerce.mqtt import Delivery, MqttError, MqttLink

log = logging.getLogger(__name__)
T = TypeVar("T")


class Transact(Protocol):
    """Runs ``work`` in one database transaction (the service's, which retries while the database is down)."""

    def __call__(self, work: Callable[[Connection], T]) -> T: ...


PERISHABLE = ("alarm", "open", "display", "clear_display")


@dataclass
class CommandOutboxStats:
    published: int = 0
    republished: int = 0
    expired: int = 0
    failed: int = 0


@dataclass(slots=True)
class _Waiting:
    delivery: Delivery
    since: float


class CommandOutbox:
    """Publishes commands and records which ones the broker took; runs on the ingest worker thread."""

    def __init__(self, store: str, link: MqttLink, transact: Transact, *, batch: int = 200,
                 stale_s: float = 300.0, puback_timeout_s: float = 60.0) -> None:
        self.store = store
        self.stats = CommandOutboxStats()
        self._link = link
        self._transact = transact
        self._batch = batch
        self._stale = timedelta(seconds=stale_s)
        self._puback_timeout_s = puback_timeout_s
        self._waiting: dict[str, _Waiting] = {}

    def send(self, commands: list[Command]) -> None:
        """Publish commands just committed (their rows have no ``sent_at`` yet)."""
        for command in commands:
            self._publish(command)
            self.stats.published += 1

    def tick(self, now: datetime) -> None:
        """Record the PUBACKs that arrived, expire perishable commands, and publish the unsent rows again."""
        sent = self._collect()
        if sent:
            self._transact(lambda conn: delivery.mark_sent(conn, sent, now))
        unsent = [c for c in self._transact(lambda conn: delivery.unsent_commands(conn, self.store, self._batch))
                  if c.id not in self._waiting]
        stale = [c.id for c in unsent if c.action in PERISHABLE and c.issued_at < now - self._stale]
        if stale:
            self._transact(lambda conn: delivery.expire_unsent(conn, stale, now))
            self.stats.expired += len(stale)
            log.warning("%d perishable commands expired before they could be sent", len(stale))
        if not self._link.connected:
            return
        for command in unsent:
            if command.id not in stale:
                self._publish(command)
                self.stats.republished += 1

    @property
    def waiting(self) -> int:
        """Commands published and not yet acknowledged by the broker."""
        return len(self._waiting)

    def _publish(self, command: Command) -> None:
        topic = gateway_topic(command.store, command.gateway, "cmd")
        self._waiting[command.id] = _Waiting(self._link.publish(topic, encode(command), qos=1), time.monotonic())

    def _collect(self) -> list[str]:
        """The ids the broker took; failed or overdue publishes are forgotten so the next tick sends them again."""
        sent: list[str] = []
        now = time.monotonic()
        for command_id, waiting in list(self._waiting.items()):
            if not waiting.delivery.done:
                if now - waiting.since > self._puback_timeout_s:
                    del self._waiting[command_id]
                continue
            del self._waiting[command_id]
            try:
                waiting.delivery.wait(0)
            except MqttError as exc:
                self.stats.failed += 1
                log.warning("command %s not taken by the broker (sent again): %s", command_id, exc)
                continue
            sent.append(command_id)
        return sent
