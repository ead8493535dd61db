"""The one seam to paho-mqtt. Everything else sees :class:`MqttLink` and :class:`InboundMessage`.

What this module takes care of, so callers need not:

* MQTT v5 with reason codes checked: a PUBACK whose reason code is a failure (0x87 not authorised,
  0x97 quota exceeded, ...) fails the :class:`Delivery` instead of counting as published;
* TLS when a CA file is given: the broker's certificate is verified against it (and its host name), and a
  client certificate is presented if one is configured;
* ``TCP_NODELAY`` on the socket (paho leaves Nagle on, which costs tens of milliseconds at p99.9);
* persistent sessions (``clean_start=False`` plus a session expiry) and re-subscription on reconnect;
* manual acknowledgement of incoming QoS 1 messages, so a consumer acknowledges after its commit;
* a message larger than the broker's Maximum Packet Size (sent in its CONNACK) is refused here with
  reason 0x95: sent, the broker would drop the connection, and the session would resend it forever;
* an exception in a callback is logged and counted, never allowed to kill paho's network thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

log = logging.getLogger(__name__)

PACKET_TOO_LARGE = 0x95


class MqttError(Exception):
    """Base of this module's errors."""


class PublishRefused(MqttError):
    """The broker answered the publish with a failure reason code."""

    def __init__(self, topic: str, reason: str, code: int) -> None:
        super().__init__(f"broker refused publish to {topic!r}: {reason} (0x{code:02X})")
        self.topic, self.reason, self.code = topic, reason, code


