"""An ingest worker: one of several processes that share the work of many stores.

Why it is built this way: a store's rules engine (open visits, baskets, where each item is) and its
duplicate book live in memory, so only one process may run a store at a time; but the broker's shared
subscription (``$share/ingest/...``) hands each message to any worker, round-robin, with no regard to its
store. So:

* every worker takes its share of ALL gateway traffic through the shared subscription (one MQTT session,
  ``ingest-worker-<id>``, persistent, manual acknowledgements);
* each store is owned by one worker at a time, through a lease in the database (ingest.db.leases): the
  worker renews its leases every ``lease_renew_s``, claims free stores up to its fair share and releases
  the stores above it (ingest.lease_plan), and runs one :class:`~ingest.service.IngestService` per store it
  owns, started (seeded, restored) only once the lease is held;
* a message for a store the worker does not own is written to ``ingest_handoff`` and only then
  acknowledged; each owner polls that table for its stores every ``handoff_poll_s`` and feeds the rows to
  the store's service, which deletes each row in the transaction that stores the message's effects;
* every transaction of a store's service checks the lease first (the fence): a worker that lost a store
  writes nothing more for it, so the next owner's restore sees everything the old owner committed;
* a worker that dies without a clean stop is replaced within about a second, not a lease time: its MQTT Last
  Will (``offline`` on its state topic) reaches the others at once, and once its heartbeat has stopped too one
  of them retires it (frees its leases, so its stores move now) and adopts its MQTT session (takes the
  messages the broker queued for it, hands them over, and ends the session so the broker stops giving the
  dead worker a share). See :mod:`ingest.adoption`.

Threads: paho's network thread routes each message (to the owning service's queue, or to the strays); the
heartbeat thread says the worker is alive; the lease thread renews, the plan thread claims and releases; the
hand-over thread writes the strays and polls for handed-over messages; the failover thread retires dead
workers, and an adoption thread drains each adopted session; each store's service has its own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from contract.errors import ContractError
from contract.payloads import WorkerState, decode, encode
from contract.topics import (
    WORKER_STATE_FILTER,
    GatewayTopic,
    parse_topic,
    shared,
    worker_of_state_topic,
    worker_state_topic,
)
from ingest.adoption import Adoption, session_id
from ingest.db import leases, records
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.lease_plan import plan
from ingest.service import (
    HandedOver,
    IngestService,
    IngestSettings,
    IngestStats,
    WorkerParts,
    ingest_session,
    subscriptions,
    utc_now,
)
from ingest.storefile import load_store_file
from ingest.tsdb import TsdbSettings
from silentcommerce.mqtt import InboundMessage, MqttLink, MqttSettings, Will

log = logging.getLogger(__name__)
SHARE_GROUP = "ingest"


class WorkerError(Exception):
    """The worker's store files do not make a valid set (e.g. two files for the same store)."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    worker_id: str
    store_files: tuple[Path, ...]
    db_url: str
    mqtt: MqttSettings
    tsdb: TsdbSettings | None = None
    lease_ttl_s: float = 10.0
    """A lease not renewed for this long is free: a killed worker's stores move after at most this."""
    lease_renew_s: float = 2.0
    heartbeat_s: float = 0.25
    """How often the worker says it is alive in the database (``ingest_workers``)."""
    failover_after_s: float = 1.0
    """A worker whose Last Will came is retired once its heartbeat is this old (it may have lost only its
    broker connection: then it keeps beating and keeps its stores)."""
    handoff_poll_s: float = 0.05
    """How often the owner looks for messages other workers handed over (the delay such a message adds)."""
    quiet_s: float = 0.5
    """Clean stop: after unsubscribing, hand over what still arrives until nothing came for this long ..."""
    quiet_max_s: float = 5.0
    """... or this long at most."""
    adopt_retry_s: float = 1.0
    """A failed adoption of a dead worker's session is tried again after this, twice as long after each further
    failure ..."""
    adopt_retry_max_s: float = 30.0
    """... at most this long (until it succeeds, the dead worker runs again, or this worker stops)."""
    handoff_batch: int = 500
    report_every_s: float = 60.0
    """How often the worker logs the stores it owns and its counters."""
    clock: Callable[[], datetime] = utc_now
    service: Mapping[str, Any] = field(default_factory=dict)
    """Further :class:`~ingest.service.IngestSettings` of each store's service (e.g. ``tick_s``)."""

    def __post_init__(self) -> None:
        if not self.lease_renew_s * 2 <= self.lease_ttl_s:
            raise WorkerError(f"the lease time ({self.lease_ttl_s} s) must be at least twice the renewal "
                              f"interval ({self.lease_renew_s} s), or a busy moment loses every lease")
        if not self.heartbeat_s * 2 <= self.failover_after_s:
            raise WorkerError(f"the failover time ({self.failover_after_s} s) must be at least twice the heartbeat "
                              f"interval ({self.heartbeat_s} s), or a live worker would be retired")


