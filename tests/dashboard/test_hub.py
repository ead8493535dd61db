"""The hub on the event loop, fed messages directly (no broker): decoding, fan-out, slow clients."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from contract import BusinessEvent, ReadsBatch, TagRead, encode
from contract.topics import event_topic, gateway_topic
from dashboard.hub import LiveEvent, LiveHub, TagCache
from dashboard.livestate import TagIdentity
from silentcommerce.mqtt import InboundMessage, MqttSettings

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def message(topic: str, payload: bytes) -> InboundMessage:
    return InboundMessage(topic=topic, payload=payload, qos=1, retain=False, mid=1)


def make_hub(lookups: list[list[str]], client_queue: int = 4) -> LiveHub:
    def resolver(tags: list[str]) -> dict[str, TagIdentity]:
        lookups.append(tags)
        return {t: TagIdentity(t, "member", "M-1", "Ada") for t in tags if t.startswith("UID:")}

    return LiveHub(MqttSettings(), resolver, client_queue=client_queue)


def test_reads_resolve_tags_once_and_fill_presence() -> None:
    async def scenario() -> None:
        lookups: list[list[str]] = []
        hub = make_hub(lookups)
        read = TagRead(reader="r", antenna=1, uid="0F003A6B5C", first_seen=NOW, last_seen=NOW, count=1,
                       event="seen", zone="lane-1")
        batch = ReadsBatch(store="s", gateway="gw1", seq=1, sent_at=NOW, reads=[read])
        for _ in range(3):
            await hub.handle(message(gateway_topic("s", "gw1", "reads"), encode(batch)), 100.0)
        assert lookups == [["UID:0F003A6B5C"]]  # cached after the first look-up
        lane = next(z for z in hub.state.presence() if z.zone == "lane-1")
        assert [m.name for m in lane.members] == ["Ada"]

    asyncio.run(scenario())


def test_events_fan_out_and_a_slow_client_is_dropped_not_waited_for() -> None:
    async def scenario() -> None:
        hub = make_hub([], client_queue=4)
        fast, slow = hub.subscribe(), hub.subscribe()
        received: list[LiveEvent] = []

        async def drain() -> None:
            async for event in fast.events():
                received.append(event)

        reader = asyncio.create_task(drain())
        for i in range(10):
            event = BusinessEvent(store="s", type="transaction", at=NOW, data={"id": f"T-{i}", "total": "1.00"})
            await hub.handle(message(event_topic("s", "transaction"), encode(event)), 100.0)
            await asyncio.sleep(0)  # the fast client reads as it goes; the slow one never does
        assert slow.dropped and not fast.dropped
        assert hub.client_count == 1 and hub.stats.clients_dropped == 1
        assert [e.data["id"] for e in received] == [f"T-{i}" for i in range(10)]
        assert received[0].kind == "transaction" and received[0].data["store"] == "s"
        fast.close()
        await reader

    asyncio.run(scenario())


def test_bad_payloads_are_counted_and_named_not_fatal() -> None:
    async def scenario() -> None:
        hub = make_hub([])
        await hub.handle(message(gateway_topic("s", "gw1", "reads"), b'{"schema": "sc.reads/1"}'), 1.0)
        await hub.handle(message(event_topic("s", "alert"), b"not json"), 1.0)
        assert hub.stats.rejected == 2
        assert hub.stats.last_rejection.startswith("sc/v1/s/events/alert")
        client = hub.subscribe()
        good = BusinessEvent(store="s", type="alert", at=NOW, data={"id": 1, "kind": "theft"})
        await hub.handle(message(event_topic("s", "alert"), encode(good)), 1.0)
        event = await anext(client.events())
        assert event.kind == "alert" and json.dumps(event.data)

    asyncio.run(scenario())


def test_tag_cache_expires_and_survives_a_failing_repository() -> None:
    async def scenario() -> None:
        calls: list[list[str]] = []

        def flaky(tags: list[str]) -> dict[str, TagIdentity]:
            calls.append(tags)
            if len(calls) == 1:
                raise RuntimeError("database is locked")
            return {t: TagIdentity(t, "item", "MILK", "Milk") for t in tags}

        cache = TagCache(flaky, ttl_s=10)
        first = await cache.resolve(["EPC:30AA"], 0.0)
        assert first["EPC:30AA"].kind == "unknown"
        assert (await cache.resolve(["EPC:30AA"], 5.0))["EPC:30AA"].kind == "unknown"  # cached
        assert (await cache.resolve(["EPC:30AA"], 11.0))["EPC:30AA"].name == "Milk"  # expired, looked up again
        assert len(calls) == 2

    asyncio.run(scenario())