class PublishTimeout(MqttError):
    """No acknowledgement came in time (the message may still arrive: consumers are idempotent)."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = ""
    keepalive_s: int = 30
    session_expiry_s: int = 0
    """0 starts a clean session each time; above 0 the broker keeps the session (and queues QoS 1
    messages for it) for that many seconds after a disconnect."""
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    tls_ca_file: str | None = None
    """Speak TLS, trusting only brokers whose certificate this CA (PEM) signed; None: plain TCP."""
    tls_cert_file: str | None = None
    """A client certificate (PEM) for brokers that require one; with ``tls_key_file``."""
    tls_key_file: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class Delivery:
    """The outcome of one publish: done when the broker acknowledged it (QoS 1) or it was written (QoS 0)."""

    __slots__ = ("_done", "_error", "topic")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._done = threading.Event()
        self._error: MqttError | None = None

    def _finish(self, error: MqttError | None = None) -> None:
        self._error = error
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> None:
        """Block until acknowledged; raise :class:`PublishRefused` or :class:`PublishTimeout`."""
        if not self._done.wait(timeout):
            raise PublishTimeout(f"no PUBACK for {self.topic!r} within {timeout:.1f} s")
        if self._error is not None:
            raise self._error


@dataclass
class LinkStats:
    connects: int = 0
    disconnects: int = 0
    published: int = 0
    refused: int = 0
    received: int = 0
    callback_errors: int = 0
    subscribe_refused: int = 0
    extra: dict[str, int] = field(default_factory=dict)


MessageHandler = Callable[[InboundMessage], None]


class MqttLink:
    """One MQTT v5 client connection, kept up in paho's background thread."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        subscriptions: Iterable[tuple[str, int]] = (),
        on_message: MessageHandler | None = None,
        manual_ack: bool = False,
        will: Will | None = None,
        on_connected: Callable[[], None] | None = None,
        reconnect: bool = True,
    ) -> None:
        """``reconnect=False``: once the connection ends (or the first attempt fails) the link stays down, e.g.
        for a client that borrows another's session and must not take it back when the owner returns."""
        self.settings = settings
        self.stats = LinkStats()
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_connected = on_connected
        self._manual_ack = manual_ack
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[int, Delivery] = {}
        self._early: dict[int, MqttError | None] = {}
        self._max_packet: int | None = None
        """The broker's Maximum Packet Size from its CONNACK; None until connected or when it sets none."""
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=manual_ack,
            reconnect_on_failure=reconnect,
        )
        if settings.username is not None:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca_file is not None:
            self._client.tls_set(
                ca_certs=settings.tls_ca_file, certfile=settings.tls_cert_file, keyfile=settings.tls_key_file,
                cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if will is not None:
            self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self._client.reconnect_delay_set(
            min_delay=max(1, int(settings.reconnect_min_s)), max_delay=max(1, int(settings.reconnect_max_s))
        )
        self._client.max_queued_messages_set(0)
        self._client.on_socket_open = self._handle_socket_open
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._client.on_subscribe = self._handle_subscribe
        self._started = False

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; reconnects by itself with back-off until :meth:`stop`."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self.settings.session_expiry_s > 0:
            props.SessionExpiryInterval = self.settings.session_expiry_s
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=self.settings.session_expiry_s <= 0,
            properties=props,
        )
        self._client.loop_start()
        self._started = True

    def stop(self, *, final_publish: tuple[str, bytes] | None = None, timeout: float = 3.0,
             session_expiry_s: int | None = None) -> None:
        """Disconnect cleanly; ``final_publish`` (topic, payload) is sent retained first, e.g. ``offline``.
        ``session_expiry_s`` changes the session's expiry in the DISCONNECT (0: the broker ends the session
        now, and stops queueing messages for it)."""
        if not self._started:
            return
        if final_publish is not None and self._connected.is_set():
            try:
                self.publish(final_publish[0], final_publish[1], retain=True).wait(timeout)
            except MqttError as exc:
                log.warning("final publish failed: %s", exc)
        if session_expiry_s is None:
            self._client.disconnect()
        else:
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = session_expiry_s
            self._client.disconnect(properties=props)
        self._client.loop_stop()
        self._started = False
        with self._lock:
            for delivery in self._pending.values():
                delivery._finish(PublishTimeout("link stopped before acknowledgement"))
            self._pending.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- publishing -------------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> Delivery:
        """Queue one message; the returned :class:`Delivery` completes on PUBACK (QoS 1)."""
        delivery = Delivery(topic)
        size = publish_packet_size(topic, payload, qos)
        if self._max_packet is not None and size > self._max_packet:
            self.stats.refused += 1
            reason = f"a {size}-byte packet exceeds the broker's maximum packet size of {self._max_packet} bytes"
            delivery._finish(PublishRefused(topic, reason, PACKET_TOO_LARGE))
            return delivery
        # paho runs on_publish under its own message lock, so ours is never held across its publish().
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            delivery._finish(MqttError(f"publish to {topic!r} not queued: {paho.error_string(info.rc)}"))
            return delivery
        with self._lock:
            if info.mid in self._early:
                delivery._finish(self._early.pop(info.mid))
            else:
                self._pending[info.mid] = delivery
        return delivery

    # -- consuming --------------------------------------------------------------------------------

    def unsubscribe(self, filters: Iterable[str]) -> None:
        """Stop a subscription now and on every later reconnect."""
        dropped = set(filters)
        self._subscriptions = [(f, qos) for f, qos in self._subscriptions if f not in dropped]
        if dropped and self._connected.is_set():
            self._client.unsubscribe(sorted(dropped))

    def ack(self, message: InboundMessage) -> None:
        """Acknowledge an incoming message (only needed with ``manual_ack=True``)."""
        if self._manual_ack and message.qos > 0:
            self._client.ack(message.mid, message.qos)

    # -- paho callbacks (network thread) ----------------------------------------------------------

    def _handle_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(OSError, AttributeError):  # not a TCP socket (unix, websockets)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connect to %s:%s refused: %s", self.settings.host, self.settings.port, reason)
            return
        self.stats.connects += 1
        self._max_packet = getattr(properties, "MaximumPacketSize", None)
        for topic_filter, qos in self._subscriptions:
            client.subscribe(topic_filter, options=SubscribeOptions(qos=qos))
        self._connected.set()
        if self._on_connected is not None:
            self._guard(self._on_connected)

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._connected.clear()
        self.stats.disconnects += 1
        log.info("MQTT disconnected: %s", reason)

    def _handle_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        error: MqttError | None = None
        if reason.is_failure:
            self.stats.refused += 1
            error = PublishRefused("?", str(reason), reason.value)
        else:
            self.stats.published += 1
        with self._lock:
            delivery = self._pending.pop(mid, None)
            if delivery is None:
                self._early[mid] = error
                return
        if isinstance(error, PublishRefused):
            error = PublishRefused(delivery.topic, error.reason, error.code)
        delivery._finish(error)

    def _handle_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Any
    ) -> None:
        for reason in reasons:
            if reason.is_failure:
                self.stats.subscribe_refused += 1
                log.error("MQTT subscription refused: %s", reason)

    def _handle_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.stats.received += 1
        if self._on_message is None:
            return
        message = InboundMessage(
            topic=msg.topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            retain=bool(msg.retain),
            mid=msg.mid,
            duplicate=bool(msg.dup),
        )
        handler = self._on_message
        self._guard(lambda: handler(message))

    def _guard(self, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:  # a callback must never kill paho's network loop
            self.stats.callback_errors += 1
            log.exception("error in MQTT callback")


def publish_packet_size(topic: str, payload: bytes, qos: int) -> int:
    """Bytes of the MQTT v5 PUBLISH packet for ``payload`` on ``topic`` (no properties)."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + 1 + len(payload)
    length_bytes = next((n for n, bound in enumerate((128, 16_384, 2_097_152), 1) if remaining < bound), 4)
    return 1 + length_bytes + remaining
