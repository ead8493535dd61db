"""The live hub: follows the broker, keeps :class:`LiveState`, and fans events out to live-feed clients.

Threads: paho's network thread only hands each message to the event loop
(``loop.call_soon_threadsafe``); decoding, tag resolution and fan-out run on the loop. Each client has a
bounded queue; a client that falls behind is dropped so it never holds up the hub or other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from contract import BusinessEvent, ContractError, ReadsBatch, SensorsBatch, Status, decode
from contract.topics import EventTopic, event_filter, gateway_filter, parse_topic
from dashboard.livestate import GatewayState, LiveState, SensorValue, TagIdentity, ZoneRead
from dashboard.schemas import TickOut
from silentcommerce.mqtt import InboundMessage, MqttLink, MqttSettings

log = logging.getLogger(__name__)

TagResolver = Callable[[list[str]], dict[str, TagIdentity]]
"""Blocking look-up of tags in the repository (run in a worker thread)."""

INBOX_LIMIT = 10_000
CACHE_TTL_S = 30.0
CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One message of the live feed: ``kind`` is the SSE event name, ``data`` its JSON body."""

    kind: str
    data: dict[str, Any]


@dataclass
class HubStats:
    received: int = 0
    rejected: int = 0
    inbox_dropped: int = 0
    clients_dropped: int = 0
    last_rejection: str = ""
    by_kind: dict[str, int] = field(default_factory=dict)


