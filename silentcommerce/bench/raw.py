"""The raw baseline: what the broker and paho alone move, the ceiling the pipeline is compared with.

One publisher and one subscriber, both plain :class:`~silentcommerce.mqtt.MqttLink` connections (the one
paho seam; no outbox, no validation, no database), move the very bytes of a real ``ReadsBatch`` of N reads
through the same broker configuration at QoS 1. The publisher keeps at most ``WINDOW`` messages waiting for
their PUBACK; the rate is counted at the subscriber, from the first publish to the last message received.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from silentcommerce.bench.rig import BenchRig, wait_until
from silentcommerce.bench.workload import ShelfTraffic, stock
from silentcommerce.broker import BENCH_USER
from silentcommerce.mqtt import Delivery, MqttLink

TOPIC = "bench/raw"
WINDOW = 1000
ACK_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class RawResult:
    reads_per_message: int
    payload_bytes: int
    messages: int
    received: int
    seconds: float

    @property
    def messages_per_s(self) -> float:
        return self.received / self.seconds if self.seconds > 0 else 0.0

    @property
    def reads_per_s(self) -> float:
        return self.messages_per_s * self.reads_per_message


def measure_raw(rig: BenchRig, reads_per_message: int, duration_s: float) -> RawResult:
    traffic = ShelfTraffic("gw1", stock(2000))
    payload = traffic.payload(1, traffic.reads(reads_per_message))
    subscriber = MqttLink(rig.mqtt(BENCH_USER, f"bench-raw-sub-{reads_per_message}"), subscriptions=[(TOPIC, 1)])
    publisher = MqttLink(rig.mqtt(BENCH_USER, f"bench-raw-pub-{reads_per_message}"))
    subscriber.start()
    publisher.start()
    try:
        wait_until(lambda: subscriber.connected and publisher.connected, 10, "the raw clients to connect")
        time.sleep(0.2)  # the SUBACK
        start = time.monotonic()
        sent = _publish_for(publisher, payload, duration_s)
        wait_until(lambda: subscriber.stats.received >= sent, 120, f"{sent} raw messages at the subscriber",
                   interval=0.002)
        seconds = time.monotonic() - start
        return RawResult(reads_per_message, len(payload), sent, subscriber.stats.received, seconds)
    finally:
        publisher.stop()
        subscriber.stop()


def _publish_for(publisher: MqttLink, payload: bytes, duration_s: float) -> int:
    """Publish flat out for ``duration_s`` with at most ``WINDOW`` unacknowledged; return how many."""
    waiting: deque[Delivery] = deque()
    sent = 0
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        if len(waiting) >= WINDOW:
            waiting.popleft().wait(ACK_TIMEOUT_S)
        waiting.append(publisher.publish(TOPIC, payload, qos=1))
        sent += 1
    while waiting:
        waiting.popleft().wait(ACK_TIMEOUT_S)
    return sent
