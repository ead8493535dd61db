"""MQTT topics of the wire contract, built by functions and parsed by one regex.

``sc/v1/{store}/{gateway}/{kind}`` for gateway traffic and ``sc/v1/{store}/events/{type}`` for the
business events ingest publishes. ``events`` is therefore not a valid gateway name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from contract.errors import ContractError, TopicError

PREFIX: Final = "sc/v1"
GatewayKind = Literal["reads", "sensors", "status", "cmd", "ack", "alarms"]
EventType = Literal["transaction", "alert", "inventory", "visit", "basket", "offer", "dispute"]
GATEWAY_KINDS: Final[tuple[str, ...]] = get_args(GatewayKind)
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)
RESERVED_GATEWAY_NAMES: Final = frozenset({"events"})

NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_NAME_RE: Final = re.compile(rf"^{NAME_PATTERN}$")
_TOPIC_RE: Final = re.compile(
    rf"^{re.escape(PREFIX)}/(?P<store>{NAME_PATTERN})/(?P<middle>{NAME_PATTERN})/(?P<last>[a-z]+)$"
)


@dataclass(frozen=True, slots=True)
class GatewayTopic:
    store: str
    gateway: str
    kind: GatewayKind

    def check_origin(self, store: str, gateway: str) -> None:
        """Refuse a payload that names another store or gateway than its topic: the broker's ACL lets a
        gateway publish on its own topics only, so the topic is the origin to trust."""
        if (store, gateway) != (self.store, self.gateway):
            raise ContractError(
                f"payload names store {store!r} gateway {gateway!r} but came on the topic of "
                f"store {self.store!r} gateway {self.gateway!r}"
            )


@dataclass(frozen=True, slots=True)
class EventTopic:
    store: str
    type: EventType


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it can stand as one topic level, else raise :class:`TopicError`."""
    if not _NAME_RE.match(name):
        raise TopicError(
            f"{what} {name!r} is not valid: expected 1-64 characters of letters, digits, '-' or '_'"
        )
    return name


def gateway_topic(store: str, gateway: str, kind: GatewayKind) -> str:
    check_name(store, "store")
    check_name(gateway, "gateway")
    if gateway in RESERVED_GATEWAY_NAMES:
        raise TopicError(f"gateway name {gateway!r} is reserved")
    if kind not in GATEWAY_KINDS:
        raise TopicError(f"unknown gateway topic kind {kind!r}")
    return f"{PREFIX}/{store}/{gateway}/{kind}"


def event_topic(store: str, event_type: EventType) -> str:
    check_name(store, "store")
    if event_type not in EVENT_TYPES:
        raise TopicError(f"unknown event type {event_type!r}")
    return f"{PREFIX}/{store}/events/{event_type}"


def gateway_filter(kind: GatewayKind, store: str = "+", gateway: str = "+") -> str:
    """A subscription filter for one kind of gateway topic (``+`` matches every store or gateway)."""
    return f"{PREFIX}/{store}/{gateway}/{kind}"


def event_filter(store: str = "+") -> str:
    return f"{PREFIX}/{store}/events/+"


WORKER_STATE_FILTER: Final = f"{PREFIX}/ingest/workers/+/state"
"""Every ingest worker's state (retained): four levels under ``sc/v1``, so never a gateway or event topic."""
_WORKER_STATE_RE: Final = re.compile(rf"^{re.escape(PREFIX)}/ingest/workers/(?P<worker>{NAME_PATTERN})/state$")


def worker_state_topic(worker: str) -> str:
    """Where ingest worker ``worker`` says ``online`` (retained) and its Last Will says ``offline``."""
    return f"{PREFIX}/ingest/workers/{check_name(worker, 'worker')}/state"


def worker_of_state_topic(topic: str) -> str | None:
    """The worker a worker-state topic is about; None for any other topic."""
    match = _WORKER_STATE_RE.match(topic)
    return match["worker"] if match else None


def shared(group: str, topic_filter: str) -> str:
    """An MQTT v5 shared-subscription filter: workers in ``group`` share the messages of the filter."""
    check_name(group, "share group")
    return f"$share/{group}/{topic_filter}"


def parse_topic(topic: str) -> GatewayTopic | EventTopic:
    """Parse one contract topic; anything else raises :class:`TopicError`."""
    match = _TOPIC_RE.match(topic)
    if match is None:
        raise TopicError(f"topic {topic!r} is not a sc/v1 topic")
    store, middle, last = match["store"], match["middle"], match["last"]
    if middle == "events":
        if last not in EVENT_TYPES:
            raise TopicError(f"topic {topic!r}: unknown event type {last!r}")
        return EventTopic(store, last)  # type: ignore[arg-type]
    if last not in GATEWAY_KINDS:
        raise TopicError(f"topic {topic!r}: unknown kind {last!r}")
    return GatewayTopic(store, middle, last)  # type: ignore[arg-type]