class LiveClient:
    """One live-feed subscriber; iterate it for events until it is closed or dropped."""

    def __init__(self, limit: int) -> None:
        self._queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(maxsize=limit)
        self.dropped = False

    def offer(self, event: LiveEvent) -> bool:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def close(self) -> None:
        # make room for the end marker so a full client still ends promptly
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def events(self) -> AsyncIterator[LiveEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event


class TagCache:
    """A small time-limited cache in front of the repository's tag look-up."""

    def __init__(self, resolver: TagResolver, ttl_s: float = CACHE_TTL_S, limit: int = CACHE_LIMIT) -> None:
        self._resolver = resolver
        self._ttl_s = ttl_s
        self._limit = limit
        self._entries: dict[str, tuple[float, TagIdentity]] = {}

    def cached(self, tags: Iterable[str], now: float) -> tuple[dict[str, TagIdentity], list[str]]:
        found: dict[str, TagIdentity] = {}
        missing: list[str] = []
        for tag in dict.fromkeys(tags):
            entry = self._entries.get(tag)
            if entry is not None and now - entry[0] < self._ttl_s:
                found[tag] = entry[1]
            else:
                missing.append(tag)
        return found, missing

    async def resolve(self, tags: Iterable[str], now: float) -> dict[str, TagIdentity]:
        found, missing = self.cached(tags, now)
        if missing:
            try:
                fresh = await asyncio.to_thread(self._resolver, missing)
            except Exception:  # the database may be busy or migrating: show the tag unresolved
                log.exception("tag look-up failed for %d tags", len(missing))
                fresh = {}
            if len(self._entries) + len(missing) > self._limit:
                self._entries.clear()
            for tag in missing:
                identity = fresh.get(tag, TagIdentity(tag))
                self._entries[tag] = (now, identity)
                found[tag] = identity
        return found

    def forget(self, tag: str | None = None) -> None:
        if tag is None:
            self._entries.clear()
        else:
            self._entries.pop(tag, None)


class LiveHub:
    """Owns the dashboard's MQTT link, the live state, and the live-feed clients."""

    def __init__(
        self,
        mqtt: MqttSettings,
        resolver: TagResolver,
        *,
        store: str | None = None,
        presence_ttl_s: float = 5.0,
        tick_s: float = 1.0,
        client_queue: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = LiveState(presence_ttl_s)
        self.stats = HubStats()
        self.tags = TagCache(resolver)
        self._mqtt_settings = mqtt
        self._store = store or "+"
        self._tick_s = tick_s
        self._client_queue = client_queue
        self._clock = clock
        self._clients: set[LiveClient] = set()
        self._inbox: asyncio.Queue[InboundMessage] = asyncio.Queue(maxsize=INBOX_LIMIT)
        self._link: MqttLink | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def subscriptions(self) -> list[tuple[str, int]]:
        return [
            (event_filter(self._store), 1),
            (gateway_filter("reads", self._store), 1),
            (gateway_filter("sensors", self._store), 1),
            (gateway_filter("status", self._store), 1),
        ]

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.connected

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def from_network_thread(message: InboundMessage) -> None:
            loop.call_soon_threadsafe(self._enqueue, message)

        self._link = MqttLink(self._mqtt_settings, subscriptions=self.subscriptions, on_message=from_network_thread)
        self._link.start()
        self._tasks = [asyncio.create_task(self._consume()), asyncio.create_task(self._tick())]

    async def stop(self) -> None:
        for client in list(self._clients):
            client.close()
        self._clients.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._link is not None:
            await asyncio.to_thread(self._link.stop)
            self._link = None

    # -- clients ----------------------------------------------------------------------------------

    def subscribe(self) -> LiveClient:
        client = LiveClient(self._client_queue)
        self._clients.add(client)
        return client

    def unsubscribe(self, client: LiveClient) -> None:
        self._clients.discard(client)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def broadcast(self, event: LiveEvent) -> None:
        for client in list(self._clients):
            if not client.offer(event):
                self._clients.discard(client)
                client.dropped = True
                client.close()
                self.stats.clients_dropped += 1
                log.warning("live-feed client dropped: %d events behind", self._client_queue)

    # -- the loop side ----------------------------------------------------------------------------

    def _enqueue(self, message: InboundMessage) -> None:
        try:
            self._inbox.put_nowait(message)
        except asyncio.QueueFull:
            self.stats.inbox_dropped += 1

    async def _consume(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await self.handle(message, self._clock())
            except Exception:  # one bad message must not end the live feed
                log.exception("live hub failed on a message on %s", message.topic)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            now = self._clock()
            self.state.expire(now)
            if self._clients:
                self.broadcast(LiveEvent("tick", TickOut.of(self.state.tick(now)).model_dump(mode="json")))

    async def handle(self, message: InboundMessage, now: float) -> None:
        """Apply one broker message to the live state and fan it out."""
        self.stats.received += 1
        try:
            topic = parse_topic(message.topic)
            if isinstance(topic, EventTopic):
                event = decode(BusinessEvent, message.payload)
                self._count(event.type)
                if event.type in ("transaction", "alert"):
                    self.tags.forget()  # items were sold, bindings may have changed: look tags up again
                self.broadcast(LiveEvent(event.type, {"store": event.store, "at": event.at.isoformat(), **event.data}))
            elif topic.kind == "reads":
                batch = decode(ReadsBatch, message.payload)
                topic.check_origin(batch.store, batch.gateway)
                self._count("reads")
                reads = [
                    ZoneRead(r.tag, r.zone, r.event, batch.gateway, r.reader, r.rssi)
                    for r in batch.reads
                    if r.zone is not None
                ]
                identities = await self.tags.resolve((r.tag for r in reads if r.event == "seen"), now)
                self.state.apply_reads(reads, identities, now)
            elif topic.kind == "sensors":
                sensors = decode(SensorsBatch, message.payload)
                topic.check_origin(sensors.store, sensors.gateway)
                self._count("sensors")
                for s in sensors.samples:
                    self.state.apply_sensor(
                        SensorValue(s.sensor, s.kind, s.value, s.unit, s.zone, sensors.gateway, s.at)
                    )
            elif topic.kind == "status":
                if not message.payload:
                    return  # a cleared retained status
                status = decode(Status, message.payload)
                topic.check_origin(status.store, status.gateway)
                self._count("status")
                state = GatewayState(
                    status.store, status.gateway, status.state, status.at, status.version,
                    tuple(d.name for d in status.devices),
                )
                self.state.apply_status(state)
                self.broadcast(LiveEvent("status", {
                    "store": state.store, "gateway": state.gateway, "state": state.state,
                    "at": state.at.isoformat(), "version": state.version,
                }))
        except ContractError as exc:
            self.stats.rejected += 1
            self.stats.last_rejection = f"{message.topic}: {exc.reason}"
            log.warning("live hub rejected a message on %s: %s", message.topic, exc.reason)

    def _count(self, kind: str) -> None:
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
