"""The publisher thread: outbox entries go out in ``seq`` order and stop waiting only on PUBACK.

Several entries are in flight at once. A refused publish (the broker's reason code says no) is logged,
counted and kept, and tried again after a back-off; an entry with no PUBACK after ``ack_timeout_s`` is
sent again (consumers drop repeats by ``seq``). While the link is down nothing new is sent: paho resends
what was in flight when the connection returns. A reads batch that waited longer than
``historical_after_s`` goes out marked ``historical`` so it raises no live alarm; so does an exit alarm
report (``alarms``) that waited that long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from contract import ContractError, GateAlarm, ReadsBatch, decode, encode
from gateway.outbox import Outbox, OutboxEntry
from silentcommerce.mqtt import Delivery, MqttError, MqttLink, PublishRefused

log = logging.getLogger(__name__)

REFUSED_BACKOFF_MIN_S = 1.0
REFUSED_BACKOFF_MAX_S = 60.0
IDLE_WAIT_S = 0.2
BUSY_WAIT_S = 0.005


@dataclass
class PublisherStats:
    published: int = 0
    refused: int = 0
    resent: int = 0
    last_error: str = ""


@dataclass
class _InFlight:
    entry: OutboxEntry
    delivery: Delivery
    sent_at: float


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        *,
        max_in_flight: int = 16,
        ack_timeout_s: float = 30.0,
        historical_after_s: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.link = link
        self.stats = PublisherStats()
        self._max_in_flight = max_in_flight
        self._ack_timeout_s = ack_timeout_s
        self._historical_after_s = historical_after_s
        self._wall_clock = wall_clock
        self._wake = threading.Event()
        self._in_flight: dict[int, _InFlight] = {}
        self._retry_at: dict[int, tuple[float, float]] = {}  # seq -> (when, back-off)
        self._drain_deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Something was appended to the outbox."""
        self._wake.set()

    def drain_and_join(self, timeout: float) -> None:
        """Stop after the outbox is empty or ``timeout`` passed, whichever comes first."""
        self._drain_deadline = time.monotonic() + timeout
        self._wake.set()
        self._thread.join(timeout + 1.0)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def _run(self) -> None:
        while True:
            if self._drain_deadline is not None and (
                time.monotonic() >= self._drain_deadline or (not self._in_flight and self.outbox.depth() == 0)
            ):
                return
            self._collect()
            sent = self._fill() if self.link.connected else 0
            self._wake.wait(BUSY_WAIT_S if self._in_flight or sent else IDLE_WAIT_S)
            self._wake.clear()

    def _collect(self) -> None:
        delivered: list[int] = []
        now = time.monotonic()
        for seq, flight in list(self._in_flight.items()):
            if not flight.delivery.done:
                if now - flight.sent_at > self._ack_timeout_s:
                    del self._in_flight[seq]
                    self.stats.resent += 1
                continue
            del self._in_flight[seq]
            try:
                flight.delivery.wait(0)
            except PublishRefused as exc:
                self.stats.refused += 1
                self.stats.last_error = str(exc)
                backoff = self._retry_at.get(seq, (0.0, REFUSED_BACKOFF_MIN_S / 2))[1] * 2
                backoff = min(backoff, REFUSED_BACKOFF_MAX_S)
                self._retry_at[seq] = (now + backoff, backoff)
                log.error("seq %d kept in the outbox: %s; retry in %.0f s", seq, exc, backoff)
                continue
            except MqttError as exc:
                self.stats.last_error = str(exc)
                self.stats.resent += 1
                continue
            self._retry_at.pop(seq, None)
            delivered.append(flight.entry.id)
        if delivered:
            self.outbox.mark_delivered(delivered)
            self.stats.published += len(delivered)

    def _fill(self) -> int:
        room = self._max_in_flight - len(self._in_flight)
        if room <= 0:
            return 0
        now = time.monotonic()
        waiting = [seq for seq, (when, _) in self._retry_at.items() if when > now]
        entries = self.outbox.pending(room + len(self._in_flight) + len(waiting))
        sent = 0
        for entry in entries:
            if sent >= room:
                break
            if entry.seq in self._in_flight or entry.seq in waiting:
                continue
            delivery = self.link.publish(entry.topic, self._payload(entry), qos=1)
            self._in_flight[entry.seq] = _InFlight(entry, delivery, now)
            sent += 1
        return sent

    def _payload(self, entry: OutboxEntry) -> bytes:
        if entry.kind not in ("reads", "alarms") or self._wall_clock() - entry.created_at < self._historical_after_s:
            return entry.payload
        model: type[ReadsBatch] | type[GateAlarm] = ReadsBatch if entry.kind == "reads" else GateAlarm
        try:
            message = decode(model, entry.payload)
        except ContractError:
            return entry.payload
        return encode(message.model_copy(update={"historical": True}))
