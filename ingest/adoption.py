"""Adopting the MQTT session of an ingest worker that died without a clean stop.

Why: every worker's session (``ingest-worker-<id>``) is persistent and subscribed to the shared filters, and
Mosquitto goes on giving an offline session its turn of the shared messages, queued until the worker comes
back (or for the session's expiry, 7 days, if it never does). Until then a third of every store's traffic
(with three workers) waits in that queue: visits reach the rules with holes, the gap tracker asks the
gateways to resend, and the resend may land in the dead session again.

So the worker that retired the dead one (ingest.worker) connects a second client under the dead worker's
client id with ``clean_start=False``. The broker gives it the session: the messages queued for it and those it
had in flight. The adoption

1. unsubscribes the session's shared filters at once: from now on the broker shares the traffic among the
   live workers only;
2. hands over every message the session gives it (``ingest_handoff``, then the acknowledgement, on this
   session: an acknowledgement belongs to the session that received the message), for the owners to take
   like any stray; a message the dead worker had stored but not acknowledged arrives again and is known by
   its ``(gateway, seq)``;
3. once everything taken is acknowledged and nothing came for ``quiet_s`` since the last message or
   acknowledgement (the broker sends what it queued beyond its in-flight window only as acknowledgements reach
   it, and a slow hand-over may take longer than ``quiet_s``), disconnects with session expiry 0: the broker
   forgets the session.

If the dead worker comes back meanwhile (same id), its connect takes the session over and the broker drops
the adoption's connection. The adoption never reconnects (that would take the session back, and so on): it
ends quietly and leaves the rest to the worker; what it took and did not acknowledge, the broker gives the
worker again.

An attempt that fails (no connection within ``connect_timeout_s``, or an error) is tried again after
``retry_s``, twice as long after each further failure (at most ``retry_max_s``), logged and counted
(``on_retry``), until one drains the session, the dead worker runs again (``back()``: its state says
``online`` for a newer run; it takes its session back itself), or the adopting worker stops. Without that,
the broker would go on routing a share of every store's traffic into the dead session until the dead
worker returns.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from silentcommerce.mqtt import InboundMessage, MqttLink, MqttSettings

log = logging.getLogger(__name__)

Ack = Callable[[InboundMessage], None]


def session_id(worker: str) -> str:
    """The MQTT client id (and so the persistent session) of ingest worker ``worker``, unless one is configured."""
    return f"ingest-worker-{worker}"


class Adoption:
    """Drain ``session`` (the MQTT client id) of dead worker ``peer`` in a thread of its own (see the module's
    doc)."""

    def __init__(self, peer: str, session: str, mqtt: MqttSettings, filters: Sequence[str],
                 hand_over: Callable[[InboundMessage, Ack], None], closing: threading.Event, *, quiet_s: float = 0.5, quiet_max_s: float = 5.0,
                 connect_timeout_s: float = 5.0, on_done: Callable[[Adoption], None] = lambda adoption: None,
                 retry_s: float = 1.0, retry_max_s: float = 30.0, back: Callable[[], bool] = lambda: False,
                 on_retry: Callable[[], None] = lambda: None) -> None:
        self.peer = peer
        self.filters = list(filters)
        self.received = 0
        self.acked = 0
        self.ended_session = False
        """True once the broker was told to forget the session (False: it was taken over, or not reached)."""
        self._hand_over = hand_over
        self._closing = closing
        self._quiet_s = quiet_s
        self._quiet_max_s = quiet_max_s
        self._connect_timeout_s = connect_timeout_s
        self._on_done = on_done
        self._retry_s = retry_s
        self._retry_max_s = retry_max_s
        self._back = back
        self._on_retry = on_retry
        self.retries = 0
        """Attempts that failed and were tried again."""
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._mqtt = dataclasses.replace(mqtt, client_id=session)
        self.link = self._new_link()
        self._thread = threading.Thread(target=self._run, name=f"adopt-{peer}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _take(self, link: MqttLink, message: InboundMessage) -> None:
        with self._lock:
            self.received += 1
            self._last = time.monotonic()
        self._hand_over(message, partial(self._ack, link))

    def _ack(self, link: MqttLink, message: InboundMessage) -> None:
        link.ack(message)
        with self._lock:
            self.acked += 1
            self._last = time.monotonic()  # the broker sends what it queued beyond its window only now

    def _settled(self, quiet_s: float) -> bool:
        with self._lock:
            return self.acked == self.received and time.monotonic() - self._last >= quiet_s

    def _new_link(self) -> MqttLink:
        """One attempt's connection: what it receives is acknowledged on it (a later attempt's is another)."""
        link = MqttLink(self._mqtt, on_message=lambda message: self._take(link, message), manual_ack=True,
                        reconnect=False)
        return link

    def _run(self) -> None:
        try:
            delay = self._retry_s
            while not self._attempt():
                if self._closing.wait(delay):
                    log.warning("adoption of worker %s's session given up: the worker stops", self.peer)
                    return
                if self._back():
                    log.info("adoption of worker %s's session given up: the worker runs again", self.peer)
                    return
                self.retries += 1
                self._on_retry()
                log.info("adoption of worker %s's session: attempt %d", self.peer, self.retries + 1)
                delay = min(delay * 2, self._retry_max_s)
                self.link = self._new_link()
        finally:
            self._on_done(self)

    def _attempt(self) -> bool:
        """One attempt; False if it failed (the session is still the dead worker's, to be tried again)."""
        try:
            return self._drain()
        except Exception:
            log.exception("adoption of worker %s's session failed (tried again)", self.peer)
            self.link.stop()
            return False

    def _drain(self) -> bool:
        self.link.start()
        if not self.link.wait_connected(self._connect_timeout_s):
            log.warning("could not adopt worker %s's session: no connection within %.0f s (tried again)", self.peer,
                        self._connect_timeout_s)
            self.link.stop()
            return False
        with self._lock:
            self._last = time.monotonic()  # the quiet time counts from the connection, not from an earlier try
        self.link.unsubscribe(self.filters)
        closing_since: float | None = None
        while True:
            if not self.link.connected:  # taken over: the worker is back (or the broker went away)
                log.info("adoption of worker %s's session ended: the session was taken over (%d messages taken)",
                         self.peer, self.received)
                self.link.stop()
                return True
            if self._closing.is_set() and closing_since is None:
                closing_since = time.monotonic()
            if closing_since is not None and time.monotonic() - closing_since > self._quiet_max_s:
                log.warning("adoption of worker %s's session cut short by the stop: %d of %d messages "
                            "acknowledged (the session keeps the rest)", self.peer, self.acked, self.received)
                self.link.stop()
                return True
            if self._settled(self._quiet_s):
                self.link.stop(session_expiry_s=0)
                self.ended_session = True
                log.info("adopted worker %s's session: %d messages handed over; the session is ended", self.peer,
                         self.received)
                return True
            time.sleep(0.05)