@dataclass
class WorkerStats:
    claimed: int = 0
    released: int = 0
    lost: int = 0
    handed_out: int = 0
    """Messages of stores this worker did not own, written to ``ingest_handoff``."""
    handed_in: int = 0
    """Handed-over messages this worker took from ``ingest_handoff`` for its stores."""
    parked: int = 0
    """Messages of its own stores held for a missing ``seq`` and moved to ``ingest_handoff`` meanwhile."""
    stray_dead_letters: int = 0
    lease_errors: int = 0
    states: int = 0
    """Workers' states received (``online``, ``stopped``, Last Wills; the retained ones on each connect)."""
    retired: int = 0
    """Dead workers this worker retired (freed their leases)."""
    adopted: int = 0
    """Messages taken from dead workers' sessions (handed over like strays)."""
    adoption_retries: int = 0
    """Adoptions of dead workers' sessions tried again after a failed attempt."""


def load_stores(paths: tuple[Path, ...]) -> dict[str, Path]:
    """The store id of each store file; the same store twice is refused."""
    found: dict[str, Path] = {}
    for path in paths:
        store = load_store_file(path).store.id
        if store in found:
            raise WorkerError(f"{path} and {found[store]} are both store {store!r}")
        found[store] = path
    if not found:
        raise WorkerError("an ingest worker needs at least one store file")
    return found


