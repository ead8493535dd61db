"""The ingest service: consume gateway traffic, run the rules, keep state, answer with commands.

Threads: paho's network thread only puts messages on the worker's queue (it waits while ``queue_size``
messages are received and not yet through the worker, so the broker holds the backlog); one worker thread does everything else in order, and the time-series
writer has its own thread. The worker takes a message and every message already waiting behind it (up
to ``group_max``: group commit) and:

1. validates each payload (a failure becomes a ``dead_letters`` row with the reason, and the message is
   acknowledged with its group: it can never succeed);
2. puts each gateway's messages back in ``seq`` order (ingest.reorder): a message that arrives ahead of a
   missing ``seq`` is held until the missing ones arrive or ``reorder_wait_s`` passed (unacknowledged; in a
   worker, written to ``ingest_handoff`` and acknowledged meanwhile), so a visit spread over many messages
   reaches the rules in the order it happened, whichever way (directly, handed over by another worker,
   resent) each message came;
3. drops a repeated ``(gateway, seq)`` (a redelivery), answered by the in-memory
   :class:`~ingest.sequences.SequenceBook`, and notes a gap in the sequence (ingest.gaps: a missing ``seq``
   is asked for again with a ``resend`` command);
4. resolves tags and feeds the sightings to the rules engine;
5. stores the whole group's decisions and ``(gateway, seq)`` rows in ONE database transaction (if a
   constraint fails, e.g. a batch a second ingest process stored a moment ago, it stores the group's
   messages one by one, so that only that one is dropped);
6. only then acknowledges the group's MQTT messages (QoS 1, persistent session: an ingest crash before this
   point means the broker delivers them all again, and step 3 makes that harmless);
7. publishes business events and gateway commands (through ingest.command_outbox: a command row is sent
   until the broker took it), and hands the reads to the time-series writer.

Exit alarms decided on a gateway (``alarms``) are stored as ``theft`` alerts with ``source = "edge"``, once per
``(gateway, seq)`` like batches. The gateways that own ``decide_at = "edge"`` exits get the allow list: each
``AllowTags``/``DisallowTags`` decision as ``allow``/``disallow`` commands, and a whole ``allow_replace``
snapshot whenever such a gateway says it is ``online``.

Alone (``silentcommerce ingest --store-file F``) the service has its own MQTT session and database engine.
Inside an ingest worker (ingest.worker) it is given the worker's link and engine and a fence
(:class:`WorkerParts`): every transaction first checks that the worker still holds the store's lease, and
messages handed over through the database (:class:`HandedOver`) are deleted in the transaction that stores
their effects instead of being acknowledged to the broker.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from contract.errors import ContractError
from contract.payloads import Ack, Command, GateAlarm, SensorsBatch, Status, decode, encode
from contract.reads import ReadRows, decode_reads
from contract.topics import GatewayKind, GatewayTopic, event_topic, gateway_filter, parse_topic
from crm.settings import CrmSettings
from ingest import crm_actions, crm_store
from ingest.command_outbox import CommandOutbox
from ingest.db import delivery, edge, gate_reads, leases, records
from ingest.db.admin import config_version, seed_from_store_file
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.db.persist import Outgoing, apply_decisions
from ingest.gaps import GapTracker
from ingest.reorder import Reorder
from ingest.resolve import TagResolver
from ingest.rules import StoreEngine
from ingest.rules.model import (
    BasketChanged,
    Decision,
    ItemReturned,
    RuleSettings,
    SensorReading,
    TransactionCommitted,
    VisitOpened,
)
from ingest.rules.sensors import SensorRules
from ingest.rules.tagtable import TagTable
from ingest.sequences import SequenceBook
from ingest.storefile import load_store_file
from ingest.tsdb import TsdbSettings, TsdbWriter, reads_lines, sensor_lines
from silentcommerce.broker import INGEST_USER
from silentcommerce.mqtt import InboundMessage, MqttLink, MqttSettings

log = logging.getLogger(__name__)
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600
PARK_PAUSE_S = 5.0
"""After a failed attempt to park held messages (the database is busy or down), none are parked this long."""
T = TypeVar("T")


CONSUMED_KINDS: tuple[GatewayKind, ...] = ("reads", "sensors", "status", "ack", "alarms")


def utc_now() -> datetime:
    return datetime.now(UTC)


def subscriptions(store: str = "+") -> list[tuple[str, int]]:
    """Ingest's subscriptions (QoS 1) for ``store`` (``+``: every store). The service subscribes to its own
    store only: with one ingest per store of a chain on one broker, each would otherwise receive every
    store's traffic and turn the others' into dead letters. A session primed before ingest starts
    (``silentcommerce demo``) must use the same filters."""
    return [(gateway_filter(kind, store=store), 1) for kind in CONSUMED_KINDS]


def ingest_session(mqtt: MqttSettings, client_id: str) -> MqttSettings:
    """``mqtt`` with ingest's defaults: the ``ingest`` user, ``client_id`` unless one is set, and a persistent
    session whatever it says (ingest must not lose the messages that arrive while it restarts)."""
    return dataclasses.replace(mqtt, username=mqtt.username or INGEST_USER, client_id=mqtt.client_id or client_id,
                               session_expiry_s=mqtt.session_expiry_s or DEFAULT_SESSION_EXPIRY_S)


@dataclass(frozen=True, slots=True)
class HandedOver(InboundMessage):
    """A gateway message another worker received and stored in ``ingest_handoff`` (row ``handoff_id``)."""

    handoff_id: int = 0


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """What an ingest worker lends each store service it runs: its one MQTT link (the worker routes the
    store's messages to :meth:`IngestService.submit`), its database engine, the lease check run first in
    every transaction, whom to tell when the lease is gone, and where held messages wait."""

    link: MqttLink
    db: Engine
    fence: Callable[[Connection], None]
    on_lease_lost: Callable[[str], None]
    park: Callable[[str, list[InboundMessage]], list[int]] | None = None
    """Write a store's held MQTT messages to ``ingest_handoff`` and acknowledge them: their hand-over ids."""


@dataclass(frozen=True, slots=True)
class IngestSettings:
    store_file: Path
    db_url: str
    mqtt: MqttSettings
    tsdb: TsdbSettings | None = None
    queue_size: int = 2000
    """Messages received and not acknowledged yet (waiting, or in the worker's group); at that many, paho's
    thread waits and the broker keeps the rest."""
    group_max: int = 200
    """At most this many waiting messages are stored in one transaction (group commit)."""
    group_max_bytes: int = 1_000_000
    """... and no more payload than this (about 5,000 reads): the group's events and commands wait for its
    commit, so this bounds what a busy moment adds to an alarm's or a receipt's delay."""
    tick_s: float = 0.5
    db_retry_max_s: float = 5.0
    clock: Callable[[], datetime] = utc_now
    crm_every_s: float = 60.0
    """How often the tick looks for members whose list is due and for offers to expire."""
    gate_prune_s: float = 30.0
    """How often the tick deletes the exit gates' stored reads that the gates no longer remember."""
    reorder_wait_s: float = 0.5
    """How long a message that arrived ahead of a missing ``seq`` of its gateway is held for the missing ones
    (the order the rules see); a real gap delays what follows it by this much, then the gap is asked for
    again as below."""
    gap_grace_s: float = 2.0
    """How long a missing ``seq`` may be late before the gateway is asked to send it again."""
    gap_retry_s: float = 10.0
    """... asked again this long after the first request, twice as long after each further one (at most
    ``gap_retry_max_s``) ..."""
    gap_retry_max_s: float = 120.0
    gap_give_up_s: float = 3600.0
    """... until the gateway answers that it no longer keeps it, or this long after it was noticed (the gateways'
    default ``keep_delivered_s``)."""


@dataclass
class IngestStats:
    batches: int = 0
    reads: int = 0
    duplicates: int = 0
    gaps: int = 0
    dead_letters: int = 0
    decisions: int = 0
    commands: int = 0
    events: int = 0
    db_retries: int = 0
    publish_errors: int = 0
    reloads: int = 0
    """Catalog/layout reloads after an admin write that concerned this store."""
    extra: dict[str, int] = field(default_factory=dict)


Body = ReadRows | SensorsBatch | Status | Ack | GateAlarm


@dataclass(slots=True)
class _Decoded:
    """A valid gateway message (its topic matches its payload's store and gateway), not through the rules yet.
    A held MQTT message becomes a :class:`HandedOver` one when the worker parks it."""

    message: InboundMessage
    body: Body

    @property
    def seq(self) -> int | None:
        """Its place in the gateway's sequence (None: a status, or an ack sent outside the outbox)."""
        return None if isinstance(self.body, Status) else self.body.seq


@dataclass(frozen=True, slots=True)
class _Step:
    """One message, validated and through the rules: what to write in the group's transaction and what to do
    once that is committed. A repeat has neither (it is only acknowledged)."""

    message: InboundMessage
    persist: Callable[[Connection], Outgoing] | None = None
    batch: records.BatchKey | None = None
    """The ``(gateway, seq)`` to remember with the group."""
    after: Callable[[Outgoing], None] | None = None
    """Run after the commit and the acknowledgement, with what ``persist`` returned (events, commands)."""


class IngestService:
    """``start()`` migrates, seeds and subscribes; ``stop()`` drains the queue's current message and stops."""

    def __init__(self, settings: IngestSettings, worker: WorkerParts | None = None) -> None:
        self.settings = settings
        self._parts = worker
        self.stats = IngestStats()
        self.store_file = load_store_file(settings.store_file)
        self.store = self.store_file.store.id
        self._queue: queue.Queue[InboundMessage] = queue.Queue()
        self._slots = threading.BoundedSemaphore(settings.queue_size)
        """One per message received and not yet through the worker: the bound on what ingest holds."""
        self._stopping = threading.Event()
        self._closed = False
        self._submit_lock = threading.Lock()
        self._leftover: list[InboundMessage] = []
        """A group that was not stored because the service stopped (or lost its lease) while storing it."""
        self._current: list[InboundMessage] = []
        """The messages of the group being processed (what becomes leftover if the service stops meanwhile)."""
        self._worker: threading.Thread | None = None
        self._db: Engine | None = None
        self._link: MqttLink | None = None
        self._tsdb: TsdbWriter | None = None
        self._engine: StoreEngine | None = None
        self._resolver: TagResolver | None = None
        self._tags: TagTable | None = None
        """Every tag's binding and item row, loaded at start; a reload binds them afresh in place."""
        self._sensor_rules = SensorRules(self.store_file.rules_for_sensors())
        """From the store file's ``[[sensor_rules]]``, read once at start (a restart applies changes)."""
        self._config_version = -1
        self._zone_types: dict[str, str] = {}
        self.exit_gateways = frozenset(
            e.gateway for e in self.store_file.exits if e.gateway is not None and e.decide_at == "edge"
        )
        """The gateways that decide exit alarms themselves: they get the allow list."""
        self._crm_next = 0.0
        self._gate_prune_next = 0.0
        self.crm_settings: CrmSettings = self.store_file.crm_settings()
        """From the store file's ``[crm]`` section (the documented defaults without one)."""
        self._crm_context = crm_store.EMPTY_CONTEXT
        self.gaps = GapTracker(grace_s=settings.gap_grace_s, retry_s=settings.gap_retry_s,
                               retry_max_s=settings.gap_retry_max_s, give_up_s=settings.gap_give_up_s)
        self._commands: CommandOutbox | None = None
        self._seqs = SequenceBook()
        """The ``(gateway, seq)`` batches taken, answered from memory (loaded from the database at start)."""
        self.reorder = self._new_reorder()
        """Messages held until their gateway's earlier ``seq`` arrive; each still holds its queue slot."""
        self._park_after = 0.0

    def _new_reorder(self) -> Reorder[_Decoded]:
        return Reorder(wait_s=self.settings.reorder_wait_s, max_held=max(1, self.settings.queue_size // 2))

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def db(self) -> Engine:
        if self._db is None:
            raise RuntimeError("the ingest service is not started")
        return self._db

    @property
    def link(self) -> MqttLink:
        if self._link is None:
            raise RuntimeError("the ingest service is not started")
        return self._link

    def start(self) -> None:
        if self._parts is None:
            self._db = make_engine(self.settings.db_url)
            upgrade(self._db)
        else:  # the worker migrated its engine and holds the store's lease: the seed is fenced too
            self._db = self._parts.db
        with self._db.begin() as conn:
            self._fence(conn)
            seed_from_store_file(conn, self.store_file)
        # The restore only reads, so it holds no lock (in a worker, nobody else can write for the store now:
        # the lease is held and the previous owner's writes are fenced), however long a large store takes.
        with self._db.begin() as conn:
            self._load(conn, first=True)
            self.reorder = self._new_reorder()
            for gateway, seq in delivery.last_seqs(conn, self.store).items():
                self.gaps.seed(gateway, seq)
                self.reorder.seed(gateway, seq)
            self._seqs = SequenceBook()
            for g in records.load_sequences(conn, self.store, self._seqs.window):
                self._seqs.load((g.store, g.gateway), g.last, g.recent)
        if self.settings.tsdb is not None:
            self._tsdb = TsdbWriter(self.settings.tsdb)
            self._tsdb.start()
        if self._parts is None:
            mqtt = ingest_session(self.settings.mqtt, f"ingest-{self.store}")
            self._link = MqttLink(mqtt, subscriptions=subscriptions(self.store), on_message=self._receive,
                                    manual_ack=True)
        else:
            self._link = self._parts.link
        self._commands = CommandOutbox(self.store, self._link, self._transact)
        self._stopping.clear()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name=f"ingest-{self.store}", daemon=True)
        self._worker.start()
        if self._parts is None:
            self._link.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.link.wait_connected(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._link is not None and self._parts is None:
            self._link.stop()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None
        if self._tsdb is not None:
            self._tsdb.stop(timeout)
            self._tsdb = None
        if self._db is not None and self._parts is None:
            self._db.dispose()

    def submit(self, message: InboundMessage) -> bool:
        """Queue a message for the service (a worker routes its store's messages here); waits while the
        queue is full. False once the service is stopping: the caller hands the message over instead."""
        return self._enqueue(message)

    def drain(self) -> list[InboundMessage]:
        """After :meth:`stop`: the broker's messages the service received and neither stored nor
        acknowledged (a worker hands them over to the store's next owner), held ones included. Handed-over
        messages are left out: their rows are still in ``ingest_handoff``. Nothing is queued after this."""
        with self._submit_lock:
            self._closed = True
            left = [*self._leftover, *(held.message for held in self.reorder.take_all())]
            self._leftover.clear()
            while True:
                try:
                    left.append(self._queue.get_nowait())
                except queue.Empty:
                    break
        return [message for message in left if not isinstance(message, HandedOver)]

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        """Start and block until :meth:`stop` is called from another thread (or a signal handler)."""
        self.start()
        try:
            self._stopping.wait()
        finally:
            self.stop()

    # -- state --------------------------------------------------------------------------------

    def _load(self, conn: Connection, *, first: bool = False, now: datetime | None = None) -> list[Decision]:
        """(Re)build the engine's view of the catalog and stock from the database; return the decisions a
        reload implies (an item the database no longer holds as sold was returned at the service desk)."""
        reload = not first and self._engine is not None and self._resolver is not None
        at = now or self.settings.clock()
        # the baskets committed before the restart, as long ago as a late batch is still asked for
        since = None if reload else at - timedelta(seconds=self.settings.gap_give_up_s)
        state = records.load_state(conn, self.store, self._tags if reload else None, committed_since=since)
        self._tags = state.bindings
        decisions: list[Decision] = []
        self._zone_types = {name: zone.type for name, zone in state.zones.items()}
        if first or self._engine is None or self._resolver is None:
            # a committed basket is remembered as long as a late batch is still asked for (as restored above)
            settings: RuleSettings = dataclasses.replace(self.store_file.rule_settings(),
                                                         committed_memory_s=self.settings.gap_give_up_s)
            self._engine = StoreEngine(state.zones, state.products, settings, sold=state.sold,
                                       locations=state.locations,
                                       inventory=self.store_file.inventory_settings(), stock=state.stock,
                                       missing=state.missing, exits=self.store_file.exit_gates(),
                                       edge_exits=self.store_file.edge_exits(), keep_gate_reads=True)
            memory = self._engine.gate_memory
            replay = gate_reads.load(conn, self.store, memory) if memory else []
            self._engine.restore(
                visits=state.visits, baskets=state.baskets, gate_reads=replay,
                alarms=gate_reads.recent_alarms(conn, self.store, at),
                returns=gate_reads.recent_returns(conn, self.store, min(r.at for r in replay)) if replay else None,
                committed=state.committed, at=at)
            self._resolver = TagResolver(state.zones, state.products.values(), state.bindings)
        else:
            self._engine.update_catalog(state.zones, state.products)
            self._resolver.update(state.zones, state.products.values(), state.bindings)
            for tag in state.sold:
                if not self._engine.is_sold(tag):
                    self._engine.mark_sold(tag)
            for tag in sorted(self._engine.sold_tags() - set(state.sold)):
                decisions.extend(self._engine.mark_returned(tag, at=now))
        self._config_version = state.config_version
        return decisions

    # -- paho thread ----------------------------------------------------------------------------

    def _receive(self, message: InboundMessage) -> None:
        self._enqueue(message)

    def _enqueue(self, message: InboundMessage) -> bool:
        while not self._stopping.is_set():
            if self._slots.acquire(timeout=0.2):
                with self._submit_lock:
                    if not self._closed:
                        self._queue.put(message)
                        return True
                self._slots.release()
                return False
        return False

    # -- worker thread --------------------------------------------------------------------------

    def _work(self) -> None:
        next_tick = time.monotonic() + self.settings.tick_s
        while not self._stopping.is_set():
            held_until = self.reorder.next_due()
            wake = next_tick if held_until is None else min(next_tick, held_until)
            try:
                message: InboundMessage | None = self._queue.get(timeout=max(0.0, wake - time.monotonic()))
            except queue.Empty:
                message = None
            self._current = []
            try:
                if message is not None or (held_until is not None and time.monotonic() >= held_until):
                    self._process([] if message is None else self._group(message))
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.settings.tick_s
                    self._tick()
            except leases.LeaseLost as exc:  # another worker owns the store now: it restores what we committed
                log.warning("%s: stopping the store's service", exc)
                self._leftover.extend(self._current)
                self._stopping.set()
                if self._parts is not None:
                    self._parts.on_lease_lost(self.store)
                return
            except Exception:  # one bad group must not stop the consumer; it is not acknowledged
                if self._stopping.is_set():
                    self._leftover.extend(self._current)
                log.exception("ingest worker: unexpected error")

    def _group(self, first: InboundMessage) -> list[InboundMessage]:
        """``first`` and the messages already waiting behind it (up to ``group_max`` messages and
        ``group_max_bytes``): never waits for more, so an idle store adds no latency and a busy one gets one
        transaction for many messages."""
        group, size = [first], len(first.payload)
        while len(group) < self.settings.group_max and size < self.settings.group_max_bytes:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                break
            group.append(message)
            size += len(message.payload)
        return group

    def _process(self, messages: list[InboundMessage]) -> None:
        """Put the messages in their gateways' order (some are held, some held before go out now), prepare
        each message let through, store them in one transaction, acknowledge, then send."""
        now = self.settings.clock()
        ready = self._in_order(messages, now)
        self._current = [item.message for item in ready]
        try:
            self._process_group(ready, now)
            self._current = []
        finally:
            for _ in ready:
                self._slots.release()

    def _in_order(self, messages: list[InboundMessage], now: datetime) -> list[_Decoded | _Step]:
        """Decode ``messages``; return what goes on to the rules now, in each gateway's ``seq`` order: the
        messages without a ``seq`` or that are next in line, the held ones they let out, and then the held
        messages whose wait is over. A message that jumps ahead stays held (with its queue slot)."""
        clock = time.monotonic()
        ready: list[_Decoded | _Step] = []
        held: list[_Decoded] = []
        for message in messages:
            item = self._guarded(message, partial(self._decode, message, now))
            if item is None:
                self._slots.release()
            elif isinstance(item, _Decoded) and item.seq is not None:
                through = self.reorder.offer(item.body.gateway, item.seq, item, clock)
                if not any(other is item for other in through):
                    held.append(item)
                ready.extend(through)
            else:
                ready.append(item)
        # Only then what has waited: a missing seq may be in this group, or still in the queue behind it when
        # the service is behind (then the wait counts double, so that a real gap still ends).
        ready.extend(self.reorder.due(clock if self._queue.empty() else clock - self.settings.reorder_wait_s))
        released = {id(item) for item in ready}
        self._park([item for item in held if not isinstance(item.message, HandedOver) and id(item) not in released])
        return ready

    def _park(self, held: list[_Decoded]) -> None:
        """In a worker: move the held MQTT messages to ``ingest_handoff`` so that the broker's in-flight window
        is not filled with them (see :meth:`ingest.worker.IngestWorker._park`); alone, they stay unacknowledged."""
        if not held or self._parts is None or self._parts.park is None or time.monotonic() < self._park_after:
            return
        try:
            ids = self._parts.park(self.store, [item.message for item in held])
        except SQLAlchemyError as exc:  # they stay held unacknowledged: as correct, only slower for the others
            log.warning("could not park %d held messages (not again for %.0f s): %s", len(held), PARK_PAUSE_S, exc)
            self._park_after = time.monotonic() + PARK_PAUSE_S
            return
        for item, handoff_id in zip(held, ids, strict=True):
            m = item.message
            item.message = HandedOver(m.topic, m.payload, m.qos, m.retain, m.mid, m.duplicate, handoff_id)

    def _process_group(self, ready: list[_Decoded | _Step], now: datetime) -> None:
        steps: list[_Step] = []
        for item in ready:
            step = item if isinstance(item, _Step) else self._guarded(item.message, partial(self._prepare, item, now))
            if step is not None:
                steps.append(step)
                if step.batch is not None:
                    self._seqs.claim((step.batch.store, step.batch.gateway), step.batch.seq)
        try:
            results = self._store(steps, now)
        except BaseException:  # not stored: a redelivery must be processed, not dropped as a repeat
            for step in steps:
                if step.batch is not None:
                    self._seqs.release((step.batch.store, step.batch.gateway), step.batch.seq)
            raise
        for step in steps:
            if not isinstance(step.message, HandedOver):  # its row was deleted with the group's effects
                self.link.ack(step.message)
        for step, outgoing in zip(steps, results, strict=True):
            if step.after is not None and outgoing is not None:
                step.after(outgoing)

    @staticmethod
    def _guarded(message: InboundMessage, work: Callable[[], T]) -> T | None:
        """``work()`` on ``message``; None if it raised (a bug, not bad input: the message is left
        unacknowledged, and the group goes on without it)."""
        try:
            return work()
        except Exception:
            log.exception("ingest worker: unexpected error on %s", message.topic)
            return None

    def _prepare(self, item: _Decoded, now: datetime) -> _Step:
        """Drop repeats, run the rules: everything but the database writes."""
        message, body = item.message, item.body
        if isinstance(body, ReadRows):
            return self._reads(message, body, now)
        if isinstance(body, SensorsBatch):
            return self._sensors(message, body, now)
        if isinstance(body, Status):
            return self._status(message, body, now)
        if isinstance(body, Ack):
            return self._ack(message, body)
        return self._alarm(message, body)

    def _decode(self, message: InboundMessage, now: datetime) -> _Decoded | _Step:
        """Validate: the decoded message, or the step that stores it as a dead letter."""
        try:
            topic = parse_topic(message.topic)
            if not isinstance(topic, GatewayTopic):
                raise ContractError(f"topic {message.topic!r} is not a gateway topic")
            if topic.store != self.store:
                raise ContractError(f"store {topic.store!r} is not served by this ingest (store {self.store!r})")
            body: Body
            if topic.kind == "reads":
                body = decode_reads(message.payload)
            elif topic.kind == "sensors":
                body = decode(SensorsBatch, message.payload)
            elif topic.kind == "status":
                body = decode(Status, message.payload)
            elif topic.kind == "ack":
                body = decode(Ack, message.payload)
            elif topic.kind == "alarms":
                body = decode(GateAlarm, message.payload)
            else:
                raise ContractError(f"ingest does not consume {topic.kind!r} messages")
            topic.check_origin(body.store, body.gateway)
            return _Decoded(message, body)
        except ContractError as exc:
            reason = exc.reason
            self.stats.dead_letters += 1
            log.warning("dead letter on %s: %s", message.topic, reason)

            def dead_letter(conn: Connection) -> Outgoing:
                records.record_dead_letter(conn, message.topic, reason, message.payload, now)
                return Outgoing()

            return _Step(message, dead_letter)

    def _store(self, steps: list[_Step], now: datetime) -> list[Outgoing | None]:
        """Write the group in one transaction. If a constraint fails (a batch another ingest process stored
        a moment ago), write the messages one by one so that only that one is dropped (``None``)."""
        if not steps:
            return []
        try:
            return list(self._transact(partial(self._write, steps, now)))
        except IntegrityError:
            if len(steps) > 1:
                log.info("a constraint failed in a group of %d messages: storing them one by one", len(steps))
        results: list[Outgoing | None] = []
        for step in steps:
            try:
                results.extend(self._transact(partial(self._write, [step], now)))
            except IntegrityError:
                self.stats.duplicates += 1
                results.append(None)
                if isinstance(step.message, HandedOver):  # stored before: only its hand-over row is left
                    self._transact(partial(leases.take_handoff, ids=[step.message.handoff_id]))
        return results

    @staticmethod
    def _write(steps: list[_Step], now: datetime, conn: Connection) -> list[Outgoing]:
        outgoing = [Outgoing() if step.persist is None else step.persist(conn) for step in steps]
        records.record_batches(conn, [step.batch for step in steps if step.batch is not None], now)
        leases.take_handoff(conn, [step.message.handoff_id for step in steps if isinstance(step.message, HandedOver)])
        return outgoing

    def _is_repeat(self, store: str, gateway: str, seq: int) -> bool:
        """A repeated ``(gateway, seq)`` is counted and dropped; a jump in the sequence is counted as a gap."""
        verdict = self._seqs.check((store, gateway), seq)
        if verdict == "unknown":  # older than the book's window: only the database knows (retried like a
            # write while it is unavailable: a message that failed here would stay unacknowledged)
            seen = self._transact(lambda conn: records.seen_batch(conn, store, gateway, seq))
            verdict = "repeat" if seen else "new"
        if verdict == "repeat":
            self.stats.duplicates += 1
            log.info("batch %s/%s seq %d was processed before: dropped", store, gateway, seq)
            return True
        missing = self.gaps.observe(gateway, seq, time.monotonic())
        if missing:
            self.stats.gaps += 1
            log.warning("gateway %s/%s: seq jumped to %d (%d messages missing or late)", store, gateway, seq, missing)
        return False

    def _reads(self, message: InboundMessage, batch: ReadRows, now: datetime) -> _Step:
        """Resolve the batch and run it through the rules; store the decisions with the group."""
        if self._is_repeat(batch.store, batch.gateway, batch.seq):
            return _Step(message)
        assert self._engine is not None and self._resolver is not None
        resolution = self._resolver.resolve(batch)
        decisions: list[Decision] = list(resolution.alerts)
        observe = self._engine.observe
        for sighting in resolution.sightings:
            decisions.extend(observe(sighting))
        heard = self._engine.take_gate_reads()

        self.stats.batches += 1
        self.stats.reads += len(batch.reads)

        def after(outgoing: Outgoing) -> None:
            self.stats.decisions += len(decisions)
            self._send(outgoing)
            if self._tsdb is not None:
                self._tsdb.submit(reads_lines(batch, self._zone_types, now))

        def persist(conn: Connection) -> Outgoing:  # the rules' decisions, then the fast lane's gate (crm)
            gate_reads.record(conn, self.store, heard)
            outgoing = self._apply(conn, decisions, now)
            outgoing.extend(crm_actions.fast_lane(conn, self.store, resolution.sightings, self.crm_settings))
            return outgoing

        return _Step(message, persist, records.BatchKey(batch.store, batch.gateway, batch.seq, "reads"), after)

    def _sensors(self, message: InboundMessage, batch: SensorsBatch, now: datetime) -> _Step:
        """Run the samples through the sensor rules; store the latest values and the rules' decisions."""
        if self._is_repeat(batch.store, batch.gateway, batch.seq):
            return _Step(message)
        decisions: list[Decision] = []
        for sample in sorted(batch.samples, key=lambda s: s.at):
            decisions.extend(self._sensor_rules.observe(SensorReading(
                sample.sensor, sample.kind, sample.value, sample.at, sample.zone, batch.gateway, sample.unit)))

        def persist(conn: Connection) -> Outgoing:
            records.record_sensors(conn, batch)
            return self._apply(conn, decisions, now)

        def after(outgoing: Outgoing) -> None:
            self.stats.decisions += len(decisions)
            self._send(outgoing)
            if self._tsdb is not None:
                self._tsdb.submit(sensor_lines(batch))

        return _Step(message, persist, records.BatchKey(batch.store, batch.gateway, batch.seq, "sensors"), after)

    def _status(self, message: InboundMessage, status: Status, now: datetime) -> _Step:
        """Record the gateway's state; a gateway that owns an edge exit and came online gets its allow list."""

        def persist(conn: Connection) -> Outgoing:
            records.record_status(conn, status)
            if status.state == "online" and status.gateway in self.exit_gateways:
                return Outgoing(commands=edge.allow_snapshot(conn, self.store, status.gateway, now))
            return Outgoing()

        return _Step(message, persist, after=self._send)

    def _apply(self, conn: Connection, decisions: list[Decision], now: datetime) -> Outgoing:
        """Store the decisions; add the allow-list commands for the gateways that decide exit alarms."""
        outgoing = apply_decisions(conn, self.store, decisions)
        for d in decisions:
            if isinstance(d, ItemReturned):
                edge.item_returned(conn, d)
            elif isinstance(d, BasketChanged) and d.change == "removed":
                crm_store.record_put_back(conn, self.store, d)
            elif isinstance(d, VisitOpened):
                crm_store.retarget(conn, self.store, d.member, now, self.crm_settings)
        for member in sorted({d.member for d in decisions if isinstance(d, TransactionCommitted)}):
            crm_store.after_commit(conn, self.store, member, now, self.crm_settings, self._crm_context)
        outgoing.commands.extend(edge.allow_commands(conn, self.store, self.exit_gateways, decisions, now))
        return outgoing

    def _alarm(self, message: InboundMessage, alarm: GateAlarm) -> _Step:
        """A gateway sounded an exit alarm itself: store it as an edge ``theft`` alert, once per (gateway, seq)."""
        if self._is_repeat(alarm.store, alarm.gateway, alarm.seq):
            return _Step(message)

        def persist(conn: Connection) -> Outgoing:
            return Outgoing(events=[edge.record_gate_alarm(conn, self.store, alarm)])

        def after(outgoing: Outgoing) -> None:
            self.stats.extra["edge_alarms"] = self.stats.extra.get("edge_alarms", 0) + 1
            self._send(outgoing)

        return _Step(message, persist, records.BatchKey(alarm.store, alarm.gateway, alarm.seq, "alarms"), after)

    def _ack(self, message: InboundMessage, ack: Ack) -> _Step:
        """Store a command's ack once (an ack from the gateway's outbox carries a ``seq``); a failed ``resend``
        means the gateway no longer keeps what is still missing."""
        if ack.seq is not None and self._is_repeat(ack.store, ack.gateway, ack.seq):
            return _Step(message)
        refused: list[Command] = []

        def persist(conn: Connection) -> Outgoing:
            if not records.record_ack(conn, ack):
                log.warning("ack for unknown command %s from %s", ack.id, ack.gateway)
            request = None if ack.ok else delivery.resend_request(conn, ack.id)
            refused[:] = [] if request is None else [request]
            return Outgoing()

        def after(_: Outgoing) -> None:
            for request in refused:
                if request.from_seq is not None and request.to_seq is not None:
                    self.gaps.refused(ack.gateway, request.from_seq, request.to_seq)

        batch = None if ack.seq is None else records.BatchKey(ack.store, ack.gateway, ack.seq, "ack")
        return _Step(message, persist, batch, after)

    def _delivery_tick(self, now: datetime) -> None:
        """Ask gateways again for what never arrived, report what is lost, and send the unsent commands."""
        requests, lost = self.gaps.due(time.monotonic()), self.gaps.take_lost()
        if requests or lost:
            self._send(self._transact(lambda conn: delivery.gap_requests(conn, self.store, requests, lost, now)))
        if self._commands is not None:
            self._commands.tick(now)
            self.stats.extra.update({f"commands_{k}": v for k, v in dataclasses.asdict(self._commands.stats).items()})
        self.stats.extra.update({f"gaps_{k}": v for k, v in dataclasses.asdict(self.gaps.stats).items()})
        self.stats.extra.update({f"reorder_{k}": v for k, v in dataclasses.asdict(self.reorder.stats).items()})

    def _tick(self) -> None:
        assert self._engine is not None
        now = self.settings.clock()
        self._delivery_tick(now)
        reloaded: list[Decision] = []
        with self.db.connect() as conn:
            if config_version(conn, self.store) != self._config_version:
                log.info("catalog or layout changed: reloading")
                self.stats.reloads += 1
                reloaded = self._load(conn, now=now)
        self._send(self._transact(lambda conn: crm_actions.outbox(conn, self.store, now)))
        decisions: list[Decision] = [*reloaded, *self._engine.tick(now), *self._sensor_rules.tick(now)]
        if decisions:
            self.stats.decisions += len(decisions)
            self._send(self._transact(lambda conn: self._apply(conn, decisions, now)))
        if time.monotonic() >= self._crm_next:
            self._crm_next = time.monotonic() + self.settings.crm_every_s
            self.crm_tick(now)
        memory = self._engine.gate_memory
        if memory and time.monotonic() >= self._gate_prune_next:  # a store without gates stores no gate reads
            self._gate_prune_next = time.monotonic() + self.settings.gate_prune_s
            self._transact(lambda conn: gate_reads.prune(conn, self.store, now, memory))

    def crm_tick(self, now: datetime) -> None:
        """Expire offers past their window and give members whose period is due their personal list."""
        lists, self._crm_context = self._transact(lambda conn: crm_store.tick(conn, self.store, now,
                                                                                self.crm_settings, self._crm_context))
        if lists:
            self.stats.extra["personal_lists"] = self.stats.extra.get("personal_lists", 0) + lists

    def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one database transaction; retry (never give up while running) on DB errors.

        A constraint violation is not retried: it would fail again; the caller decides.
        """
        delay = 0.05
        while True:
            try:
                with self.db.begin() as conn:
                    self._fence(conn)
                    return work(conn)
            except IntegrityError:
                raise
            except SQLAlchemyError as exc:
                if self._stopping.is_set():
                    raise
                self.stats.db_retries += 1
                log.error("database write failed (retry in %.2f s): %s", delay, exc)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.settings.db_retry_max_s)

    def _fence(self, conn: Connection) -> None:
        """In a worker: raise :class:`~ingest.db.leases.LeaseLost` unless the worker still holds the store."""
        if self._parts is not None:
            self._parts.fence(conn)

    def _send(self, outgoing: Outgoing) -> None:
        if self._commands is not None:
            self._commands.send(outgoing.commands)
            self.stats.commands += len(outgoing.commands)
        for event in outgoing.events:
            self._publish(event_topic(event.store, event.type), encode(event))
            self.stats.events += 1

    def _publish(self, topic: str, payload: bytes) -> None:
        delivery = self.link.publish(topic, payload, qos=1)
        if delivery.done:
            try:
                delivery.wait(0)
            except Exception as exc:
                self.stats.publish_errors += 1
                log.warning("publish to %s failed: %s", topic, exc)

