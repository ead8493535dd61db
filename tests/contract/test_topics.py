from __future__ import annotations

import pytest

from contract.errors import TopicError
from contract.topics import (
    WORKER_STATE_FILTER,
    EventTopic,
    GatewayTopic,
    event_filter,
    event_topic,
    gateway_filter,
    gateway_topic,
    parse_topic,
    shared,
    worker_of_state_topic,
    worker_state_topic,
)


def test_gateway_topics_build_and_parse() -> None:
    topic = gateway_topic("demo", "gw1", "reads")
    assert topic == "sc/v1/demo/gw1/reads"
    assert parse_topic(topic) == GatewayTopic("demo", "gw1", "reads")


def test_event_topics_build_and_parse() -> None:
    topic = event_topic("demo", "transaction")
    assert topic == "sc/v1/demo/events/transaction"
    assert parse_topic(topic) == EventTopic("demo", "transaction")


@pytest.mark.parametrize("worker", ["w1", "reads", "events"])
def test_a_workers_state_topic_is_never_a_gateway_or_event_topic(worker: str) -> None:
    topic = worker_state_topic(worker)
    assert topic == f"sc/v1/ingest/workers/{worker}/state"
    assert worker_of_state_topic(topic) == worker
    assert WORKER_STATE_FILTER == "sc/v1/ingest/workers/+/state"
    with pytest.raises(TopicError):
        parse_topic(topic)
    assert worker_of_state_topic(gateway_topic("ingest", "workers", "reads")) is None
    with pytest.raises(TopicError):
        worker_state_topic("w/1")


def test_filters() -> None:
    assert gateway_filter("reads") == "sc/v1/+/+/reads"
    assert event_filter("demo") == "sc/v1/demo/events/+"
    assert shared("ingest", gateway_filter("reads")) == "$share/ingest/sc/v1/+/+/reads"


@pytest.mark.parametrize(
    "topic",
    ["sc/v2/demo/gw1/reads", "sc/v1/demo/gw1/unknown", "sc/v1/demo/gw1", "sc/v1/de mo/gw1/reads",
     "sc/v1/demo/events/reads", "sc/v1/demo/gw1/reads/extra", ""],
)
def test_foreign_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)


@pytest.mark.parametrize(("store", "gateway"), [("demo", "events"), ("de/mo", "gw1"), ("demo", "+"), ("", "gw")])
def test_names_that_cannot_stand_in_a_topic_are_refused(store: str, gateway: str) -> None:
    with pytest.raises(TopicError):
        gateway_topic(store, gateway, "reads")