class IngestWorker:
    """``start()`` migrates, subscribes and begins claiming stores; ``stop()`` hands everything over."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.worker = settings.worker_id
        self.stats = WorkerStats()
        self.stores = load_stores(settings.store_files)
        self.ttl = timedelta(seconds=settings.lease_ttl_s)
        self._lock = threading.Lock()
        self._services: dict[str, IngestService] = {}
        """The services this worker runs (a store is here only while its lease is held)."""
        self._held: dict[str, leases.Lease] = {}
        self.store_stats: dict[str, IngestStats] = {}
        self._in_flight: dict[int, str] = {}
        """Handed-over rows given to a service and not deleted yet (id -> store)."""
        self._handoff_lock = threading.Lock()
        """Held by a poll while it reads the table and marks what it took, and by a service parking messages."""
        self._strays: queue.Queue[tuple[InboundMessage, Callable[[InboundMessage], None]]] = queue.Queue()
        """Messages to hand over, each with how to acknowledge it (the session it came from)."""
        self._gone: queue.Queue[WorkerState] = queue.Queue()
        """Other workers' states, for the failover thread: a Last Will, and what settles it (``online`` again,
        ``stopped``)."""
        self._adoptions: dict[str, Adoption] = {}
        self._online: dict[str, datetime] = {}
        """Other workers -> the start of their newest run that said ``online`` (an adoption of an older run's
        session stops trying once it sees it)."""
        self.started_at = utc_now()
        self.session = ""
        """The MQTT client id of this worker's session (in its will: whoever adopts the session needs it)."""
        self._lost: queue.Queue[str] = queue.Queue()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._stopped = threading.Event()
        self._last_routed = time.monotonic()
        self._db: Engine | None = None
        self._link: MqttLink | None = None
        self._threads: list[threading.Thread] = []
        self._filters = [shared(SHARE_GROUP, topic_filter) for topic_filter, _ in subscriptions()]

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def db(self) -> Engine:
        if self._db is None:
            raise RuntimeError("the ingest worker is not started")
        return self._db

    @property
    def link(self) -> MqttLink:
        if self._link is None:
            raise RuntimeError("the ingest worker is not started")
        return self._link

    @property
    def owned(self) -> list[str]:
        with self._lock:
            return sorted(self._services)

    def service(self, store: str) -> IngestService | None:
        """The service this worker runs for ``store`` (None unless it holds the store's lease)."""
        with self._lock:
            return self._services.get(store)

    def start(self) -> None:
        self._db = make_engine(self.settings.db_url)
        upgrade(self._db)
        for store in self.stores:
            with self._db.begin() as conn:
                leases.ensure_lease_row(conn, store)
        now = self.settings.clock()
        self.started_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # survives any round trip
        with self._db.begin() as conn:  # before the broker sees this run: no one retires it for the last one
            leases.heartbeat(conn, self.worker, now, started_at=self.started_at)
        mqtt = ingest_session(self.settings.mqtt, session_id(self.worker))
        self.session = mqtt.client_id
        will = Will(worker_state_topic(self.worker), self._state("offline"), qos=1, retain=True)
        self._link = MqttLink(mqtt, subscriptions=[*((f, 1) for f in self._filters), (WORKER_STATE_FILTER, 1)],
                              on_message=self._route, manual_ack=True, will=will, on_connected=self._announce)
        self._threads = [threading.Thread(target=self._renew_loop, name=f"renew-{self.worker}", daemon=True),
                         threading.Thread(target=self._plan_loop, name=f"plan-{self.worker}", daemon=True),
                         threading.Thread(target=self._handoff_loop, name=f"handoff-{self.worker}", daemon=True),
                         threading.Thread(target=self._beat_loop, name=f"beat-{self.worker}", daemon=True),
                         threading.Thread(target=self._failover_loop, name=f"failover-{self.worker}", daemon=True)]
        for thread in self._threads:
            thread.start()
        self._link.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.link.wait_connected(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Clean stop: claim nothing more, unsubscribe, stop each store's service and release its lease, hand
        over what is still queued or arriving for a quiet moment, then end the MQTT session (expiry 0) so the
        broker no longer gives this worker a share."""
        if self._link is None:
            return
        self._closing.set()
        self._wake.set()
        for thread in (*self._threads[:2], *self._threads[3:]):
            thread.join(timeout)
        self.link.unsubscribe(self._filters)
        for store in self.owned:
            self._give_up(store)
        deadline = time.monotonic() + self.settings.quiet_max_s
        while time.monotonic() < deadline and time.monotonic() - self._last_routed < self.settings.quiet_s:
            time.sleep(0.05)
        with self._lock:
            adoptions = list(self._adoptions.values())
        for adoption in adoptions:  # they end once what they took is handed over
            adoption.join(timeout)
        self._stopped.set()
        self._threads[2].join(timeout)
        while strays := self._take_strays(0):  # what arrived while the hand-over thread finished
            self._hand_over(strays)
        try:
            with self.db.begin() as conn:
                leases.forget_worker(conn, self.worker)
        except SQLAlchemyError as exc:
            log.warning("worker %s: could not remove its heartbeat (it expires by itself): %s", self.worker, exc)
        self.link.stop(session_expiry_s=0, final_publish=(worker_state_topic(self.worker), self._state("stopped")))
        self._link = None
        self.db.dispose()
        log.info("ingest worker %s stopped: %s", self.worker, self.stats)

    # -- paho thread: routing ------------------------------------------------------------------------

    def _route(self, message: InboundMessage) -> None:
        """To the owning service's queue, else to the strays (written to ``ingest_handoff``, then acked)."""
        peer = worker_of_state_topic(message.topic)
        if peer is not None:
            self._on_worker_state(peer, message)
            return
        self._last_routed = time.monotonic()
        store = store_of(message.topic)
        with self._lock:
            service = self._services.get(store) if store is not None else None
        if service is not None and service.submit(message):
            return
        self._strays.put((message, self.link.ack))

    def _state(self, state: Literal["online", "offline", "stopped"]) -> bytes:
        return encode(WorkerState(worker=self.worker, state=state, started_at=self.started_at, session=self.session))

    def _announce(self) -> None:
        """On each connect (paho thread): this run is ``online`` (retained; replaces the last run's will)."""
        self.link.publish(worker_state_topic(self.worker), self._state("online"), retain=True)

    def _on_worker_state(self, peer: str, message: InboundMessage) -> None:
        """A worker's state (retained ones too, on each subscribe): a Last Will of another worker goes to the
        failover thread."""
        self.stats.states += 1
        try:
            state = decode(WorkerState, message.payload) if message.payload else None
        except ContractError as exc:
            log.warning("worker %s: unusable state of worker %s ignored: %s", self.worker, peer, exc)
            state = None
        if state is not None and state.worker == peer != self.worker:
            if state.state == "online":
                with self._lock:
                    newest = self._online.get(peer)
                    if newest is None or state.started_at > newest:
                        self._online[peer] = state.started_at
            if state.state == "offline":
                log.info("worker %s: the will of worker %s came (its run started at %s)", self.worker, peer,
                         state.started_at.isoformat())
            self._gone.put(state)
            self._wake.set()
        self.link.ack(message)

    # -- lease thread ---------------------------------------------------------------------------------

    def _beat_loop(self) -> None:
        """Heartbeat every ``heartbeat_s``, whatever else the worker is doing (starting a large store's
        service takes longer than a lease lasts; a worker that stops beating is retired after its will)."""
        while not self._closing.is_set():
            try:
                with self.db.begin() as conn:
                    leases.heartbeat(conn, self.worker, self.settings.clock(), started_at=self.started_at)
            except SQLAlchemyError as exc:
                self.stats.lease_errors += 1
                log.error("worker %s: heartbeat failed: %s", self.worker, exc)
            self._closing.wait(self.settings.heartbeat_s)

    def _renew_loop(self) -> None:
        """Renew every ``lease_renew_s``, each lease in its own short transaction."""
        while not self._closing.is_set():
            with self._lock:
                held = list(self._held.values())
            for lease in held:
                try:  # the expiry counts from when the row was written (SQLite: after the write lock was got)
                    with self.db.begin() as conn:
                        kept = leases.renew(conn, lease, self.settings.clock(), self.ttl,
                                            wait_s=self.settings.lease_renew_s / 2)
                except SQLAlchemyError as exc:  # busy: the next round tries again; the fence guards the writes
                    self.stats.lease_errors += 1
                    log.warning("worker %s: renewal of store %s failed: %s", self.worker, lease.store, exc)
                    continue
                if not kept:
                    self._on_lease_lost(lease.store)
            self._closing.wait(self.settings.lease_renew_s)

    def _plan_loop(self) -> None:
        next_report = time.monotonic() + self.settings.report_every_s
        while not self._closing.is_set():
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + self.settings.report_every_s
                log.info("worker %s: stores owned: %s; %s", self.worker, ", ".join(self.owned) or "none", self.stats)
            try:
                self._plan()
            except SQLAlchemyError as exc:
                self.stats.lease_errors += 1
                log.error("worker %s: could not claim or release stores: %s", self.worker, exc)
            except Exception:
                self.stats.lease_errors += 1
                log.exception("worker %s: lease planning failed", self.worker)
            self._wake.wait(self.settings.lease_renew_s)
            self._wake.clear()

    def _plan(self) -> None:
        """Stop the services of lost stores; release the stores above the fair share; claim free ones."""
        while not self._lost.empty():
            self._drop(self._lost.get_nowait(), reason="lost")
        now = self.settings.clock()
        with self.db.begin() as conn:
            live = set(leases.live_workers(conn, now, self.ttl)) | {self.worker}
            view = leases.leases(conn, self.stores)
        with self._lock:
            owned = set(self._held)
        todo = plan(self.worker, list(self.stores), owned, view, len(live), now)
        for store in todo.release:
            self._give_up(store)
        for store in todo.claim:
            if self._closing.is_set() or not self._lost.empty():
                return
            with self.db.begin() as conn:
                lease = leases.claim(conn, store, self.worker, self.settings.clock(), self.ttl)
            if lease is not None:
                self._take(lease)

    def _take(self, lease: leases.Lease) -> None:
        """Start the store's service under the lease just claimed (seeding and restoring are fenced). The
        lease is renewed from now on; messages for the store are handed over until the service runs."""
        with self._lock:
            self._held[lease.store] = lease
        settings = IngestSettings(store_file=self.stores[lease.store], db_url=self.settings.db_url,
                                  mqtt=self.link.settings, tsdb=self.settings.tsdb, **self.settings.service)
        service = IngestService(settings, WorkerParts(link=self.link, db=self.db,
                                                      fence=partial(leases.fence, held=lease),
                                                      on_lease_lost=self._on_lease_lost, park=self._park))
        try:
            service.start()
        except Exception as exc:  # lost meanwhile, or the seed failed (e.g. two first seeds at once): retry later
            log.warning("worker %s: could not start store %s: %s", self.worker, lease.store, exc)
            with self._lock:
                self._held.pop(lease.store, None)
            service.stop()
            if not isinstance(exc, leases.LeaseLost):
                with self.db.begin() as conn:
                    leases.release(conn, lease, self.settings.clock())
            return
        with self._lock:
            self._services[lease.store] = service
        self.stats.claimed += 1
        log.info("worker %s: owns store %s (epoch %d); stores owned: %s", self.worker, lease.store, lease.epoch,
                 ", ".join(self.owned))

    def _give_up(self, store: str) -> None:
        """Release a store gracefully: stop its service, hand over its unprocessed messages, expire the lease."""
        lease = self._drop(store, reason="released")
        if lease is None:
            return
        try:
            with self.db.begin() as conn:
                leases.release(conn, lease, self.settings.clock())
        except SQLAlchemyError as exc:
            log.warning("worker %s: could not release store %s (it expires by itself): %s", self.worker, store, exc)

    def _drop(self, store: str, *, reason: str) -> leases.Lease | None:
        """Stop the store's service; its messages not stored yet become strays (handed over)."""
        with self._lock:
            service = self._services.pop(store, None)
            lease = self._held.pop(store, None)
            for handoff_id in [i for i, s in self._in_flight.items() if s == store]:
                del self._in_flight[handoff_id]
        if service is None:
            return lease
        service.stop()
        left = service.drain()
        for message in left:
            self._strays.put((message, self.link.ack))
        self.store_stats[store] = service.stats
        if reason == "lost":
            self.stats.lost += 1
        else:
            self.stats.released += 1
        log.info("worker %s: %s store %s (%d messages handed over); stores owned: %s", self.worker, reason, store,
                 len(left), ", ".join(self.owned) or "none")
        return lease

    def _park(self, store: str, messages: list[InboundMessage]) -> list[int]:
        """From a service's thread: write its held MQTT messages to ``ingest_handoff`` and acknowledge them.
        A held message stays unacknowledged otherwise, and the broker's in-flight window is the worker's for
        every store: full of held messages, it would stop the very messages (handed over by the other
        workers, whose windows fill the same way) that the held ones wait for."""
        with self._handoff_lock:  # else a poll could take the new rows for new messages
            with self.db.begin() as conn:
                ids = leases.park(conn, store, [(m.topic, m.payload) for m in messages], self.settings.clock())
            with self._lock:
                if store in self._services:
                    self._in_flight.update(dict.fromkeys(ids, store))
        for message in messages:
            self.link.ack(message)
        self.stats.parked += len(ids)
        return ids

    def _on_lease_lost(self, store: str) -> None:
        """From a service's thread: its transaction found the lease gone. The lease thread stops it."""
        self._lost.put(store)
        self._wake.set()

    # -- failover thread ----------------------------------------------------------------------------

    def _failover_loop(self) -> None:
        """Retire each worker whose Last Will came, once its heartbeat is ``failover_after_s`` old; adopt the
        session of each one this worker retired. Every worker tries (one wins the row), then plans at once.

        A will stays noted until it is settled: the worker retired (by any worker), or back (``online``, a new
        run), or stopped. A worker that only lost its broker connection still beats: after a few seconds it is
        looked at only every ``failover_after_s``, but should it die before it reconnects (no second will comes)
        its heartbeat stops and it is retired then; a database that does not answer delays a retirement, never
        cancels it."""
        pending: dict[str, tuple[WorkerState, float | None, float]] = {}
        """Wills not settled yet: the worker's run, until when to look at it often (None: past that), and when
        to look next."""
        patience = 3 * self.settings.failover_after_s + self.settings.lease_renew_s
        while not self._closing.is_set():
            try:
                state = self._gone.get(timeout=0.05 if pending else 0.5)
                if state.state == "offline":
                    pending[state.worker] = (state, time.monotonic() + patience, 0.0)
                else:  # back, or stopped cleanly: whatever will came before is settled
                    pending.pop(state.worker, None)
            except queue.Empty:
                pass
            for peer, (state, until, due) in list(pending.items()):
                if time.monotonic() < due:
                    continue
                failed = False
                try:
                    settled = self._retire(state)
                except SQLAlchemyError as exc:
                    self.stats.lease_errors += 1
                    log.warning("worker %s: could not retire worker %s (retrying): %s", self.worker, peer, exc)
                    settled, failed = False, True
                if settled:
                    del pending[peer]
                    self._wake.set()
                    continue
                if until is not None and time.monotonic() > until:
                    until = None
                    if not failed:
                        log.info("worker %s: worker %s lost its broker connection but still beats: not retired "
                                 "while it does (looked at every %g s)", self.worker, peer,
                                 self.settings.failover_after_s)
                pending[peer] = (state, until, 0.0 if until is not None else
                                 time.monotonic() + self.settings.failover_after_s)

    def _retire(self, state: WorkerState) -> bool:
        """Try to retire the run ``state`` names; True once it is retired (by this worker or another) or the
        worker runs again under a new run. Reads until the heartbeat is old enough (SQLite has one writer)."""
        with self.db.connect() as conn:
            beat = leases.last_beat(conn, state.worker)
        if beat is None or beat[0] != state.started_at:
            return True
        now = self.settings.clock()
        beat_before = now - timedelta(seconds=self.settings.failover_after_s)
        if beat[1] > beat_before:
            return False
        with self.db.begin() as conn:
            freed = leases.retire_worker(conn, state.worker, state.started_at, beat_before, now)
        if freed is None:
            return False  # it beat meanwhile, or another worker retired it: the next look tells
        self.stats.retired += 1
        log.info("worker %s: retired worker %s (its will came and its heartbeat stopped); freed stores: %s",
                 self.worker, state.worker, ", ".join(freed) or "none")
        self._adopt(state)
        return True

    def _adopt(self, state: WorkerState) -> None:
        peer = state.worker
        with self._lock:
            if peer in self._adoptions or self._closing.is_set():
                return
            adoption = Adoption(peer, state.session, self.link.settings, [*self._filters, WORKER_STATE_FILTER],
                                self._take_adopted, self._closing, quiet_s=self.settings.quiet_s,
                                quiet_max_s=self.settings.quiet_max_s, on_done=self._adopted,
                                retry_s=self.settings.adopt_retry_s, retry_max_s=self.settings.adopt_retry_max_s,
                                back=partial(self._runs_again, peer, state.started_at), on_retry=self._adoption_retried)
            self._adoptions[peer] = adoption
        adoption.start()

    def _runs_again(self, peer: str, started_at: datetime) -> bool:
        """Whether worker ``peer`` said ``online`` for a run newer than the one ``started_at`` names."""
        with self._lock:
            newest = self._online.get(peer)
        return newest is not None and newest > started_at

    def _adoption_retried(self) -> None:
        self.stats.adoption_retries += 1

    def _take_adopted(self, message: InboundMessage, ack: Callable[[InboundMessage], None]) -> None:
        """From an adoption's paho thread: every message of a dead worker's session is handed over (the owner,
        this worker too, takes it from ``ingest_handoff``), then acknowledged on that session; the workers'
        states it was subscribed to are only acknowledged."""
        if worker_of_state_topic(message.topic) is not None:
            ack(message)
            return
        self.stats.adopted += 1
        self._strays.put((message, ack))

    def _adopted(self, adoption: Adoption) -> None:
        with self._lock:
            self._adoptions.pop(adoption.peer, None)

    # -- hand-over thread ---------------------------------------------------------------------------

    def _handoff_loop(self) -> None:
        next_poll = time.monotonic()
        while True:
            stopping = self._stopped.is_set()
            strays = self._take_strays(max(0.0, next_poll - time.monotonic()))
            try:
                if strays:
                    self._hand_over(strays)
                if time.monotonic() >= next_poll and not stopping:
                    next_poll = time.monotonic() + self.settings.handoff_poll_s
                    self._poll()
            except SQLAlchemyError as exc:  # strays stay unacknowledged: the broker keeps them for the session
                for stray in strays:
                    self._strays.put(stray)
                log.error("worker %s: hand-over failed (retrying): %s", self.worker, exc)
                time.sleep(0.2)
            except Exception:
                log.exception("worker %s: hand-over failed", self.worker)
            if stopping and self._strays.empty():
                return

    def _take_strays(self, wait: float) -> list[tuple[InboundMessage, Callable[[InboundMessage], None]]]:
        try:
            first = self._strays.get(timeout=wait) if wait > 0 else self._strays.get_nowait()
        except queue.Empty:
            return []
        taken = [first]
        while len(taken) < self.settings.handoff_batch:
            try:
                taken.append(self._strays.get_nowait())
            except queue.Empty:
                break
        return taken

    def _hand_over(self, strays: list[tuple[InboundMessage, Callable[[InboundMessage], None]]]) -> None:
        """Write the strays for their owners in one transaction, then acknowledge them to the broker (each to
        the session it came from)."""
        now = self.settings.clock()
        rows: list[tuple[str, str, bytes]] = []
        unusable: list[InboundMessage] = []
        for message, _ in strays:
            store = store_of(message.topic)
            if store is None or store not in self.stores:
                unusable.append(message)
            else:
                rows.append((store, message.topic, message.payload))
        with self.db.begin() as conn:
            leases.hand_over(conn, rows, now)
            for message in unusable:
                records.record_dead_letter(conn, message.topic, "no ingest worker serves this store", message.payload,
                                           now)
        for message, ack in strays:
            ack(message)
        self.stats.handed_out += len(rows)
        self.stats.stray_dead_letters += len(unusable)

    def _poll(self) -> None:
        """Give each owned store's service the messages handed over for it (one query for every store)."""
        with self._handoff_lock:  # a row a service parks meanwhile is in flight before or after this look
            with self._lock:
                services = dict(self._services)
                in_flight = set(self._in_flight)
            if not services:
                return
            with self.db.connect() as conn:
                present, rows = leases.pending_handoff(conn, services, in_flight, self.settings.handoff_batch)
            with self._lock:
                for handoff_id in set(self._in_flight) - present:  # deleted: stored by the service
                    del self._in_flight[handoff_id]
                for row in rows:
                    self._in_flight[row.id] = row.store
        for row in rows:
            message = HandedOver(topic=row.topic, payload=row.payload, qos=1, retain=False, mid=0,
                                 handoff_id=row.id)
            if services[row.store].submit(message):
                self.stats.handed_in += 1
            else:
                with self._lock:
                    self._in_flight.pop(row.id, None)


def store_of(topic: str) -> str | None:
    """The store a gateway topic belongs to; None for anything else."""
    try:
        parsed = parse_topic(topic)
    except ContractError:
        return None
    return parsed.store if isinstance(parsed, GatewayTopic) else None

